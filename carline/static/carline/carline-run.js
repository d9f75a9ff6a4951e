// Classroom dismissal view: highlight new calls and, when switched on, play a short chime.
//
// <button data-chime-toggle> switches the chime on and off (remembered on this device).
// The live region [data-chime-region] lists calls as [data-call-id]; after each refresh a
// call id not seen before is new. The chime is made with the Web Audio API (two short
// sine tones), so there is no audio file; browsers only allow sound after a tap, which the
// toggle button is.
(function () {
  "use strict";

  var STORE = "passline.carline.chime";
  var audio = null;
  var seen = null;

  function stored() {
    try {
      return window.localStorage.getItem(STORE) === "on";
    } catch (e) {
      return false;
    }
  }

  function remember(on) {
    try {
      window.localStorage.setItem(STORE, on ? "on" : "off");
    } catch (e) {
      // not kept across reloads, still works on this page
    }
  }

  var enabled = stored();

  function context() {
    var Audio = window.AudioContext || window.webkitAudioContext;
    if (!audio && Audio) {
      audio = new Audio();
    }
    if (audio && audio.state === "suspended") {
      audio.resume();
    }
    return audio;
  }

  function tone(ctx, frequency, start, length) {
    var osc = ctx.createOscillator();
    var gain = ctx.createGain();
    osc.type = "sine";
    osc.frequency.value = frequency;
    gain.gain.setValueAtTime(0.0001, start);
    gain.gain.exponentialRampToValueAtTime(0.3, start + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + length);
    osc.connect(gain);
    gain.connect(ctx.destination);
    osc.start(start);
    osc.stop(start + length + 0.05);
  }

  function chime() {
    var ctx = context();
    if (!ctx) {
      return;
    }
    var now = ctx.currentTime;
    tone(ctx, 880, now, 0.25);
    tone(ctx, 1318.5, now + 0.22, 0.4);
  }

  function showToggle() {
    document.querySelectorAll("[data-chime-toggle]").forEach(function (button) {
      button.setAttribute("aria-pressed", enabled ? "true" : "false");
      button.textContent = window.passlineText(enabled ? "chime.on" : "chime.off");
    });
  }

  function callRows() {
    var region = document.querySelector("[data-chime-region]");
    if (!region) {
      return null;
    }
    return Array.prototype.map.call(region.querySelectorAll("[data-call-id]"), function (el) {
      return el;
    });
  }

  function check() {
    var rows = callRows();
    if (rows === null) {
      return;
    }
    var current = {};
    var fresh = false;
    rows.forEach(function (row) {
      var id = row.getAttribute("data-call-id");
      current[id] = true;
      if (seen !== null && !seen[id]) {
        fresh = true;
        row.classList.add("classroom-call-new");
      }
    });
    if (fresh && enabled) {
      chime();
    }
    seen = current;
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-chime-toggle]");
    if (!button) {
      if (enabled) {
        context(); // any tap lets a page reloaded with the chime on make sound again
      }
      return;
    }
    enabled = !enabled;
    remember(enabled);
    showToggle();
    if (enabled) {
      chime(); // so the teacher hears what it sounds like (and the browser allows it)
    }
  });

  document.addEventListener("htmx:afterSettle", check);
  document.addEventListener("DOMContentLoaded", function () {
    showToggle();
    check();
  });
})();

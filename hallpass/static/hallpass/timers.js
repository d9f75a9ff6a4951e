// Running timers: <span class="timer" data-started="ISO time" data-limit-minutes="N">
// shows minutes:seconds since the start, and says "⚠ overdue" (in red, in the page's
// language: passlineText) past its limit.
(function () {
  "use strict";
  function overdueText() {
    return window.passlineText ? window.passlineText("timer.overdue") : "\u26a0 overdue";
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll(".timer[data-started]").forEach(function (el) {
      var seconds = Math.max(0, Math.floor((now - Date.parse(el.dataset.started)) / 1000));
      var limit = Number(el.dataset.limitMinutes || 0) * 60;
      var overdue = limit > 0 && seconds > limit;
      // Said in words (and a sign), not by the red colour alone.
      el.textContent = Math.floor(seconds / 60) + ":" + String(seconds % 60).padStart(2, "0") +
        (overdue ? " " + overdueText() : "");
      el.classList.toggle("overdue", overdue);
    });
  }
  document.addEventListener("DOMContentLoaded", tick);
  document.addEventListener("htmx:afterSwap", tick);
  setInterval(tick, 1000);
})();

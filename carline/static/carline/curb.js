// The curb screen: tag numbers from the keypad, a USB scanner or the camera, sent so that
// flaky Wi-Fi neither loses nor doubles a car.
//
// <form data-curb> with an input name="entry": every entry goes into the shared on-device
// outbox (shared/static/js/outbox.js), which gives it its own idempotency key, keeps it in
// localStorage and sends the entries in order; one that gets no answer (timeout, network
// error, 5xx, signed out) stays and is sent again with the same key, so the server answers
// a retry with its first answer and never queues the car twice. This script is the curb's
// part: the keypad, the answers shown, and a clear banner when the phone is offline or an
// entry did not get through.
(function () {
  "use strict";

  var STORE = "passline.curb.outbox";
  var ANSWERS_SHOWN = 3;
  var TAG_DIGITS = 7;

  var form = document.querySelector("form[data-curb]");
  if (!form) {
    return;
  }
  var input = form.querySelector("[name=entry]");
  var answers = document.getElementById("curb-answer");
  var banner = document.getElementById("curb-banner");
  var outboxBox = document.getElementById("curb-outbox");
  var outboxList = document.getElementById("curb-outbox-list");

  var kept = [];
  var state = {offline: !navigator.onLine, sending: false, problem: "", retryAt: 0};

  // Entries kept by this screen before it used the shared outbox ({key, entry, at, tries}):
  // given the outbox's shape, so a phone that was offline across an upgrade sends them.
  (function adoptOlderEntries() {
    try {
      var items = JSON.parse(window.localStorage.getItem(STORE) || "[]");
      if (!Array.isArray(items) || !items.some(function (i) { return i && i.entry && !i.url; })) {
        return;
      }
      window.localStorage.setItem(STORE, JSON.stringify(items.map(function (i) {
        return i && i.entry && !i.url ? {key: i.key, url: form.action, fields: {entry: i.entry},
          label: "", at: i.at, tries: i.tries || 0} : i;
      })));
    } catch (e) {
      // Nothing readable was kept.
    }
  })();

  function label(entry) {
    return /^[0-9]+$/.test(entry) ? window.passlineText("curb.tag", {number: entry}) : window.passlineText("curb.scanned");
  }

  function csrfToken() {
    var field = form.querySelector("[name=csrf_token]");
    return field ? field.value : "";
  }

  function clock(ms) {
    return window.passlineClock(ms, true);
  }

  function render() {
    outboxBox.hidden = kept.length === 0;
    outboxList.textContent = "";
    kept.forEach(function (item, index) {
      var li = document.createElement("li");
      var said = index === 0 && state.sending ? window.passlineText("curb.sending") : item.tries ? window.passlineText("curb.not_through", {tries: item.tries}) : window.passlineText("curb.waiting");
      li.textContent = window.passlineText("curb.outbox_item", {tag: label(item.fields.entry), time: clock(item.at), state: said});
      outboxList.appendChild(li);
    });
    var text = "";
    var kind = "";
    if (state.offline) {
      kind = "offline";
      text = window.passlineText("curb.offline", {count: kept.length});
    } else if (state.problem && kept.length) {
      kind = "failed";
      var wait = Math.max(0, Math.round((state.retryAt - Date.now()) / 1000));
      text = window.passlineText("curb.failed", {tag: label(kept[0].fields.entry), problem: state.problem}) + " " +
        (wait ? window.passlineText("curb.retry_in", {seconds: wait}) : window.passlineText("curb.retry_now")) +
        " " + window.passlineText("curb.kept", {count: kept.length});
    }
    banner.hidden = !text;
    banner.textContent = text;
    banner.className = "curb-banner" + (kind ? " curb-banner-" + kind : "");
  }

  function showAnswer(item, status, html) {
    var box = document.createElement("div");
    box.className = "curb-answer-box";
    if (status >= 200 && status < 300) {
      box.innerHTML = html; // our own server's escaped partial
    } else {
      var article = document.createElement("article");
      article.className = "curb-answer curb-answer-error";
      var head = document.createElement("div");
      head.className = "curb-answer-head";
      var tag = document.createElement("span");
      tag.className = "curb-answer-tag";
      tag.textContent = label(item.fields.entry);
      head.appendChild(tag);
      article.appendChild(head);
      var message = document.createElement("div");
      message.innerHTML = html; // the server's error partial (escaped message)
      article.appendChild(message);
      box.appendChild(article);
    }
    if (Date.now() - item.at > 15000) {
      var late = document.createElement("p");
      late.className = "curb-late-note";
      late.textContent = window.passlineText("curb.late", {time: clock(item.at)});
      box.appendChild(late);
    }
    answers.insertBefore(box, answers.firstChild);
    if (window.htmx) {
      window.htmx.process(box); // the answer's own "Loaded" button
    }
    var boxes = answers.querySelectorAll(".curb-answer-box");
    for (var i = 0; i < boxes.length; i++) {
      boxes[i].classList.toggle("curb-answer-old", i > 0);
      if (i >= ANSWERS_SHOWN) {
        boxes[i].remove();
      }
    }
    if (navigator.vibrate) {
      navigator.vibrate(status < 300 ? 30 : [60, 60, 60]);
    }
  }

  function refreshList() {
    var list = document.getElementById("curb-list");
    if (list && window.htmx) {
      window.htmx.trigger(list, "live:refresh");
    }
  }

  var outbox = window.PasslineOutbox({
    store: STORE,
    csrf: csrfToken,
    messages: "curb.why_",
    headers: {"HX-Request": "true"}, // the answer comes back as the curb's partial
    onAnswer: function (item, status, html) {
      showAnswer(item, status, html);
      refreshList();
    },
    onChange: function (items, now) {
      kept = items;
      state = now;
      render();
    }
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var value = (input.value || "").trim();
    if (!value) {
      input.focus();
      return;
    }
    input.value = "";
    outbox.push(form.action, {entry: value.slice(0, 100)}, "");
  });

  form.addEventListener("click", function (event) {
    var key = event.target.closest && event.target.closest("[data-key]");
    if (!key) {
      return;
    }
    var what = key.getAttribute("data-key");
    var value = /^[0-9]*$/.test(input.value) ? input.value : "";
    if (what === "clear") {
      value = "";
    } else if (what === "back") {
      value = value.slice(0, -1);
    } else if (value.length < TAG_DIGITS) {
      value = (value === "0" ? "" : value) + what;
    }
    input.value = value;
  });

  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("[data-curb-retry]")) {
      outbox.retryNow();
    }
  });

  setInterval(function () {
    if (state.problem) {
      render(); // the retry countdown
    }
  }, 1000);

  outbox.pump(); // entries kept from before a reload or a crash
})();

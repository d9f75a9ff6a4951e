// The curb screen: tag numbers from the keypad, a USB scanner or the camera, sent so that
// flaky Wi-Fi neither loses nor doubles a car.
//
// <form data-curb> with an input name="entry": every entry gets its own idempotency key
// (crypto.randomUUID) and goes into an outbox kept in localStorage. The outbox is sent in
// order, one entry at a time; an entry that gets no answer (timeout, network error, 5xx,
// signed out) stays and is sent again with the same key, so the server answers a retry
// with its first answer and never queues the car twice. A clear banner says when the
// phone is offline and when an entry did not get through.
(function () {
  "use strict";

  var STORE = "passline.curb.outbox";
  var TIMEOUT_MS = 8000;
  var MAX_DELAY_MS = 30000;
  var ANSWERS_SHOWN = 3;
  var TAG_DIGITS = 7;
  //: Statuses after which the same request is sent again (no definitive answer yet).
  var RETRY = [401, 408, 425, 429];

  var form = document.querySelector("form[data-curb]");
  if (!form) {
    return;
  }
  var input = form.querySelector("[name=entry]");
  var answers = document.getElementById("curb-answer");
  var banner = document.getElementById("curb-banner");
  var outboxBox = document.getElementById("curb-outbox");
  var outboxList = document.getElementById("curb-outbox-list");

  var outbox = load();
  var sending = false;
  var failures = 0;
  var retryTimer = null;
  var retryAt = 0;
  var problem = "";

  function newKey() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID();
    }
    // Not a secure context (plain http on the school network): a v4 UUID by hand.
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(bytes, function (b) {
      return (b + 0x100).toString(16).slice(1);
    }).join("");
    return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)].join("-");
  }

  function load() {
    try {
      var items = JSON.parse(window.localStorage.getItem(STORE) || "[]");
      return Array.isArray(items) ? items.filter(function (i) { return i && i.key && i.entry; }) : [];
    } catch (e) {
      return [];
    }
  }

  function save() {
    try {
      window.localStorage.setItem(STORE, JSON.stringify(outbox));
    } catch (e) {
      // Private browsing or a full store: the outbox still lives in this page.
    }
  }

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
    outboxBox.hidden = outbox.length === 0;
    outboxList.textContent = "";
    outbox.forEach(function (item, index) {
      var li = document.createElement("li");
      var state = index === 0 && sending ? window.passlineText("curb.sending") : item.tries ? window.passlineText("curb.not_through", {tries: item.tries}) : window.passlineText("curb.waiting");
      li.textContent = window.passlineText("curb.outbox_item", {tag: label(item.entry), time: clock(item.at), state: state});
      outboxList.appendChild(li);
    });
    var text = "";
    var kind = "";
    if (!navigator.onLine) {
      kind = "offline";
      text = window.passlineText("curb.offline", {count: outbox.length});
    } else if (problem && outbox.length) {
      kind = "failed";
      var wait = Math.max(0, Math.round((retryAt - Date.now()) / 1000));
      text = window.passlineText("curb.failed", {tag: label(outbox[0].entry), problem: problem}) + " " +
        (wait ? window.passlineText("curb.retry_in", {seconds: wait}) : window.passlineText("curb.retry_now")) +
        " " + window.passlineText("curb.kept", {count: outbox.length});
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
      tag.textContent = label(item.entry);
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

  function scheduleRetry(why) {
    failures += 1;
    problem = why;
    var delay = Math.min(MAX_DELAY_MS, 1000 * Math.pow(2, Math.min(failures, 5)));
    retryAt = Date.now() + delay;
    clearTimeout(retryTimer);
    retryTimer = setTimeout(pump, delay);
    render();
  }

  function finished(item, status, html) {
    outbox = outbox.filter(function (i) { return i.key !== item.key; });
    save();
    failures = 0;
    problem = "";
    showAnswer(item, status, html);
    refreshList();
  }

  function pump() {
    clearTimeout(retryTimer);
    if (sending || outbox.length === 0) {
      render();
      return;
    }
    var item = outbox[0];
    var body = new FormData();
    body.append("csrf_token", csrfToken());
    body.append("entry", item.entry);
    body.append("key", item.key);
    var controller = window.AbortController ? new AbortController() : null;
    var timer = setTimeout(function () {
      if (controller) {
        controller.abort();
      }
    }, TIMEOUT_MS);
    sending = true;
    item.tries = (item.tries || 0) + 1;
    save();
    render();
    fetch(form.action, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      cache: "no-store",
      headers: { "HX-Request": "true", "X-CSRFToken": csrfToken() },
      signal: controller ? controller.signal : undefined
    })
      .then(function (response) {
        return response.text().then(function (html) {
          return { status: response.status, html: html };
        });
      })
      .then(function (answer) {
        clearTimeout(timer);
        sending = false;
        var expired = answer.status === 400 && answer.html.indexOf("form has expired") !== -1;
        if (answer.status === 401) {
          scheduleRetry(window.passlineText("curb.why_signed_out"));
        } else if (expired) {
          scheduleRetry(window.passlineText("curb.why_stale"));
        } else if (answer.status === 503) {
          scheduleRetry(window.passlineText("curb.why_outage"));
        } else if (answer.status >= 500 || RETRY.indexOf(answer.status) !== -1) {
          scheduleRetry(window.passlineText("curb.why_status", {status: answer.status}));
        } else {
          finished(item, answer.status, answer.html);
          pump();
        }
      })
      .catch(function () {
        clearTimeout(timer);
        sending = false;
        scheduleRetry(window.passlineText(navigator.onLine ? "curb.why_timeout" : "curb.why_offline"));
      });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var value = (input.value || "").trim();
    if (!value) {
      input.focus();
      return;
    }
    outbox.push({ key: newKey(), entry: value.slice(0, 100), at: Date.now(), tries: 0 });
    save();
    input.value = "";
    if (failures === 0) {
      pump();
    } else {
      render(); // queued behind the entry that is waiting to be retried
    }
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
      failures = 0;
      problem = "";
      pump();
    }
  });

  window.addEventListener("online", function () {
    failures = 0;
    pump();
  });
  window.addEventListener("offline", render);
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) {
      pump();
    }
  });
  window.addEventListener("storage", function (event) {
    if (event.key === STORE && !sending) {
      outbox = load();
      render();
    }
  });
  setInterval(function () {
    if (problem) {
      render(); // the retry countdown
    }
  }, 1000);

  render();
  pump(); // entries kept from before a reload or a crash
})();

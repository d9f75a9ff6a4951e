// An on-device outbox for writes made on a poor network (the emergency roll; the curb
// screen's carline/static/carline/curb.js follows the same rules).
//
// PasslineOutbox({store, csrf, onAnswer, onChange}) keeps writes in localStorage under
// `store`. Each write gets a random client key (crypto.randomUUID) and the time it was
// made, and is sent in order, one at a time, as a form POST to its own URL. A write that
// gets no definitive answer (offline, timeout, network error, 5xx, 401, 408, 425, 429,
// an expired form) stays and is sent again later with the same key, so the server does
// it once; a 2xx or another 4xx is its answer (onAnswer(item, status, text)). onChange
// (items, state) runs whenever what waits or the network state changes, so the page can
// say clearly what is not yet sent.
(function () {
  "use strict";

  var TIMEOUT_MS = 8000;
  var MAX_DELAY_MS = 30000;
  var RETRY = [401, 408, 425, 429];

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

  window.PasslineOutbox = function (options) {
    var items = load();
    var sending = false;
    var failures = 0;
    var retryTimer = null;
    var problem = "";

    function load() {
      try {
        var kept = JSON.parse(window.localStorage.getItem(options.store) || "[]");
        return Array.isArray(kept) ? kept.filter(function (i) { return i && i.key && i.url; }) : [];
      } catch (e) {
        return [];
      }
    }

    function save() {
      try {
        window.localStorage.setItem(options.store, JSON.stringify(items));
      } catch (e) {
        // Private browsing or a full store: the outbox still lives in this page.
      }
    }

    function changed() {
      options.onChange(items.slice(), {
        offline: !navigator.onLine,
        sending: sending,
        problem: problem
      });
    }

    function retryLater(why) {
      failures += 1;
      problem = why;
      var delay = Math.min(MAX_DELAY_MS, 1000 * Math.pow(2, Math.min(failures, 5)));
      clearTimeout(retryTimer);
      retryTimer = setTimeout(pump, delay);
      changed();
    }

    function pump() {
      clearTimeout(retryTimer);
      if (sending || items.length === 0) {
        changed();
        return;
      }
      var item = items[0];
      var body = new FormData();
      body.append("csrf_token", options.csrf());
      Object.keys(item.fields).forEach(function (name) {
        body.append(name, item.fields[name]);
      });
      body.append("key", item.key);
      body.append("at", String(item.at));
      var controller = window.AbortController ? new AbortController() : null;
      var timer = setTimeout(function () {
        if (controller) {
          controller.abort();
        }
      }, TIMEOUT_MS);
      sending = true;
      item.tries = (item.tries || 0) + 1;
      save();
      changed();
      fetch(item.url, {
        method: "POST",
        body: body,
        credentials: "same-origin",
        cache: "no-store",
        headers: { "X-CSRFToken": options.csrf() },
        signal: controller ? controller.signal : undefined
      })
        .then(function (response) {
          return response.text().then(function (text) {
            return { status: response.status, text: text };
          });
        })
        .then(function (answer) {
          clearTimeout(timer);
          sending = false;
          var expired = answer.status === 400 && answer.text.indexOf("form has expired") !== -1;
          if (answer.status === 401) {
            retryLater("signed out: sign in again, the marks are kept");
          } else if (expired) {
            retryLater("this page is out of date: reload it, the marks are kept");
          } else if (answer.status >= 500 || RETRY.indexOf(answer.status) !== -1) {
            retryLater("the server answered " + answer.status);
          } else {
            items = items.filter(function (i) { return i.key !== item.key; });
            save();
            failures = 0;
            problem = "";
            options.onAnswer(item, answer.status, answer.text);
            pump();
          }
        })
        .catch(function () {
          clearTimeout(timer);
          sending = false;
          retryLater(navigator.onLine ? "no answer in time" : "offline");
        });
    }

    window.addEventListener("online", function () {
      failures = 0;
      pump();
    });
    window.addEventListener("offline", changed);
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden) {
        pump();
      }
    });
    window.addEventListener("storage", function (event) {
      if (event.key === options.store && !sending) {
        items = load();
        changed();
      }
    });

    return {
      items: function () { return items.slice(); },
      // `key`: the write's own client key when the page made one (a form's), else a new one.
      push: function (url, fields, label, key) {
        items.push({ key: key || newKey(), url: url, fields: fields, label: label, at: Date.now(), tries: 0 });
        save();
        if (failures === 0) {
          pump();
        } else {
          changed(); // queued behind the write that waits to be retried
        }
      },
      pump: pump,
      retryNow: function () {
        failures = 0;
        problem = "";
        pump();
      }
    };
  };
})();

// An on-device outbox for writes made on a poor network: the emergency roll, the gates,
// and the curb screen's tag entries (carline/static/carline/curb.js).
//
// PasslineOutbox({store, csrf, onAnswer, onChange, messages, headers}) keeps writes in
// localStorage under `store`. Each write gets a random client key (crypto.randomUUID)
// and the time it was made, and is sent in order, one at a time, as a form POST to its
// own URL (with `headers` added, if given). A write that gets no definitive answer
// (offline, timeout, network error, 5xx, 401, 408, 425, 429, an expired form) stays and
// is sent again later with the same key, so the server does it once; a 2xx or another
// 4xx is its answer (onAnswer(item, status, text)). onChange(items, state) runs whenever
// what waits or the network state changes, so the page can say clearly what is not yet
// sent: state is {offline, sending, problem, retryAt}. `problem` is the script message
// `messages` + one of signed_out, stale, outage, status, timeout, offline (default
// prefix "outbox.").
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
    var retryAt = 0;
    var prefix = options.messages || "outbox.";

    function say(why, values) {
      return window.passlineText(prefix + why, values);
    }

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
        problem: problem,
        retryAt: retryAt
      });
    }

    function retryLater(why) {
      failures += 1;
      problem = why;
      var delay = Math.min(MAX_DELAY_MS, 1000 * Math.pow(2, Math.min(failures, 5)));
      retryAt = Date.now() + delay;
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
        [].concat(item.fields[name]).forEach(function (value) {  // a list: a repeated field
          body.append(name, value);
        });
      });
      body.append("key", item.key);
      body.append("at", String(item.at));
      var controller = window.AbortController ? new AbortController() : null;
      var timer = setTimeout(function () {
        if (controller) {
          controller.abort();
        }
      }, TIMEOUT_MS);
      var headers = { "X-CSRFToken": options.csrf() };
      Object.keys(options.headers || {}).forEach(function (name) {
        headers[name] = options.headers[name];
      });
      sending = true;
      item.tries = (item.tries || 0) + 1;
      save();
      changed();
      fetch(item.url, {
        method: "POST",
        body: body,
        credentials: "same-origin",
        cache: "no-store",
        headers: headers,
        signal: controller ? controller.signal : undefined
      })
        .then(function (response) {
          return response.text().then(function (text) {
            var refusal = response.headers.get("X-Passline-Refusal");
            return { status: response.status, text: text, expired: refusal === "form-expired" };
          });
        })
        .then(function (answer) {
          clearTimeout(timer);
          sending = false;
          // The CSRF refusal (shared/errorpages.py), in whatever language the page is in.
          var expired = answer.status === 400 && answer.expired;
          if (answer.status === 401) {
            retryLater(say("signed_out"));
          } else if (expired) {
            retryLater(say("stale"));
          } else if (answer.status === 503) {
            retryLater(say("outage"));
          } else if (answer.status >= 500 || RETRY.indexOf(answer.status) !== -1) {
            retryLater(say("status", {status: answer.status}));
          } else {
            items = items.filter(function (i) { return i.key !== item.key; });
            save();
            failures = 0;
            problem = "";
            retryAt = 0;
            options.onAnswer(item, answer.status, answer.text);
            pump();
          }
        })
        .catch(function () {
          clearTimeout(timer);
          sending = false;
          retryLater(say(navigator.onLine ? "timeout" : "offline"));
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
        retryAt = 0;
        pump();
      }
    };
  };
})();

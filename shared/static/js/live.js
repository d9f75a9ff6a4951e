// Live regions: an element with data-live polls its own URL with htmx
// (hx-trigger="every Ns, live:refresh"). While the page is hidden the polls are
// skipped; when it is shown again every live region refreshes at once.
//
// Push: regions that name their topic (data-live-topic) share one stream per page
// (/live/stream, server-sent events) that announces each topic's new version. A region
// showing an older version then refreshes at once (its own fetch, as a poll), and while
// the stream is open its timed polls are skipped but for one every FALLBACK_MS. When the
// stream fails or ends, polling goes on as before and the stream is opened again after a
// growing, randomised wait; every (re)opened stream starts with each topic's version, so
// a region that missed a change while it was down refreshes then.
(function () {
  "use strict";
  var FALLBACK_MS = 30000;
  var SPREAD_MS = 150;
  var RETRY_MS = [1000, 60000];
  var STEADY_MS = 30000; // a stream open this long resets the reconnect wait
  var STALE_RETRY_MS = 400; // a refresh still answered "unchanged" asks again after this
  var STALE_RETRIES = 5;
  var source = null;
  var open = false;
  var retry = RETRY_MS[0];
  var openedAt = 0;
  var latest = {}; // topic -> newest version announced
  // The topics the stream was opened for: a region swapped in later with another topic
  // keeps its timed polls.
  var streamed = {};
  var pushedRegions = window.passlineLivePushes = {}; // region id -> refreshes pushed

  function shownVersion(el) {
    var match = /[?&]v=(-?\d+)/.exec(el.getAttribute("hx-get") || "");
    return match ? parseInt(match[1], 10) : null;
  }

  function regionsOf(topic) {
    return Array.prototype.filter.call(
      document.querySelectorAll("[data-live][data-live-topic]"),
      function (el) { return el.getAttribute("data-live-topic") === topic; }
    );
  }

  function behind(el) {
    var topic = el.getAttribute("data-live-topic");
    var shown = shownVersion(el);
    return !!window.htmx && topic in latest && shown !== null && shown < latest[topic];
  }

  // Every screen of a school hears of a change at once: each waits a moment at random
  // (up to SPREAD_MS) before it fetches, so their fetches do not all arrive together.
  function refreshIfBehind(el) {
    if (!behind(el) || el.hasAttribute("data-live-due")) return;
    el.setAttribute("data-live-due", "");
    window.setTimeout(function () {
      el.removeAttribute("data-live-due");
      if (!behind(el) || !el.isConnected) return;
      // Counted on the page, and per region id (the browser tests read them): refreshes
      // the stream asked for.
      var root = document.documentElement;
      var count = parseInt(root.getAttribute("data-live-pushes") || "0", 10) + 1;
      root.setAttribute("data-live-pushes", String(count));
      if (el.id) pushedRegions[el.id] = (pushedRegions[el.id] || 0) + 1;
      window.htmx.trigger(el, "live:refresh");
    }, Math.random() * SPREAD_MS);
  }

  function setState(state) {
    document.documentElement.setAttribute("data-live-stream", state);
  }

  function connect() {
    source = null;
    var topics = {};
    document.querySelectorAll("[data-live][data-live-topic]").forEach(function (el) {
      topics[el.getAttribute("data-live-topic")] = true;
    });
    var names = Object.keys(topics).sort();
    if (!names.length || !window.EventSource) return;
    streamed = topics;
    var stream = new EventSource("/live/stream?topics=" + encodeURIComponent(names.join(",")));
    source = stream;
    stream.addEventListener("open", function () {
      open = true;
      openedAt = Date.now();
      // The stream's first events resync every region; timed polls wait from now.
      document.querySelectorAll("[data-live][data-live-topic]").forEach(function (el) {
        el.setAttribute("data-live-polled", String(openedAt));
      });
      setState("open");
    });
    stream.addEventListener("version", function (event) {
      var data;
      try { data = JSON.parse(event.data); } catch (error) { return; }
      if (typeof data.topic !== "string" || typeof data.v !== "number") return;
      if (!(data.topic in latest) || data.v > latest[data.topic]) latest[data.topic] = data.v;
      regionsOf(data.topic).forEach(refreshIfBehind);
    });
    stream.addEventListener("end", function () { down(stream); });
    stream.addEventListener("error", function () { down(stream); });
  }

  // The stream failed or the server ended it: poll, and try again later.
  function down(stream) {
    if (source !== stream) return;
    stream.close();
    source = null;
    open = false;
    setState("down");
    if (openedAt && Date.now() - openedAt > STEADY_MS) retry = RETRY_MS[0];
    openedAt = 0;
    var wait = retry * (0.5 + Math.random());
    retry = Math.min(retry * 2, RETRY_MS[1]);
    window.setTimeout(connect, wait);
  }

  document.addEventListener("htmx:confirm", function (event) {
    var el = event.target;
    if (!el.hasAttribute("data-live")) return;
    if (document.hidden) {
      event.preventDefault();
      return;
    }
    var trigger = event.detail && event.detail.triggeringEvent;
    var timed = !trigger || trigger.type !== "live:refresh";
    if (open && timed && el.getAttribute("data-live-topic") in streamed) {
      // The stream says when this region changes: one timed poll per FALLBACK_MS only.
      var last = parseInt(el.getAttribute("data-live-polled") || "0", 10);
      if (Date.now() - last < FALLBACK_MS) {
        event.preventDefault();
        return;
      }
    }
    el.setAttribute("data-live-polled", String(Date.now()));
  });
  // A region swapped in carries the version it shows: if a newer one was announced
  // meanwhile (its fetch crossed the announcement), it fetches again.
  document.addEventListener("htmx:afterSettle", function (event) {
    var el = event.target;
    if (el && el.hasAttribute && el.hasAttribute("data-live-topic")) {
      el.setAttribute("data-live-polled", String(Date.now()));
      refreshIfBehind(el);
    }
  });
  document.addEventListener("visibilitychange", function () {
    if (document.hidden || !window.htmx) return;
    document.querySelectorAll("[data-live]").forEach(function (el) {
      window.htmx.trigger(el, "live:refresh");
    });
  });
  // Each fetch of a region says the newest version its stream announced, so the server
  // reads the versions afresh instead of answering from those it read a moment before
  // the change (each process remembers them for a quarter second; shared/live.py).
  document.addEventListener("htmx:configRequest", function (event) {
    var el = event.target;
    if (!el || !el.hasAttribute || !el.hasAttribute("data-live-topic")) return;
    var topic = el.getAttribute("data-live-topic");
    if (topic in latest) event.detail.headers["X-Live-Announced"] = String(latest[topic]);
  });
  // A backstop: a refresh the stream asked for should not be answered "unchanged" (204)
  // now that it says the announced version, but one can be if something between the
  // page and the app drops that header. The region is then still behind, and with the
  // stream open its next timed poll is FALLBACK_MS away: it asks again shortly, a few
  // times at most (a swap starts the count again).
  document.addEventListener("htmx:afterRequest", function (event) {
    var el = event.target;
    if (!el || !el.hasAttribute || !el.hasAttribute("data-live-topic")) return;
    var xhr = event.detail && event.detail.xhr;
    if (xhr && xhr.status !== 204) {
      el.removeAttribute("data-live-retries");
      return;
    }
    var tries = parseInt(el.getAttribute("data-live-retries") || "0", 10);
    if (!behind(el) || tries >= STALE_RETRIES) return;
    el.setAttribute("data-live-retries", String(tries + 1));
    window.setTimeout(function () { refreshIfBehind(el); }, STALE_RETRY_MS * (tries + 1));
  });
  // A 503 ("No connection to the school's server, trying again") stays shown until a
  // request succeeds again.
  document.addEventListener("htmx:afterRequest", function (event) {
    var xhr = event.detail && event.detail.xhr;
    if (!xhr || xhr.status >= 400) return;
    document.querySelectorAll("#live-errors [data-outage]").forEach(function (el) {
      el.remove();
    });
  });
  document.addEventListener("DOMContentLoaded", connect);
  window.addEventListener("pagehide", function () {
    if (source) source.close();
  });
})();

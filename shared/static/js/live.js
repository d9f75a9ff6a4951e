// Live regions: an element with data-live polls its own URL with htmx
// (hx-trigger="every Ns, live:refresh"). While the page is hidden the polls are
// skipped; when it is shown again every live region refreshes at once.
(function () {
  "use strict";
  document.addEventListener("htmx:confirm", function (event) {
    if (document.hidden && event.target.hasAttribute("data-live")) {
      event.preventDefault();
    }
  });
  document.addEventListener("visibilitychange", function () {
    if (document.hidden || !window.htmx) return;
    document.querySelectorAll("[data-live]").forEach(function (el) {
      window.htmx.trigger(el, "live:refresh");
    });
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
})();

// passline UI behaviour. No inline scripts: everything is wired here by data attributes.
(function () {
  "use strict";

  // passlineText("key", {name: value}): a message of the page's language, from the
  // catalog the server put in <body data-messages> (shared/i18n.py); "{name}" takes a value.
  var messages = null;
  window.passlineText = function (key, values) {
    if (messages === null) {
      try {
        messages = JSON.parse(document.body.getAttribute("data-messages") || "{}");
      } catch (e) {
        messages = {};
      }
    }
    var text = Object.prototype.hasOwnProperty.call(messages, key) ? messages[key] : key;
    return text.replace(/\{(\w+)\}/g, function (all, name) {
      return values && values[name] !== undefined ? String(values[name]) : all;
    });
  };

  // A time of day as the page's language writes it ("10:03 AM" in English).
  window.passlineClock = function (ms, seconds) {
    var options = {hour: "numeric", minute: "2-digit"};
    if (seconds) options.second = "2-digit";
    var lang = document.documentElement.lang || "en";
    return new Date(ms).toLocaleTimeString(lang + "-US", options).replace(/\u202f/g, " ");
  };

  // <input data-fill-from-hash>: the family code a letter's QR put after the "#"
  // (shared/family_codes.py; a fragment never reaches the server or its logs). It is
  // copied into the field and taken off the address, so the history keeps no code.
  document.querySelectorAll("input[data-fill-from-hash]").forEach(function (input) {
    var code = decodeURIComponent((window.location.hash || "").slice(1));
    if (!code) return;
    if (!input.value) input.value = code;
    if (window.history && window.history.replaceState) {
      window.history.replaceState(null, "", window.location.pathname + window.location.search);
    }
  });

  // <form data-confirm="Question?">: ask before submitting.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  }, true);

  // <div class="table-wrap">: a table wider than the screen scrolls inside it. While it
  // does, the wrapper takes the keyboard focus (arrow keys scroll it) and is named after
  // its section's heading, so the hidden columns can be reached without a mouse.
  function scrollableTables(root) {
    var scope = root && root.querySelectorAll ? root : document;
    scope.querySelectorAll(".table-wrap").forEach(function (wrap) {
      var scrolls = wrap.scrollWidth > wrap.clientWidth + 1;
      if (scrolls && !wrap.hasAttribute("tabindex")) {
        var section = wrap.closest("section, .card, main");
        var heading = section && section.querySelector("h1, h2, h3");
        wrap.setAttribute("tabindex", "0");
        wrap.setAttribute("role", "region");
        wrap.setAttribute("aria-label", window.passlineText("table.scrolls", {
          heading: heading ? heading.textContent.trim() : window.passlineText("table.default")
        }));
        wrap.setAttribute("data-scroll-focus", "");
      } else if (!scrolls && wrap.hasAttribute("data-scroll-focus")) {
        ["tabindex", "role", "aria-label", "data-scroll-focus"].forEach(function (name) {
          wrap.removeAttribute(name);
        });
      }
    });
  }
  document.addEventListener("DOMContentLoaded", function () { scrollableTables(document); });
  document.addEventListener("htmx:afterSettle", function (event) { scrollableTables(event.target); });
  var resizeTimer = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () { scrollableTables(document); }, 200);
  });

  // <form data-answer-in="#id">: a refusal of one of the form's requests (any error answer)
  // is shown in that element, next to where the person tapped, instead of the page's
  // #live-errors at the top; it takes the focus (and, as role="alert", is read out) and
  // stays until the next tap or change in the form.
  function requester(event) {  // the element whose request this is
    var config = event.detail.requestConfig;
    return (config && config.elt) || event.detail.elt || event.target;
  }
  function answerOf(elt) {
    var form = elt && elt.closest ? elt.closest("[data-answer-in]") : null;
    return form ? document.querySelector(form.getAttribute("data-answer-in")) : null;
  }
  document.addEventListener("htmx:beforeSwap", function (event) {
    // This event fires on the swap's target, not on the element that asked.
    var detail = event.detail;
    var answer = detail.isError ? answerOf(requester(event)) : null;
    if (!answer) return;
    detail.shouldSwap = true;
    detail.target = answer;
    detail.swapOverride = "innerHTML";
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var answer = answerOf(requester(event));
    if (!answer) return;
    if (event.detail.successful) {
      answer.innerHTML = "";
    } else if (answer.firstElementChild) {
      var field = answer.querySelector("input, button");
      (field || answer).focus();
    }
  });
  document.addEventListener("change", function (event) {
    var answer = answerOf(event.target);
    if (answer && !answer.contains(event.target)) answer.innerHTML = "";
  });

  // <button data-busy="Importing…"> (a form's submit button): slow work. Once the form is
  // really sent (no confirm said no), the button is disabled and says what is happening
  // until the answer replaces the page. Restored if the page comes back from the cache.
  function busy(button, text) {
    if (!button.hasAttribute("data-idle")) button.setAttribute("data-idle", button.textContent);
    button.textContent = text;
    button.disabled = true;
    button.classList.add("is-busy");
    button.setAttribute("aria-busy", "true");
    var status = busyStatus(button);
    if (status) status.textContent = text;
  }
  function idle(button) {
    if (!button.hasAttribute("data-idle")) return;
    button.textContent = button.getAttribute("data-idle");
    button.removeAttribute("data-idle");
    button.disabled = false;
    button.classList.remove("is-busy");
    button.removeAttribute("aria-busy");
  }
  function busyStatus(button) {  // a polite live region next to the button, made once
    var next = button.nextElementSibling;
    if (next && next.classList.contains("busy-status")) return next;
    var status = document.createElement("span");
    status.className = "sr-only busy-status";
    status.setAttribute("role", "status");
    button.insertAdjacentElement("afterend", status);
    return status;
  }
  document.addEventListener("submit", function (event) {
    if (event.defaultPrevented) return;
    var button = event.submitter;
    if (!button || !button.hasAttribute("data-busy") || button.hasAttribute("data-download")) return;
    // Disabled after the form data is taken, so the button's own value is still sent.
    setTimeout(function () { busy(button, button.getAttribute("data-busy")); }, 0);
  });
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("[data-idle]").forEach(idle);
  });

  // <a data-busy="Making the PDF…" data-download href="…"> (or such a submit button of a GET
  // form): a file that takes a while to make. It is fetched here, with the link disabled and
  // saying so until the file comes, then saved under the server's file name; a refusal is
  // shown next to it. Without JavaScript the link is an ordinary download.
  function downloadUrl(elt) {
    if (elt.tagName === "A") return elt.href;
    var form = elt.form;
    var url = new URL(elt.getAttribute("formaction") || form.action, window.location.href);
    new FormData(form).forEach(function (value, name) { url.searchParams.append(name, value); });
    return url.toString();
  }
  function fileName(response) {
    var header = response.headers.get("Content-Disposition") || "";
    var match = /filename="?([^";]+)"?/.exec(header);
    return match ? match[1] : "download";
  }
  document.addEventListener("click", function (event) {
    var elt = event.target.closest && event.target.closest("[data-busy][data-download]");
    if (!elt || elt.getAttribute("aria-disabled") === "true") {
      if (elt) event.preventDefault();
      return;
    }
    event.preventDefault();
    var text = elt.getAttribute("data-busy");
    var label = elt.textContent;
    var status = busyStatus(elt);
    status.className = "sr-only busy-status";
    elt.setAttribute("aria-disabled", "true");
    elt.setAttribute("aria-busy", "true");
    elt.classList.add("is-busy");
    elt.textContent = text;
    status.textContent = text;
    fetch(downloadUrl(elt), {credentials: "same-origin"}).then(function (response) {
      if (!response.ok) {
        return response.text().then(function (html) {
          var page = new DOMParser().parseFromString(html, "text/html");
          var lead = page.querySelector(".lead, .flash-error");
          throw new Error(lead ? lead.textContent.trim() : "The file could not be made.");
        });
      }
      return response.blob().then(function (blob) {
        var link = document.createElement("a");
        link.href = URL.createObjectURL(blob);
        link.download = fileName(response);
        document.body.appendChild(link);
        link.click();
        link.remove();
        setTimeout(function () { URL.revokeObjectURL(link.href); }, 60000);
        status.textContent = "Downloaded.";
      });
    }).catch(function (error) {
      status.textContent = error.message || "The file could not be made.";
      status.classList.remove("sr-only");
      status.classList.add("flash", "flash-error");
    }).then(function () {
      elt.textContent = label;
      elt.removeAttribute("aria-disabled");
      elt.removeAttribute("aria-busy");
      elt.classList.remove("is-busy");
    });
  });

  // <select data-autosubmit>: submit its form when changed.
  document.addEventListener("change", function (event) {
    var el = event.target;
    if (el.hasAttribute && el.hasAttribute("data-autosubmit") && el.form) {
      el.form.requestSubmit();
    }
  });
})();

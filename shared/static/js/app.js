// passline UI behaviour. No inline scripts: everything is wired here by data attributes.
(function () {
  "use strict";

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
        wrap.setAttribute("aria-label", (heading ? heading.textContent.trim() : "Table") + " (scrolls sideways)");
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

  // <select data-autosubmit>: submit its form when changed.
  document.addEventListener("change", function (event) {
    var el = event.target;
    if (el.hasAttribute && el.hasAttribute("data-autosubmit") && el.form) {
      el.form.requestSubmit();
    }
  });
})();

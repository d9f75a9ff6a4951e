// Hall pass screens for students (kiosk, phone) and pass slips. Wired by data attributes:
// <input data-keep-focus>: keeps the keyboard focus, so a USB/Bluetooth scanner always
//   types into it (a tap elsewhere, or a swapped region, gives the focus back).
// <div data-return-after="8" data-return-url="/...">: goes back to that URL after N s
//   (a live region that brings its own data-return-after starts the wait again).
// <button data-print>: opens the print dialog.
(function () {
  "use strict";

  function keepFocus() {
    var input = document.querySelector("[data-keep-focus]");
    if (input && document.activeElement !== input && !document.querySelector(".scanner-video")) {
      input.focus();
    }
  }

  // The way back to the scan screen starts again whenever a live region brings a new
  // data-return-after (a request's answer); the URL is the page's data-return-url.
  var returnTimer = null;
  function armReturn() {
    var marks = document.querySelectorAll("[data-return-after]");
    var home = document.querySelector("[data-return-url]");
    if (!marks.length || !home) return;
    var seconds = Number(marks[marks.length - 1].getAttribute("data-return-after")) || 8;
    clearTimeout(returnTimer);
    returnTimer = setTimeout(function () {
      window.location.assign(home.getAttribute("data-return-url"));
    }, seconds * 1000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    keepFocus();
    setInterval(keepFocus, 1500);
    armReturn();
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    if (event.target.hasAttribute && event.target.hasAttribute("data-return-after")) armReturn();
  });
  document.addEventListener("focusout", function () {
    setTimeout(keepFocus, 200);
  });
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-print]");
    if (button) {
      event.preventDefault();
      window.print();
    }
  });
})();

// Hall pass screens for students (kiosk, phone) and pass slips. Wired by data attributes:
// <input data-keep-focus>: keeps the keyboard focus, so a USB/Bluetooth scanner always
//   types into it (a tap elsewhere, or a swapped region, gives the focus back).
// <div data-return-after="8" data-return-url="/...">: goes back to that URL after N s.
// <button data-print>: opens the print dialog.
(function () {
  "use strict";

  function keepFocus() {
    var input = document.querySelector("[data-keep-focus]");
    if (input && document.activeElement !== input && !document.querySelector(".scanner-video")) {
      input.focus();
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    keepFocus();
    setInterval(keepFocus, 1500);
    var back = document.querySelector("[data-return-after]");
    if (back) {
      var seconds = Number(back.getAttribute("data-return-after")) || 8;
      setTimeout(function () {
        window.location.assign(back.getAttribute("data-return-url"));
      }, seconds * 1000);
    }
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

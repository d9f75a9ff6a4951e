// Car line office pages. No inline scripts: wired by data attributes.
(function () {
  "use strict";

  // <button data-print>: open the browser's print dialog (hang tags).
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-print]");
    if (button) {
      event.preventDefault();
      window.print();
    }
  });

  // <select data-mode-select>: show the fields that belong to the chosen mode.
  function syncMode(select) {
    var form = select.form;
    if (!form) { return; }
    var fields = form.querySelectorAll("[data-for-mode]");
    for (var i = 0; i < fields.length; i++) {
      var modes = fields[i].getAttribute("data-for-mode").split(" ");
      fields[i].hidden = modes.indexOf(select.value) === -1;
    }
  }
  document.addEventListener("change", function (event) {
    if (event.target.hasAttribute && event.target.hasAttribute("data-mode-select")) {
      syncMode(event.target);
    }
  });
  document.addEventListener("DOMContentLoaded", function () {
    var selects = document.querySelectorAll("[data-mode-select]");
    for (var i = 0; i < selects.length; i++) { syncMode(selects[i]); }
  });
})();

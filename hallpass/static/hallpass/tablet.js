// Teacher tablet: each student tile says whether the student is out of class, and where,
// read from the room's live pass list (#room-passes rows carry data-student-id and
// data-destination), so a teacher does not try to send them again. It follows the list
// whenever it refreshes.
(function () {
  "use strict";
  function markOut() {
    var out = {};
    document.querySelectorAll("#room-passes [data-student-id]").forEach(function (row) {
      out[row.getAttribute("data-student-id")] = row.getAttribute("data-destination");
    });
    document.querySelectorAll(".student-tile input[name=student_id]").forEach(function (input) {
      var tile = input.closest(".student-tile");
      var note = tile.querySelector(".out-where");
      var where = out[input.value];
      tile.classList.toggle("is-out", Boolean(where));
      if (note) note.textContent = where ? window.passlineText("tablet.out", {where: where}) : "";
    });
  }
  document.addEventListener("DOMContentLoaded", markOut);
  document.addEventListener("htmx:afterSettle", markOut);
})();

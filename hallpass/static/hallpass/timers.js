// Running timers: <span class="timer" data-started="ISO time" data-limit-minutes="N">
// shows minutes:seconds since the start, and turns overdue past its limit.
(function () {
  "use strict";
  function tick() {
    var now = Date.now();
    document.querySelectorAll(".timer[data-started]").forEach(function (el) {
      var seconds = Math.max(0, Math.floor((now - Date.parse(el.dataset.started)) / 1000));
      el.textContent = Math.floor(seconds / 60) + ":" + String(seconds % 60).padStart(2, "0");
      var limit = Number(el.dataset.limitMinutes || 0) * 60;
      el.classList.toggle("overdue", limit > 0 && seconds > limit);
    });
  }
  document.addEventListener("DOMContentLoaded", tick);
  document.addEventListener("htmx:afterSwap", tick);
  setInterval(tick, 1000);
})();

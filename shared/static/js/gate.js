// The release gate on a phone: "Released to ..." goes into the on-device outbox
// (outbox.js) with the form's own client key, so a release made while the network is
// down is sent when it is back, and sent twice is done once. The row says it is not yet
// sent, and the banner counts what waits.
(function () {
  "use strict";

  var gate = document.querySelector("form[data-gate]");
  if (!gate || !window.PasslineOutbox) {
    return;
  }
  var banner = document.getElementById("outbox-banner");
  var box = document.getElementById("outbox-box");
  var list = document.getElementById("outbox-list");
  var answers = document.getElementById("gate-answers");

  // Words in the page's language (passlineText: the catalog in <body data-messages>).
  var say = window.passlineText;
  // A count's words: "<key>.one" for 1, "<key>.other" for any other count (English and
  // Spanish say plurals so; the server gives both forms of its catalog).
  function sayCount(key, count, values) {
    var all = {count: count};
    Object.keys(values || {}).forEach(function (name) { all[name] = values[name]; });
    return say(key + (count === 1 ? ".one" : ".other"), all);
  }

  function csrf() {
    var field = gate.querySelector("[name=csrf_token]");
    return field ? field.value : "";
  }

  function pendingRows(items) {
    var waiting = {};
    items.forEach(function (item) { waiting[item.fields.request_id] = true; });
    document.querySelectorAll("form[data-release]").forEach(function (form) {
      var id = form.querySelector("[name=request_id]").value;
      var row = form.closest(".roll-row");
      var flag = row && row.querySelector(".roll-pending");
      if (flag) {
        flag.hidden = !waiting[id];
      }
      form.querySelector("button").disabled = Boolean(waiting[id]);
    });
  }

  function refresh() {
    var region = document.getElementById("reunify-queue");
    if (region && window.htmx) {
      window.htmx.trigger(region, "live:refresh");
    }
  }

  var outbox = window.PasslineOutbox({
    store: "passline.emergency.gate.outbox",
    csrf: csrf,
    onAnswer: function (item, status, text) {
      var note = document.createElement("p");
      if (status >= 200 && status < 300) {
        note.className = "flash flash-success";
        note.textContent = say("gate.released", {label: item.label});
      } else {
        var holder = document.createElement("div");
        holder.innerHTML = text; // the server's escaped error page
        var message = holder.querySelector(".error-page .lead") || holder.querySelector(".flash-error");
        note.className = "flash flash-error";
        note.textContent = item.label + ": " + (message ? message.textContent : say("gate.refused", {status: status})).trim();
      }
      answers.insertBefore(note, answers.firstChild);
      refresh();
    },
    onChange: function (items, state) {
      box.hidden = items.length === 0;
      list.textContent = "";
      items.forEach(function (item) {
        var li = document.createElement("li");
        li.textContent = say("gate.item", {label: item.label});
        list.appendChild(li);
      });
      pendingRows(items);
      var said = "";
      var kind = "";
      if (state.offline) {
        kind = "offline";
        said = sayCount("gate.offline", items.length);
      } else if (items.length && state.problem) {
        kind = "failed";
        said = sayCount("gate.failed", items.length, {problem: state.problem});
      } else if (items.length) {
        kind = "pending";
        said = sayCount("gate.sending", items.length);
      }
      banner.hidden = !said;
      banner.textContent = said;
      banner.className = "outbox-banner" + (kind ? " outbox-banner-" + kind : "");
    }
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute || !form.hasAttribute("data-release") || event.defaultPrevented) {
      return; // not a release, or its confirmation was declined (app.js)
    }
    event.preventDefault();
    var requestId = form.querySelector("[name=request_id]").value;
    var key = form.querySelector("[name=key]").value;
    outbox.push(form.action, { request_id: requestId }, form.getAttribute("data-release"), key);
  });

  document.addEventListener("htmx:afterSwap", function () {
    pendingRows(outbox.items());
  });

  outbox.pump(); // releases kept from before a reload
})();

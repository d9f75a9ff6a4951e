// The emergency roll on a phone: a tap marks a student at once on the screen and goes
// into the on-device outbox (outbox.js), which sends it with its client key when the
// network lets it. Rows whose mark is not yet sent say so, and a banner counts them.
(function () {
  "use strict";

  var form = document.querySelector("form[data-roll]");
  if (!form || !window.PasslineOutbox) {
    return;
  }
  var banner = document.getElementById("outbox-banner");
  var box = document.getElementById("outbox-box");
  var list = document.getElementById("outbox-list");
  var errors = document.getElementById("roll-errors");
  // Words in the page's language (passlineText: the catalog in <body data-messages>).
  var say = window.passlineText;
  // A count's words: "<key>.one" for 1, "<key>.other" for any other count (English and
  // Spanish say plurals so; the server gives both forms of its catalog).
  function sayCount(key, count, values) {
    var all = {count: count};
    Object.keys(values || {}).forEach(function (name) { all[name] = values[name]; });
    return say(key + (count === 1 ? ".one" : ".other"), all);
  }
  var LABELS = {
    present: say("roll.present"),
    missing: say("roll.missing"),
    injured: say("roll.injured"),
    with_staff: say("roll.with_staff")
  };

  function csrf() {
    var field = form.querySelector("[name=csrf_token]");
    return field ? field.value : "";
  }

  function rows(studentId) {
    return document.querySelectorAll('.roll-row[data-student="' + studentId + '"]');
  }

  function show(studentId, status, withStaff, pending) {
    rows(studentId).forEach(function (row) {
      row.setAttribute("data-state", status);
      var state = row.querySelector(".roll-state");
      if (state) {
        state.textContent = (LABELS[status] || status) + (withStaff ? ": " + withStaff : "");
      }
      var flag = row.querySelector(".roll-pending");
      if (flag) {
        flag.hidden = !pending;
      }
    });
  }

  function refreshList() {
    var region = document.getElementById("roll-list");
    if (region && window.htmx) {
      window.htmx.trigger(region, "live:refresh");
    }
  }

  var outbox = window.PasslineOutbox({
    store: "passline.emergency.outbox",
    csrf: csrf,
    onAnswer: function (item, status, text) {
      if (status >= 200 && status < 300) {
        show(item.fields.student_id, item.fields.status, item.fields.with_staff, false);
      } else {
        var p = document.createElement("div");
        p.innerHTML = text; // the server's escaped error partial
        var note = document.createElement("p");
        note.className = "flash flash-error";
        note.textContent = item.label + ": " + (p.textContent || say("roll.refused")).trim();
        errors.insertBefore(note, errors.firstChild);
      }
      refreshList();
    },
    onChange: function (items, state) {
      var mine = items.filter(function (i) { return i.fields.event === form.getAttribute("data-event"); });
      box.hidden = items.length === 0;
      list.textContent = "";
      items.forEach(function (item) {
        var li = document.createElement("li");
        li.textContent = item.tries ? sayCount("roll.item_tries", item.tries, {label: item.label}) : item.label;
        list.appendChild(li);
      });
      mine.forEach(function (item) {
        show(item.fields.student_id, item.fields.status, item.fields.with_staff, true);
      });
      var said = "";
      var kind = "";
      if (state.offline) {
        kind = "offline";
        said = sayCount("roll.offline", items.length);
      } else if (items.length && state.problem) {
        kind = "failed";
        said = sayCount("roll.failed", items.length, {problem: state.problem});
      } else if (items.length) {
        kind = "pending";
        said = sayCount("roll.sending", items.length);
      }
      banner.hidden = !said;
      banner.textContent = said;
      banner.className = "outbox-banner" + (kind ? " outbox-banner-" + kind : "");
    }
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-mark]");
    if (!button) {
      return;
    }
    var row = button.closest(".roll-row");
    if (!row) {
      return;
    }
    var status = button.getAttribute("data-mark");
    var withStaff = "";
    if (status === "with_staff") {
      var input = row.querySelector("[name=with_staff]");
      withStaff = input ? input.value.trim() : "";
      if (!withStaff) {
        if (input) {
          input.focus();
        }
        return;
      }
    }
    var fields = {
      event: form.getAttribute("data-event"),
      student_id: row.getAttribute("data-student"),
      status: status,
      class_id: form.getAttribute("data-class-id"),
      with_staff: withStaff
    };
    show(fields.student_id, status, withStaff, true);
    outbox.push(form.getAttribute("data-url"), fields, row.getAttribute("data-name") + ": " + (LABELS[status] || status));
  });

  // A fresh list from the server: marks still waiting on this phone show over it.
  document.addEventListener("htmx:afterSwap", function () {
    outbox.items().forEach(function (item) {
      show(item.fields.student_id, item.fields.status, item.fields.with_staff, true);
    });
  });

  outbox.pump(); // marks kept from before a reload
})();

// The request gate on a phone: "Ask for the student" and "Refuse and record" go into the
// on-device outbox (outbox.js) with the form's own client key, so an ID check recorded
// while the network is down is sent when it is back, and sent twice is recorded once
// (reunification.request_students). The banner says what is not yet sent, on the search
// page too, so staff can go on to the next family meanwhile.
(function () {
  "use strict";

  var holder = document.querySelector("[data-request-outbox]");
  if (!holder || !window.PasslineOutbox) {
    return;
  }
  var say = window.passlineText;
  function sayCount(key, count, values) {
    var all = {count: count};
    Object.keys(values || {}).forEach(function (name) { all[name] = values[name]; });
    return say(key + (count === 1 ? ".one" : ".other"), all);
  }
  function byId(id) { return document.getElementById(id); }  // the answer may replace them

  function csrf() {
    var field = document.querySelector("[data-request-outbox] [name=csrf_token]");
    return field ? field.value : "";
  }

  // The form's fields as the outbox keeps them: repeated names (siblings) as lists; the
  // token and the key are the outbox's own.
  function fieldsOf(form, submitter) {
    var fields = {};
    var data = new FormData(form);
    if (submitter && submitter.name) {
      data.append(submitter.name, submitter.value);
    }
    data.forEach(function (value, name) {
      if (name === "csrf_token" || name === "key") {
        return;
      }
      if (name in fields) {
        fields[name] = [].concat(fields[name], value);
      } else {
        fields[name] = value;
      }
    });
    return fields;
  }

  function pendingForm(items) {
    var form = document.querySelector("form[data-request-gate]");
    if (!form) {
      return;
    }
    var key = form.querySelector("[name=key]").value;
    var waiting = items.some(function (item) { return item.key === key; });
    form.querySelectorAll("button").forEach(function (button) { button.disabled = waiting; });
    var flag = byId("request-pending");
    if (flag) {
      flag.hidden = !waiting;
    }
  }

  var outbox = window.PasslineOutbox({
    store: "passline.emergency.request.outbox",
    csrf: csrf,
    onAnswer: function (item, status, text) {
      var answer = new DOMParser().parseFromString(text, "text/html");
      var main = answer.querySelector("main");
      var here = window.location.pathname === new URL(item.url, window.location.href).pathname;
      if (here && main && (status === 200 || status === 409)) {
        // Still on this student's page: it becomes the answer (what was recorded, and a
        // fresh form with a new key for the next adult).
        document.querySelector("main").innerHTML = main.innerHTML;
        pendingForm(outbox.items());
        return;
      }
      var notes = answer.querySelectorAll("main .flash, .error-page .lead");
      var box = byId("gate-answers");
      if (!box) {
        return;
      }
      var note = document.createElement("p");
      note.className = status >= 200 && status < 300 ? "flash flash-success" : "flash flash-error";
      var said = Array.prototype.map.call(notes, function (n) { return n.textContent.trim(); });
      note.textContent = item.label + ": " + (said.join(" ") || say("gate.refused", {status: status}));
      box.insertBefore(note, box.firstChild);
    },
    onChange: function (items, state) {
      var banner = byId("outbox-banner");
      var box = byId("outbox-box");
      var list = byId("outbox-list");
      if (!banner || !box || !list) {
        return;
      }
      box.hidden = items.length === 0;
      list.textContent = "";
      items.forEach(function (item) {
        var li = document.createElement("li");
        li.textContent = item.label;
        list.appendChild(li);
      });
      pendingForm(items);
      var said = "";
      var kind = "";
      if (state.offline) {
        kind = "offline";
        said = sayCount("request.offline", items.length);
      } else if (items.length && state.problem) {
        kind = "failed";
        said = sayCount("request.failed", items.length, {problem: state.problem});
      } else if (items.length) {
        kind = "pending";
        said = sayCount("request.sending", items.length);
      }
      banner.hidden = !said;
      banner.textContent = said;
      banner.className = "outbox-banner" + (kind ? " outbox-banner-" + kind : "");
    }
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute || !form.hasAttribute("data-request-gate") || event.defaultPrevented) {
      return;
    }
    event.preventDefault();
    var submitter = event.submitter;
    var fields = fieldsOf(form, submitter);
    var adult = fields.adult_name || "";
    var label = say(fields.action === "refuse" ? "request.refuse_item" : "request.ask_item", {
      student: form.getAttribute("data-request-gate"),
      adult: adult
    });
    outbox.push(form.getAttribute("action") || window.location.pathname, fields, label,
      form.querySelector("[name=key]").value);
  });

  outbox.pump(); // what was kept from before a reload, or from another page of the gate
})();

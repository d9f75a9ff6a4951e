"""Emergency views: start and end an event, take roll on a phone, the live command view.

Thin views over shared/emergencies.py (the event) and shared/emergency_roll.py (roll and
counts). A roll mark comes from the page's outbox (static/js/outbox.js) with its client
key and answers JSON; every other answer is a page or one live region's partial.
"""

from __future__ import annotations

from functools import partial

from flask import Blueprint, flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext, lazy_ngettext

from shared import audit, emergencies, emergency_report, emergency_roll, live, reunification
from shared.access import access, school_record
from shared.audit import current_actor
from shared.csvfile import csv_download, csv_text, safe_cell
from shared.emergency_models import KIND_LABELS, EmergencyEvent
from shared.errors import Conflict
from shared.i18n import js_messages_add
from shared.models import SchoolClass
from shared.students import search_students, search_text

bp = Blueprint("emergency", __name__, url_prefix="/emergency")

STAFF = ("admin", "office", "teacher", "staff")
COMMAND = ("admin", "office", "device:display")
#: Most students the "add a student" search lists.
FIND_LIMIT = 20

#: The roll's, the release gate's and their outbox's script messages (shared/i18n.py).
#: A count's words come in two forms, "<key>.one" for 1 and "<key>.other" for any other
#: count (the catalog's forms for 1 and for 2: English and Spanish say plurals so).
js_messages_add(
    {
        "outbox.signed_out": lazy_gettext("signed out: sign in again, the marks are kept"),
        "outbox.stale": lazy_gettext("this page is out of date: reload it, the marks are kept"),
        "outbox.outage": lazy_gettext("no connection to the school's server, trying again"),
        "outbox.status": lazy_gettext("the server answered {status}"),
        "outbox.timeout": lazy_gettext("no answer in time"),
        "outbox.offline": lazy_gettext("offline"),
        "roll.present": lazy_gettext("Present"),
        "roll.missing": lazy_gettext("Missing"),
        "roll.injured": lazy_gettext("Injured"),
        "roll.with_staff": lazy_gettext("With staff"),
        "roll.refused": lazy_gettext("refused"),
        "roll.item_tries.one": lazy_ngettext("{label} ({count} try)", "{label} ({count} tries)", 1),
        "roll.item_tries.other": lazy_ngettext(
            "{label} ({count} try)", "{label} ({count} tries)", 2
        ),
        "roll.offline.one": lazy_ngettext(
            "Offline. {count} mark is kept on this phone and sent when the network is back.",
            "Offline. {count} marks are kept on this phone and sent when the network is back.",
            1,
        ),
        "roll.offline.other": lazy_ngettext(
            "Offline. {count} mark is kept on this phone and sent when the network is back.",
            "Offline. {count} marks are kept on this phone and sent when the network is back.",
            2,
        ),
        "roll.failed.one": lazy_ngettext(
            "{count} mark not sent yet ({problem}). Trying again.",
            "{count} marks not sent yet ({problem}). Trying again.",
            1,
        ),
        "roll.failed.other": lazy_ngettext(
            "{count} mark not sent yet ({problem}). Trying again.",
            "{count} marks not sent yet ({problem}). Trying again.",
            2,
        ),
        "roll.sending.one": lazy_ngettext("Sending {count} mark…", "Sending {count} marks…", 1),
        "roll.sending.other": lazy_ngettext("Sending {count} mark…", "Sending {count} marks…", 2),
        "gate.released": lazy_gettext("Released: {label}."),
        "gate.refused": lazy_gettext("refused ({status})"),
        "gate.item": lazy_gettext("Release {label}"),
        "gate.offline.one": lazy_ngettext(
            "Offline. {count} release is kept on this phone and sent when the network is back.",
            "Offline. {count} releases are kept on this phone and sent when the network is back.",
            1,
        ),
        "gate.offline.other": lazy_ngettext(
            "Offline. {count} release is kept on this phone and sent when the network is back.",
            "Offline. {count} releases are kept on this phone and sent when the network is back.",
            2,
        ),
        "gate.failed.one": lazy_ngettext(
            "{count} release not sent yet ({problem}). Trying again.",
            "{count} releases not sent yet ({problem}). Trying again.",
            1,
        ),
        "gate.failed.other": lazy_ngettext(
            "{count} release not sent yet ({problem}). Trying again.",
            "{count} releases not sent yet ({problem}). Trying again.",
            2,
        ),
        "gate.sending.one": lazy_ngettext(
            "Sending {count} release…", "Sending {count} releases…", 1
        ),
        "gate.sending.other": lazy_ngettext(
            "Sending {count} release…", "Sending {count} releases…", 2
        ),
        "request.ask_item": lazy_gettext("Ask for {student} for {adult}"),
        "request.refuse_item": lazy_gettext("Refuse {student} to {adult}"),
        "request.offline.one": lazy_ngettext(
            "Offline. {count} request is kept on this phone and sent when the network is back.",
            "Offline. {count} requests are kept on this phone and sent when the network is back.",
            1,
        ),
        "request.offline.other": lazy_ngettext(
            "Offline. {count} request is kept on this phone and sent when the network is back.",
            "Offline. {count} requests are kept on this phone and sent when the network is back.",
            2,
        ),
        "request.failed.one": lazy_ngettext(
            "{count} request not sent yet ({problem}). Trying again.",
            "{count} requests not sent yet ({problem}). Trying again.",
            1,
        ),
        "request.failed.other": lazy_ngettext(
            "{count} request not sent yet ({problem}). Trying again.",
            "{count} requests not sent yet ({problem}). Trying again.",
            2,
        ),
        "request.sending.one": lazy_ngettext(
            "Sending {count} request…", "Sending {count} requests…", 1
        ),
        "request.sending.other": lazy_ngettext(
            "Sending {count} request…", "Sending {count} requests…", 2
        ),
    }
)


def running() -> EmergencyEvent:
    """The running event of the caller's school, or a 409 saying there is none."""
    event = emergencies.running_event(g.principal.school)
    if event is None:
        raise Conflict(_("No emergency event is running."))
    return event


@bp.route("/")
@access(*STAFF)
def index():
    """Start an event (office), or the running one with its links; past events."""
    school = g.principal.school
    office = g.principal.has_role("admin", "office")
    return render_template(
        "emergency/index.html",
        event=emergencies.running_event(school),
        kinds=KIND_LABELS,
        office=office,
        past=emergencies.past_events(school) if office else [],
    )


@bp.route("/start", methods=["POST"])
@access("admin", "office")
def start():
    """Start an emergency event or drill: passes end and stop, every screen shows it."""
    event = emergencies.start_event(
        g.principal.school,
        current_actor(),
        kind=request.form.get("kind"),
        drill=request.form.get("drill") == "1",
        location=request.form.get("location"),
    )
    flash(
        _("%(event)s started. Hall passes have ended and are stopped.", event=event.title),
        "warning",
    )
    return redirect(url_for("emergency.command"))


@bp.route("/end", methods=["POST"])
@access("admin", "office")
def end():
    """End the running event with its summary; passes work again."""
    school = g.principal.school
    event = running()
    ended = emergencies.end_event(
        school, current_actor(), summary=emergency_roll.summary_of(school, event)
    )
    flash(_("%(event)s ended.", event=ended.title), "success")
    return redirect(url_for("emergency.event", event_id=ended.id))


@bp.route("/events/<int:event_id>")
@access("admin", "office")
def event(event_id: int):
    """One event's report (printable): timeline, time to full accounting, releases,
    still missing and not released."""
    school = g.principal.school
    found = emergencies.load_event(school, event_id)
    return render_template(
        "emergency/event.html",
        event=found,
        report=emergency_report.report(school, found),
        recorded=reunification.recorded_text,
    )


@bp.route("/events/<int:event_id>/report.csv")
@access("admin", "office")
def event_csv(event_id: int):
    """The event's report as CSV: one row per student (roll mark, release)."""
    school = g.principal.school
    found = emergencies.load_event(school, event_id)
    audit.record("emergency.report_csv", school_id=school.id, target=found)
    prefix = "drill" if found.drill else "emergency"
    return csv_download(
        f"{prefix}-{found.kind}-{found.started_at:%Y-%m-%d}.csv",
        csv_text(emergency_report.csv_rows(school, found), partial(safe_cell, yes_no=True)),
    )


# ------------------------------------------------------------------------ roll


def _group(event: EmergencyEvent) -> tuple[SchoolClass | None, list[SchoolClass]]:
    """The group this page takes roll for (?class_id=, else the teacher's class then)."""
    school = g.principal.school
    groups = emergency_roll.groups_at_start(school, event)
    mine = emergency_roll.teacher_groups(school, g.principal.user.id, event)
    wanted = request.args.get("class_id")
    if wanted:
        return school_record(SchoolClass, wanted, school.id, _("No such class.")), groups
    return (mine[0] if mine else None), groups


def _render_roll(event: EmergencyEvent | None, section: SchoolClass | None, version: int) -> str:
    school = g.principal.school
    rows = emergency_roll.class_roll(school, event, section) if event and section else []
    return render_template(
        "emergency/partials/roll_list.html",
        event=event,
        section=section,
        rows=rows,
        choices=emergency_roll.MARK_CHOICES,
        version=version,
    )


@bp.route("/roll")
@access(*STAFF)
def roll():
    """Take roll on a phone or tablet: the class list of the group, a tap per student."""
    school = g.principal.school
    event = emergencies.running_event(school)
    section, groups = _group(event) if event else (None, [])
    version = live.current(school.id, emergencies.TOPIC)
    return render_template(
        "emergency/roll.html",
        event=event,
        section=section,
        groups=groups,
        roll_list=_render_roll(event, section, version),
    )


@bp.route("/roll/<int:class_id>/list")
@access(*STAFF)
def roll_list(class_id: int):
    """Live region: one group's roll list (204 while unchanged)."""
    school = g.principal.school
    section = school_record(SchoolClass, class_id, school.id, _("No such class."))
    return live.poll(
        school.id,
        emergencies.TOPIC,
        lambda version: _render_roll(emergencies.running_event(school), section, version),
    )


@bp.route("/roll/mark", methods=["POST"])
@access(*STAFF)
def mark():
    """One roll mark from a phone's outbox (idempotent by its client key): JSON."""
    school = g.principal.school
    form = request.form
    event = running()
    if form.get("event") not in (None, "", str(event.id)):
        raise Conflict(_("This mark was made during an event that has ended: it was not saved."))
    marked = emergency_roll.mark_student(
        school,
        current_actor(),
        event,
        student_id=form.get("student_id"),
        status=form.get("status"),
        class_id=form.get("class_id"),
        with_staff=form.get("with_staff"),
        key=form.get("key"),
        at_ms=form.get("at"),
    )
    return jsonify(
        student_id=marked.mark.student_id,
        status=marked.mark.status,
        label=marked.mark.label,
        changed=marked.changed,
        note=marked.note,
    )


@bp.route("/roll/find")
@access(*STAFF)
def find():
    """Students to add to a group (by name or student number): a partial."""
    school = g.principal.school
    event = running()
    section = school_record(SchoolClass, request.args.get("class_id"), school.id, _("No class."))
    text = search_text(request.args.get("q", ""))
    found = search_students(school, text, limit=FIND_LIMIT) if len(text) >= 2 else []
    return render_template(
        "emergency/partials/find.html", event=event, section=section, found=found, q=text
    )


# ------------------------------------------------------------------- command view


def _render_board(version: int) -> str:
    school = g.principal.school
    event = emergencies.running_event(school)
    return render_template(
        "emergency/partials/board.html",
        event=event,
        board=emergency_roll.board(school, event) if event else None,
        version=version,
    )


@bp.route("/command")
@access(*COMMAND)
def command():
    """The command view (office, TV, laptop): missing names first, then every group."""
    version = live.current(g.principal.school_id, emergencies.TOPIC)
    return render_template("emergency/command.html", board_html=_render_board(version))


@bp.route("/command/board")
@access(*COMMAND)
def command_board():
    """Live region of the command view (204 while unchanged)."""
    return live.poll(g.principal.school_id, emergencies.TOPIC, _render_board)

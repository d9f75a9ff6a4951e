"""Calls to the office, the screens: the office's page (find a student, call them, today's
calls live) and the class teacher's tablet region (Send, or "not in class").

Thin views over `hallpass.office_calls`: they parse and authorise, the services keep the
rules. A refusal (a sweep, a call already answered) is a domain error the app answers
with its message and a 4xx; on htmx requests it shows next to the button tapped
(`data-answer-in`). Names travel only in POST bodies and pages, never in URLs.
"""

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from hallpass import bp, office_calls
from hallpass.models import OfficeCall
from hallpass.policy import read_policy
from hallpass.rules import room_topic
from shared import live
from shared.access import access, watched_room
from shared.audit import current_actor
from shared.errors import DomainError, InvalidInput, NotFound, rerender
from shared.extensions import db
from shared.forms import parse_id
from shared.models import Room
from shared.students import search_students

#: Who calls students to the office.
CALLERS = ("admin", "office")


def _render_list(version: int | None = None) -> str:
    school = g.principal.school
    if version is None:
        version = live.current(school.id, office_calls.OFFICE_TOPIC)
    return render_template(
        "hallpass/partials/office_call_list.html",
        calls=office_calls.calls_today(school),
        version=version,
    )


def _page_context() -> dict:
    school = g.principal.school
    return {
        "destinations": office_calls.office_destinations(school.id),
        "sweeping": read_policy(school).sweep_started_at is not None,
        "call_list": _render_list(),
    }


@bp.route("/office-calls")
@access(*CALLERS)
def office_calls_page():
    """Call to the office: find a student, call them, and today's calls, live."""
    return render_template("hallpass/office_calls.html", form={}, **_page_context())


@bp.route("/office-calls/students", methods=["POST"])
@access(*CALLERS)
def office_call_students():
    """Type-ahead: the students matching what is typed (POST: names stay out of URLs)."""
    query = request.form.get("q", "").strip()[:100]
    return render_template(
        "hallpass/partials/office_call_students.html",
        query=query,
        found=search_students(g.principal.school, query),
    )


@bp.route("/office-calls", methods=["POST"])
@access(*CALLERS)
def office_call_create():
    """Call the chosen student to the chosen office (optionally with their things)."""
    form = request.form
    try:
        student_id = parse_id(form.get("student_id"), field="student_id", label=_("Student"))
        if student_id is None:
            raise InvalidInput(_("Find the student and choose them."), field="student_id")
        call = office_calls.call_student(
            g.principal.school,
            current_actor(),
            student_id=student_id,
            destination_id=parse_id(
                form.get("destination_id"), field="destination_id", label=_("Office")
            ),
            note=form.get("note", ""),
            bring_things=form.get("bring_things") == "1",
        )
    except DomainError as error:
        return rerender(
            "hallpass/office_calls.html", error, reload=_page_context, form=form.to_dict()
        )
    if call.from_room_id is None:
        flash(
            _("%(name)s has no class now: the call waits here.", name=call.student.display_name),
            "warning",
        )
    else:
        flash(
            _(
                "%(name)s is called: room %(room)s's tablet shows it.",
                name=call.student.display_name,
                room=call.from_room.name,
            ),
            "success",
        )
    return redirect(url_for("hallpass.office_calls_page"))


@bp.route("/office-calls/list")
@access(*CALLERS)
def office_call_list():
    """Live region: today's calls to the office (204 while unchanged)."""
    return live.poll(g.principal.school_id, office_calls.OFFICE_TOPIC, _render_list)


def _office_action(call_id: int, action) -> str:
    """Run an office action (`office_calls.cancel`, ...) on a call; the fresh list."""
    action(g.principal.school, current_actor(), call_id=call_id)
    return _render_list()


@bp.route("/office-calls/<int:office_call_id>/cancel", methods=["POST"])
@access(*CALLERS)
def office_call_cancel(office_call_id: int):
    """Take back a call not yet sent."""
    return _office_action(office_call_id, office_calls.cancel)


@bp.route("/office-calls/<int:office_call_id>/route", methods=["POST"])
@access(*CALLERS)
def office_call_route(office_call_id: int):
    """A call waiting as "no class now": send it to the class the student has now."""
    return _office_action(office_call_id, office_calls.try_class_again)


@bp.route("/office-calls/<int:office_call_id>/arrived", methods=["POST"])
@access(*CALLERS)
def office_call_arrived(office_call_id: int):
    """The student is at the office."""
    return _office_action(office_call_id, office_calls.mark_arrived)


@bp.route("/office-calls/<int:office_call_id>/end", methods=["POST"])
@access(*CALLERS)
def office_call_end(office_call_id: int):
    """End the call's pass: the student went home, or back to class."""
    return _office_action(office_call_id, office_calls.end_call_pass)


# ------------------------------------------------------------------ the teacher's tablet


def render_room_calls(room: Room, version: int | None = None) -> str:
    """The tablet's region of the calls waiting for this room's Send."""
    if version is None:
        version = live.current(room.school_id, room_topic(room.id))
    return render_template(
        "hallpass/partials/room_calls.html",
        room=room,
        calls=office_calls.room_calls(g.principal.school, room.id),
        version=version,
    )


@bp.route("/rooms/<int:room_id>/calls")
@access("admin", "office", "teacher")
def room_calls(room_id: int):
    """Live region: calls to the office waiting for this room (204 while unchanged)."""
    room = watched_room(room_id)
    return live.poll(room.school_id, room_topic(room.id), lambda v: render_room_calls(room, v))


def _room_call(call_id: int) -> Room:
    """The room of a waiting call of this school, for a caller who may answer for it."""
    call = db.session.get(OfficeCall, call_id)
    if call is None or call.school_id != g.principal.school_id or call.from_room_id is None:
        raise NotFound(_("There is nothing here."))
    return watched_room(call.from_room_id)


@bp.route("/office-calls/<int:office_call_id>/send", methods=["POST"])
@access("admin", "office", "teacher")
def office_call_send(office_call_id: int):
    """The class teacher's one tap: the student goes to the office (the pass starts)."""
    room = _room_call(office_call_id)
    office_calls.send(g.principal.school, current_actor(), call_id=office_call_id)
    return render_room_calls(room)


@bp.route("/office-calls/<int:office_call_id>/not-here", methods=["POST"])
@access("admin", "office", "teacher")
def office_call_not_here(office_call_id: int):
    """The class teacher answers that the student is not in class."""
    room = _room_call(office_call_id)
    office_calls.not_in_class(g.principal.school, current_actor(), call_id=office_call_id)
    return render_room_calls(room)

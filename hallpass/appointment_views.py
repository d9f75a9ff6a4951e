"""Appointment views: the scheduler's page (schedule, today's list live, cancel) and the
tablet's "coming up" region of a room (release with one tap, or decline with a reason).

The rules are in `hallpass.appointments`; here the form is read, the caller's room is
checked (`watched_room`: a teacher releases only from a room where they teach) and the
one region that changed is answered. Students are found by typed name or number in a
POST form, so no name ends up in a URL.
"""

from flask import g, render_template, request
from flask_babel import gettext as _

from hallpass import appointment_lists, appointments, bp, rules
from hallpass.appointments import When
from hallpass.rules import RuleBlocked
from hallpass.views import render_room_passes
from shared import live
from shared.access import access, watched_room
from shared.audit import current_actor
from shared.errors import DomainError, InvalidInput, NotFound, rerender
from shared.forms import parse_bool, parse_clock, parse_date, parse_id
from shared.models import Room
from shared.schedule import period_names, school_today
from shared.students import search_students
from shared.timeutil import utcnow

SCHEDULERS = ("admin", "office", "teacher", "staff")
PAGE = "hallpass/appointments.html"


def _render_today(version: int | None = None) -> str:
    school, now = g.principal.school, utcnow()
    if version is None:
        version = live.current(school.id, rules.APPOINTMENTS_TOPIC)
    day = appointment_lists.scheduler_day(school, g.principal.user.id, now=now)
    return render_template(
        "hallpass/partials/appointments_today.html",
        appointments=day,
        status_of=lambda a: appointments.shown_status(a, now),
        refresh_in=appointment_lists.next_change(day, now),
        version=version,
    )


def _page_context(form=None) -> dict:
    school = g.principal.school
    return dict(
        form=form,
        destinations=appointment_lists.schedulable_destinations(school, g.principal),
        periods=period_names(school),
        today=school_today(school),
        today_list=_render_today(),
    )


@bp.route("/appointments")
@access(*SCHEDULERS)
def appointments_page():
    """The scheduler's page: schedule an appointment, and today's appointments, live."""
    return render_template(PAGE, **_page_context())


def _student_from(text: str | None) -> int:
    """The one student the typed name or number finds (never a guess among several)."""
    found = search_students(g.principal.school, text, limit=2)
    if not found:
        raise InvalidInput(_("Student: nobody matches; type a name or a number."), field="student")
    if len(found) > 1 and found[0].student_number.lower() != (text or "").strip().lower():
        raise InvalidInput(
            _("Student: several match; type more of the name, or the number."), field="student"
        )
    return found[0].id


@bp.route("/appointments", methods=["POST"])
@access(*SCHEDULERS)
def appointments_create():
    """Schedule an appointment (weekly until a day, if asked)."""
    form, school = request.form, g.principal.school
    try:
        repeat = parse_bool(form.get("repeat"))
        when = When(
            day=parse_date(
                form.get("day"), field="day", label=_("Day"), default=school_today(school)
            ),
            at=parse_clock(form.get("time"), field="time", label=_("Time")),
            period=(form.get("period") or "").strip()[:32] or None,
            repeat_until=parse_date(
                form.get("until"), field="until", label=_("Repeat until"), required=repeat
            )
            if repeat
            else None,
        )
        if when.at is not None and when.period is not None:
            raise InvalidInput(_("Choose a time or a period, not both."), field="time")
        destination_id = parse_id(
            form.get("destination_id"), field="destination_id", label=_("Destination")
        )
        if destination_id is None:
            raise InvalidInput(_("Destination: choose one from the list."), field="destination_id")
        made = appointments.schedule(
            school,
            current_actor(),
            g.principal,
            student_id=_student_from(form.get("student")),
            destination_id=destination_id,
            when=when,
            note=form.get("note", ""),
        )
    except DomainError as error:
        return rerender(PAGE, error, reload=lambda: _page_context(form=form))
    message = (
        _("Scheduled.")
        if len(made) == 1
        else _("Scheduled: %(count)s weeks.", count=str(len(made)))
    )
    return render_template(PAGE, done=message, **_page_context())


@bp.route("/appointments/today")
@access(*SCHEDULERS)
def appointments_today():
    """Live region: the caller's appointments today and their statuses (204 unchanged)."""
    return live.poll(g.principal.school_id, rules.APPOINTMENTS_TOPIC, _render_today)


@bp.route("/appointments/<int:appointment_id>/cancel", methods=["POST"])
@access(*SCHEDULERS)
def appointment_cancel(appointment_id: int):
    """Call an appointment off (whoever scheduled it, the office or an admin)."""
    appointments.cancel(
        g.principal.school, current_actor(), g.principal, appointment_id=appointment_id
    )
    return _render_today()


# --------------------------------------------------------------- the tablet's region


def _render_room(room: Room, version: int | None = None) -> str:
    now = utcnow()
    if version is None:
        version = live.current(room.school_id, rules.room_topic(room.id))
    coming = appointment_lists.room_coming_up(g.principal.school, room.id, now)
    return render_template(
        "hallpass/partials/room_appointments.html",
        room=room,
        appointments=coming,
        due=lambda a: appointments.is_due(a, now),
        refresh_in=appointment_lists.next_change(coming, now),
        version=version,
    )


def render_room_appointments(room: Room) -> str:
    """The tablet's "coming up" region, for the tablet page to include."""
    return _render_room(room)


@bp.route("/rooms/<int:room_id>/appointments")
@access("admin", "office", "teacher")
def room_appointments(room_id: int):
    """Live region: the room's appointments coming up and due now (204 while unchanged)."""
    room = watched_room(room_id)
    return live.poll(room.school_id, rules.room_topic(room.id), lambda v: _render_room(room, v))


def _releasing_room(appointment_id: int) -> tuple[int, Room]:
    """The appointment, and its student's class room, which the caller must watch."""
    school = g.principal.school
    appointment = appointments.get_appointment(school, appointment_id)
    room = appointment_lists.room_of(school, appointment)
    if room is None:
        raise NotFound(_("There is nothing here."))
    return appointment.id, watched_room(room.id)


@bp.route("/appointments/<int:appointment_id>/release", methods=["POST"])
@access("admin", "office", "teacher")
def appointment_release(appointment_id: int):
    """Release the student: their pass starts (with an override reason, if a rule said no)."""
    appointment_id, room = _releasing_room(appointment_id)
    try:
        appointments.release(
            g.principal.school,
            current_actor(),
            appointment_id=appointment_id,
            override_reason=request.form.get("override_reason"),
        )
    except RuleBlocked as blocked:
        return rerender(
            "hallpass/partials/appointment_blocked.html",
            blocked.message,
            status=blocked.status_code,
            blocked=blocked,
            appointment_id=appointment_id,
        )
    return _render_room(room) + render_room_passes(room, oob=True)


@bp.route("/appointments/<int:appointment_id>/decline", methods=["POST"])
@access("admin", "office", "teacher")
def appointment_decline(appointment_id: int):
    """Keep the student in class, with a reason the scheduler sees."""
    appointment_id, room = _releasing_room(appointment_id)
    appointments.decline(
        g.principal.school,
        current_actor(),
        appointment_id=appointment_id,
        reason=request.form.get("reason", ""),
    )
    return _render_room(room)

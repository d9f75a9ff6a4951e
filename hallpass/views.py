"""Hall pass views: the teacher's tablet (two taps to a pass), the room's live pass list,
students' requests and wait lines to decide on, printable pass slips, hallway and sweep.
"""

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from hallpass import bp, destinations, pass_requests, rules, tokens, wait_line
from hallpass.models import EndedBy, HallPass, PassRequest
from hallpass.office_call_views import render_room_calls
from hallpass.office_calls import call_passes
from hallpass.passes import account_for, end_pass, end_sweep, out_of_class, start_pass, start_sweep
from hallpass.policy import read_policy
from hallpass.room_qr import render_room_qr, room_qr_region
from hallpass.rules import RuleBlocked
from hallpass.tardy_views import render_class_tardies
from shared import live
from shared.access import access, school_record, watched_room
from shared.audit import current_actor
from shared.errors import Forbidden, InvalidInput, NotFound
from shared.extensions import db
from shared.formats import format_number
from shared.models import Enrollment, Room, SchoolClass, Student
from shared.qr import qr_svg
from shared.schedule import class_in_session, current_period, teacher_classes
from shared.timeutil import utcnow

STAFF = ("admin", "office", "teacher", "staff")


def _class_students(section: SchoolClass) -> list[Student]:
    return list(
        db.session.scalars(
            select(Student)
            .join(Enrollment, Enrollment.student_id == Student.id)
            .where(Enrollment.class_id == section.id, Student.active.is_(True))
            .order_by(Student.first_name, Student.last_name)
        )
    )


def _render_room_passes(room: Room, version: int | None = None, *, oob: bool = False) -> str:
    if version is None:
        version = live.current(room.school_id, rules.room_topic(room.id))
    passes = db.session.scalars(
        select(HallPass)
        .where(HallPass.from_room_id == room.id, HallPass.status == "active")
        .options(joinedload(HallPass.student), joinedload(HallPass.destination))
        .order_by(HallPass.started_at)
    ).all()
    return render_template(
        "hallpass/partials/room_passes.html", room=room, passes=passes, version=version, oob=oob
    )


#: The tablet's other regions swap the pass list too (an appointment released).
render_room_passes = _render_room_passes


def _render_room_requests(room: Room, version: int | None = None) -> str:
    if version is None:
        version = live.current(room.school_id, rules.room_topic(room.id))
    return render_template(
        "hallpass/partials/room_requests.html",
        room=room,
        requests=pass_requests.room_requests(g.principal.school, room.id),
        version=version,
    )


@bp.route("/")
@access(*STAFF)
def index():
    """The teacher's tablet: the class in session, two taps to a pass, this room's passes."""
    school, now = g.principal.school, utcnow()
    classes = (
        teacher_classes(school, g.principal.user.id) if g.principal.has_role("teacher") else []
    )
    chosen_id = request.args.get("class_id", type=int)
    section = next((c for c in classes if c.id == chosen_id), None) or class_in_session(
        school, g.principal.user.id, now
    )
    room = section.room if section else None
    room_passes = _render_room_passes(room) if room else None
    # Here, not at the top: appointment_views builds on this module's pass list.
    from hallpass.appointment_views import render_room_appointments

    return render_template(
        "hallpass/index.html",
        period=current_period(school, now),
        section=section,
        classes=classes,
        students=_class_students(section) if section else [],
        destinations=destinations.active_destinations(school.id),
        room_passes=room_passes,
        room_requests=_render_room_requests(room) if room else None,
        room_calls=render_room_calls(room) if room else None,
        class_tardies=render_class_tardies(section) if section else None,
        room_appointments=render_room_appointments(room) if room else None,
        room_qr=render_room_qr(room, "hallpass.room_qr", room_id=room.id) if room else None,
        sweeping=read_policy(school).sweep_started_at is not None,
    )


@bp.route("/rooms/<int:room_id>/passes")
@access("admin", "office", "teacher")
def room_passes(room_id: int):
    """Live region: the active passes of one room (204 while unchanged)."""
    room = watched_room(room_id)
    return live.poll(
        room.school_id,
        rules.room_topic(room.id),
        lambda version: _render_room_passes(room, version),
    )


@bp.route("/rooms/<int:room_id>/requests")
@access("admin", "office", "teacher")
def room_requests(room_id: int):
    """Live region: the room's requests, wait line places and held places (204 unchanged)."""
    room = watched_room(room_id)
    return live.poll(
        room.school_id,
        rules.room_topic(room.id),
        lambda version: _render_room_requests(room, version),
    )


@bp.route("/rooms/<int:room_id>/qr")
@access("admin", "office", "teacher")
def room_qr(room_id: int):
    """Live region: the room's rotating QR code for students' phones."""
    return room_qr_region(watched_room(room_id), "hallpass.room_qr", room_id=room_id)


def _room_request(request_id: int) -> tuple[PassRequest, Room]:
    """A request of this school from a room the caller may decide for."""
    pass_request = school_record(PassRequest, request_id, g.principal.school_id)
    if pass_request.from_room_id is None:
        raise NotFound(_("There is nothing here."))
    return pass_request, watched_room(pass_request.from_room_id)


def _requests_answer(room: Room):
    """The fresh requests region, and the pass list swapped out of band."""
    return _render_room_requests(room) + _render_room_passes(room, oob=True)


def _decide_request(request_id: int, decide) -> str:
    """Run a teacher's decision (`pass_requests.deny_request`, ...) on a request of their room."""
    pass_request, room = _room_request(request_id)
    decide(g.principal.school, current_actor(), request_id=pass_request.id)
    return _requests_answer(room)


@bp.route("/requests/<int:request_id>/approve", methods=["POST"])
@access("admin", "office", "teacher")
def approve_request(request_id: int):
    """Approve a student's request (or tap Go on a held place): the pass starts."""
    pass_request, room = _room_request(request_id)
    try:
        pass_requests.approve_request(
            g.principal.school,
            current_actor(),
            request_id=pass_request.id,
            override_reason=request.form.get("override_reason"),
        )
    except RuleBlocked as blocked:
        db.session.rollback()
        pass_request, room = _room_request(request_id)
        return render_template(
            "hallpass/partials/request_blocked.html", blocked=blocked, pass_request=pass_request
        ), blocked.status_code
    return _requests_answer(room)


@bp.route("/requests/<int:request_id>/deny", methods=["POST"])
@access("admin", "office", "teacher")
def deny_request(request_id: int):
    """Deny a request, or take a student out of the wait line."""
    return _decide_request(request_id, pass_requests.deny_request)


@bp.route("/requests/<int:request_id>/queue", methods=["POST"])
@access("admin", "office", "teacher")
def queue_request(request_id: int):
    """Put a request whose destination is full into that destination's wait line."""
    return _decide_request(request_id, wait_line.queue_request)


@bp.route("/wait-line", methods=["POST"])
@access("admin", "office", "teacher")
def join_wait_line():
    """The teacher puts a student in a full destination's wait line."""
    room = watched_room(request.form.get("room_id"))
    student_id = request.form.get("student_id", type=int)
    destination_id = request.form.get("destination_id", type=int)
    if student_id is None or destination_id is None:
        raise InvalidInput(_("Tap a student, then a destination."))
    wait_line.join_wait_line(
        g.principal.school,
        current_actor(),
        student_id=student_id,
        destination_id=destination_id,
        from_room_id=room.id,
        source="teacher",
    )
    return _requests_answer(room)


@bp.route("/passes/<int:pass_id>/slip")
@access("admin", "office", "teacher")
def slip(pass_id: int):
    """A printable paper pass: QR code, destination and times, and the student's name."""
    hall_pass = school_record(HallPass, pass_id, g.principal.school_id)
    if hall_pass.from_room_id is not None:
        watched_room(hall_pass.from_room_id)
    elif not g.principal.has_role("admin", "office"):
        raise Forbidden(_("You do not have access to this page."))
    return render_template(
        "hallpass/slip.html",
        hall_pass=hall_pass,
        qr=qr_svg(tokens.pass_url(hall_pass)),
        ends_at=hall_pass.due_at,
    )


@bp.route("/passes", methods=["POST"])
@access("admin", "office", "teacher")
def start():
    """Start a pass: student and destination tapped on the tablet."""
    room = watched_room(request.form.get("room_id"))
    student_id = request.form.get("student_id", type=int)
    destination_id = request.form.get("destination_id", type=int)
    if student_id is None or destination_id is None:
        raise InvalidInput(_("Tap a student, then a destination."))
    try:
        start_pass(
            g.principal.school,
            current_actor(),
            student_id=student_id,
            destination_id=destination_id,
            from_room_id=room.id,
            source="teacher",
            urgent=request.form.get("urgent") == "1",
            override_reason=request.form.get("override_reason"),
        )
    except RuleBlocked as blocked:
        db.session.rollback()
        return render_template(
            "hallpass/partials/blocked.html", blocked=blocked, destination_id=destination_id
        ), blocked.status_code
    return _render_room_passes(room)


@bp.route("/passes/<int:pass_id>/end", methods=["POST"])
@access("admin", "office", "teacher")
def end(pass_id: int):
    """End a pass: the student is back."""
    hall_pass = school_record(HallPass, pass_id, g.principal.school_id)
    room = watched_room(hall_pass.from_room_id) if hall_pass.from_room_id else None
    end_pass(g.principal.school, current_actor(), pass_id=pass_id, ended_by="staff")
    return _render_room_passes(room) if room else ("", 204)


def _hallway_viewer() -> None:
    """Office, admin and hall staff, or a display paired to show the hallway."""
    device = g.principal.device
    if device is not None and device.purpose != "hallway":
        raise Forbidden(_("This screen is paired for another purpose."))


#: Who may end a pass from the hallway list: the people who walk the halls, never a screen.
HALLWAY_ENDERS = ("admin", "office", "staff")


def _render_hallway(version: int):
    destination_id = request.args.get("destination", type=int)
    overdue_only = request.args.get("overdue") == "1"
    out = out_of_class(
        g.principal.school_id, destination_id=destination_id, overdue_only=overdue_only
    )
    return render_template(
        "hallpass/partials/hallway.html",
        passes=out,
        version=version,
        destination_id=destination_id,
        overdue_only=overdue_only,
        may_end=g.principal.device is None and g.principal.has_role(*HALLWAY_ENDERS),
        office_calls=call_passes(g.principal.school_id, [p.id for p, _overdue in out]),
    )


@bp.route("/hallway")
@access("admin", "office", "staff", "device:display")
def hallway():
    """Every student out of class, school-wide, overdue first, live."""
    _hallway_viewer()
    version = live.current(g.principal.school_id, rules.HALLWAY_TOPIC)
    return render_template(
        "hallpass/hallway.html",
        destinations=destinations.active_destinations(g.principal.school_id),
        hallway_list=_render_hallway(version),
    )


@bp.route("/hallway/list")
@access("admin", "office", "staff", "device:display")
def hallway_list():
    """Live region of the hallway overview (204 while unchanged)."""
    _hallway_viewer()
    return live.poll(g.principal.school_id, rules.HALLWAY_TOPIC, _render_hallway)


@bp.route("/hallway/passes/<int:pass_id>/end", methods=["POST"])
@access(*HALLWAY_ENDERS)
def hallway_end(pass_id: int):
    """End a pass from the hallway list: the student came back without ending it, and the
    hall staff member who sees them does it from their phone (audited as theirs)."""
    end_pass(g.principal.school, current_actor(), pass_id=pass_id, ended_by=EndedBy.STAFF)
    return _render_hallway(live.current(g.principal.school_id, rules.HALLWAY_TOPIC))


@bp.route("/sweep", methods=["GET", "POST"])
@access("admin", "office")
def sweep():
    """Emergency sweep: stop all passes, account for every student out, then restore."""
    school = g.principal.school
    actor = current_actor()
    if request.method == "POST":
        action = request.form.get("action")
        if action == "start":
            out = start_sweep(school, actor)
            flash(
                ngettext(
                    "Sweep started: no new passes. %(num)d student is out.",
                    "Sweep started: no new passes. %(num)d students are out.",
                    out,
                ),
                "warning",
            )
        elif action == "account":
            pass_id = request.form.get("pass_id", type=int)
            if pass_id is None:
                raise InvalidInput(_("Choose a student to mark as accounted for."))
            found = account_for(school, actor, pass_id=pass_id)
            flash(_("%(name)s is accounted for.", name=found.student.display_name), "success")
        elif action == "end":
            still_out = end_sweep(school, actor)
            ended = _("Sweep ended: passes work again.")
            if still_out:
                ended += " " + _("Not accounted for: %(count)s.", count=format_number(still_out))
            flash(ended, "success")
        else:
            raise InvalidInput(_("Unknown sweep action."))
        return redirect(url_for("hallpass.sweep"))
    version = live.current(school.id, rules.HALLWAY_TOPIC)
    policy = read_policy(school)
    passes = _active_passes(school.id)
    sweeping = policy.sweep_started_at is not None
    return render_template(
        "hallpass/sweep.html",
        policy=policy,
        passes=passes,
        sweep_list=_render_sweep_list(version, policy, passes) if sweeping else "",
    )


def _active_passes(school_id: int) -> list[HallPass]:
    return list(
        db.session.scalars(
            select(HallPass)
            .where(HallPass.school_id == school_id, HallPass.status == "active")
            .order_by(HallPass.started_at)
        )
    )


def _render_sweep_list(version: int, policy=None, passes=None) -> str:
    school = g.principal.school
    return render_template(
        "hallpass/partials/sweep_list.html",
        policy=policy or read_policy(school),
        passes=_active_passes(school.id) if passes is None else passes,
        version=version,
    )


@bp.route("/sweep/list")
@access("admin", "office")
def sweep_list():
    """Live region of the sweep: every student not yet accounted for (204 while unchanged)."""
    return live.poll(g.principal.school_id, rules.HALLWAY_TOPIC, _render_sweep_list)

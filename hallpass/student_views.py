"""Hall pass views for students: the room kiosk, the rotating room QR and pass checks.

What a student can do, and why it cannot be turned against other students:

- Kiosk (a paired device bound to one room): the student scans or types their ID number.
  The chosen student travels between the two taps only as a signed value in a POST
  field, bound to this kiosk and valid for a minute; no number or id is ever in a URL.
  The kiosk shows the student's first name and last initial only, no staff data and no
  other student. Someone typing a classmate's number can only do what that classmate
  could do at this kiosk, in front of the teacher, whose room view lists every pass and
  request live (and can end or deny it); every action is audited with the device.
- Room QR: the classroom display shows a QR whose token is signed, bound to the room and
  to a one-minute step (the current and previous step are accepted), so a photo of it
  stops working within two minutes and only works for that room. The names offered are
  the class in session in that room (first name + last initial). A phone holds one room
  visit at a time in a signed, http-only cookie; while its pass or request is open it
  cannot start another, so one phone cannot send a string of classmates out. Only the
  browser that started a pass can end it with "I'm back", and only with a current room
  code, which proves the student is back in that room. Passes to destinations that need
  approval, and anything a rule refuses, become requests the teacher decides.
- Pass QR (/hallpass/p/<token>): a random token; anyone sees valid or not, destination
  and time left; signed-in staff of the pass's school also see who and from where.
"""

from __future__ import annotations

import re
from datetime import timedelta

from flask import current_app, g, make_response, render_template, request, url_for
from sqlalchemy import select

from hallpass import bp, services
from hallpass.models import Destination, HallPass, PassRequest
from hallpass.services import Actor, RuleBlocked
from shared import live
from shared.access import access, public
from shared.devices import register_device_screen
from shared.errors import DomainError, Forbidden, InvalidInput, NotFound
from shared.extensions import db
from shared.models import Room, School
from shared.qr import qr_svg
from shared.timeutil import local, utcnow

register_device_screen("kiosk", None, "Open the hall pass kiosk", "hallpass.kiosk")
register_device_screen(
    "classroom-display", None, "Open the room's pass QR code", "hallpass.classroom_display"
)

#: Cookie a phone keeps for its room visit (signed, http-only, only sent to /hallpass).
VISIT_COOKIE = "passline_room_visit"
#: Seconds a kiosk result stays on screen before the kiosk returns to its scan screen.
KIOSK_RETURN_SECONDS = 8
_PASS_URL = re.compile(r"/hallpass/p/([A-Za-z0-9_\-]{10,64})/?$")


def pass_url(hall_pass: HallPass) -> str:
    """The public URL in a pass's QR code."""
    return url_for("hallpass.verify_pass", token=hall_pass.token, _external=True)


def _school_time(school: School, dt):
    return local(dt, school.timezone)


def _student_chose(school: School, actor: Actor, mode: str, args: dict) -> HallPass | PassRequest:
    """The student's choice: go (a pass, or a request), ask the teacher, or join the line."""
    if mode == "go":
        return services.student_go(school, actor, **args)
    if mode == "ask":
        return services.ask_for_pass(
            school, actor, reason="The student asked after a rule said no.", **args
        )
    return services.join_wait_line(school, actor, **args)


# ------------------------------------------------------------------------- kiosk


def _device_room() -> Room:
    device = g.principal.device
    if device.room is None:
        raise Forbidden("This device is not bound to a room. Pair it again for a room.")
    return device.room


def _kiosk_result(kind: str, status: int = 200, **context):
    """A kiosk result screen that returns to the scan screen by itself."""
    return render_template(
        "hallpass/kiosk/result.html",
        kind=kind,
        room=_device_room(),
        return_seconds=KIOSK_RETURN_SECONDS,
        **context,
    ), status


def _kiosk_error(error: DomainError):
    db.session.rollback()
    return _kiosk_result("error", error.status_code, message=error.message)


def _kiosk_blocked(blocked: RuleBlocked, student_token: str, destination: Destination | None):
    db.session.rollback()
    return _kiosk_result(
        "blocked",
        blocked.status_code,
        message=services.student_message(blocked),
        blocked=blocked,
        student_token=student_token,
        destination=destination,
    )


def _started(hall_pass: HallPass) -> dict:
    return {"hall_pass": hall_pass, "pass_qr": qr_svg(pass_url(hall_pass))}


@bp.route("/kiosk")
@access("device:kiosk")
def kiosk():
    """The kiosk's scan screen: a student number input that keeps the focus."""
    return render_template("hallpass/kiosk/scan.html", room=_device_room())


@bp.route("/kiosk/scan", methods=["POST"])
@access("device:kiosk")
def kiosk_scan():
    """A student ID (or a pass QR, for arrival check-in) was scanned or typed."""
    school, device = g.principal.school, g.principal.device
    room = _device_room()
    value = (request.form.get("number") or "").strip()
    actor = Actor(device=device)
    try:
        found = _PASS_URL.search(value)
        if found:
            hall_pass = services.check_in(school, actor, token=found[1], room_id=room.id)
            return _kiosk_result("arrived", hall_pass=hall_pass)
        student = services.student_by_number(school, value)
        active = db.session.scalar(
            select(HallPass).where(HallPass.student_id == student.id, HallPass.status == "active")
        )
        if active is not None:
            if active.from_room_id != room.id:
                raise InvalidInput("You already have a pass from another room.")
            services.end_pass(school, actor, pass_id=active.id, ended_by="student")
            return _kiosk_result("back", student=student)
        token = services.kiosk_student_token(device, student)
        open_request = services.open_request_for(school, student.id)
        if open_request is not None:
            return _kiosk_result(
                "request",
                student=student,
                pass_request=open_request,
                rank=services.line_rank(open_request),
                student_token=token,
            )
    except DomainError as error:
        return _kiosk_error(error)
    return render_template(
        "hallpass/kiosk/choose.html",
        room=room,
        student=student,
        student_token=token,
        destinations=services.active_destinations(school.id),
    )


@bp.route("/kiosk/go", methods=["POST"])
@access("device:kiosk")
def kiosk_go():
    """The student tapped a destination: go, ask the teacher, or join the wait line."""
    school, device = g.principal.school, g.principal.device
    room = _device_room()
    token = request.form.get("student", "")
    mode = request.form.get("mode", "go")
    destination_id = request.form.get("destination_id", type=int)
    actor = Actor(device=device)
    destination = None
    try:
        student = services.student_from_kiosk_token(school, device, token)
        if destination_id is None or mode not in ("go", "ask", "line"):
            raise InvalidInput("Tap where you are going.")
        destination = db.session.get(Destination, destination_id)
        args = dict(
            student_id=student.id,
            destination_id=destination_id,
            from_room_id=room.id,
            source="kiosk",
        )
        result = _student_chose(school, actor, mode, args)
    except RuleBlocked as blocked:
        return _kiosk_blocked(blocked, token, destination)
    except DomainError as error:
        return _kiosk_error(error)
    if isinstance(result, HallPass):
        return _kiosk_result("started", student=student, **_started(result))
    return _kiosk_result(
        "request", student=student, pass_request=result, rank=services.line_rank(result)
    )


@bp.route("/kiosk/cancel", methods=["POST"])
@access("device:kiosk")
def kiosk_cancel():
    """The student takes back their open request at the kiosk."""
    school, device = g.principal.school, g.principal.device
    try:
        student = services.student_from_kiosk_token(school, device, request.form.get("student", ""))
        open_request = services.open_request_for(school, student.id)
        if open_request is None:
            raise NotFound("You have no open request.")
        services.cancel_request(
            school, Actor(device=device), request_id=open_request.id, student_id=student.id
        )
    except DomainError as error:
        return _kiosk_error(error)
    return _kiosk_result("cancelled", student=student)


# --------------------------------------------------------------------- room QR code


def render_room_qr(room: Room, endpoint: str, **url_args) -> str:
    """The room's QR region for the current step, polling `endpoint` for the next one."""
    now = utcnow()
    step = services.qr_step(now)
    url = url_for("hallpass.room_qr_page", token=services.room_qr_token(room, now), _external=True)
    return render_template(
        "hallpass/partials/room_qr.html",
        room=room,
        qr=qr_svg(url),
        version=step,
        poll_url=url_for(endpoint, v=step, **url_args),
    )


def room_qr_region(room: Room, endpoint: str, **url_args):
    """Live region of a room QR code: a new code every step, 204 within one."""
    if request.args.get("v", type=int) == services.qr_step(utcnow()):
        return "", 204
    return render_room_qr(room, endpoint, **url_args)


@bp.route("/display")
@access("device:classroom-display")
def classroom_display():
    """The classroom display: the room's QR code, changing every minute."""
    room = _device_room()
    return render_template(
        "hallpass/display.html",
        room=room,
        room_qr=render_room_qr(room, "hallpass.classroom_display_qr"),
    )


@bp.route("/display/qr")
@access("device:classroom-display")
def classroom_display_qr():
    """Live region of the classroom display's QR code."""
    return room_qr_region(_device_room(), "hallpass.classroom_display_qr")


def _visit() -> dict | None:
    return services.read_room_visit(request.cookies.get(VISIT_COOKIE))


def _visit_records(visit: dict | None) -> tuple[HallPass | None, PassRequest | None]:
    """The pass and the request the phone's cookie names (whatever their status)."""
    if visit is None:
        return None, None
    pass_request = db.session.get(PassRequest, visit["q"]) if visit["q"] else None
    if pass_request is not None and pass_request.school_id != visit["s"]:
        pass_request = None
    pass_id = visit["p"] or (pass_request.pass_id if pass_request else None)
    hall_pass = db.session.get(HallPass, pass_id) if pass_id else None
    if hall_pass is not None and hall_pass.school_id != visit["s"]:
        hall_pass = None
    return hall_pass, pass_request


def _visit_state(visit: dict | None) -> tuple[HallPass | None, PassRequest | None]:
    """The phone's active pass and open request, if any."""
    hall_pass, pass_request = _visit_records(visit)
    if hall_pass is not None and hall_pass.status != "active":
        hall_pass = None
    if pass_request is not None and pass_request.status not in services.OPEN:
        pass_request = None
    return hall_pass, pass_request


def _with_visit(response, room: Room, **ids):
    response = make_response(response)
    response.set_cookie(
        VISIT_COOKIE,
        services.room_visit_value(room, **ids),
        max_age=services.ROOM_VISIT_SECONDS,
        path=url_for("hallpass.index").rstrip("/") or "/",
        httponly=True,
        secure=current_app.config["SESSION_COOKIE_SECURE"],
        samesite="Lax",
    )
    return response


def _no_store(response):
    response = make_response(response)
    response.headers["Cache-Control"] = "no-store"
    return response


def _phone_page(template: str, status: int = 200, **context):
    return _no_store((render_template(template, **context), status))


@bp.route("/r/<token>")
@public
def room_qr_page(token: str):
    """A student scanned the room QR: pick name and destination, or say "I'm back"."""
    room = services.room_from_qr_token(token)
    school = db.session.get(School, room.school_id)
    visit = _visit()
    hall_pass, pass_request = _visit_state(visit)
    if hall_pass is not None and hall_pass.from_room_id == room.id:
        return _phone_page("hallpass/room/back.html", room=room, token=token, hall_pass=hall_pass)
    if hall_pass is not None or pass_request is not None:
        return _phone_page(
            "hallpass/room/visit.html",
            **_visit_context(school, visit, hall_pass, pass_request),
        )
    return _phone_page(
        "hallpass/room/pick.html",
        room=room,
        token=token,
        students=services.class_in_room(school, room),
        destinations=services.active_destinations(school.id),
    )


@bp.route("/r/<token>", methods=["POST"])
@public
def room_qr_go(token: str):
    """The student picked their name and a destination on their phone."""
    room = services.room_from_qr_token(token)
    school = db.session.get(School, room.school_id)
    hall_pass, pass_request = _visit_state(_visit())
    if hall_pass is not None or pass_request is not None:
        raise InvalidInput("This device already has a pass or a request open.")
    student_id = request.form.get("student_id", type=int)
    destination_id = request.form.get("destination_id", type=int)
    mode = request.form.get("mode", "go")
    if student_id is None or destination_id is None or mode not in ("go", "ask", "line"):
        raise InvalidInput("Pick your name, then where you are going.")
    students = {s.id: s for s in services.class_in_room(school, room)}
    student = students.get(student_id)
    if student is None:
        raise InvalidInput("Pick your name from the class in this room.")
    actor = Actor()
    args = dict(
        student_id=student.id, destination_id=destination_id, from_room_id=room.id, source="room_qr"
    )
    try:
        result = _student_chose(school, actor, mode, args)
    except RuleBlocked as blocked:
        db.session.rollback()
        return _phone_page(
            "hallpass/room/blocked.html",
            blocked.status_code,
            room=room,
            token=token,
            blocked=blocked,
            message=services.student_message(blocked),
            student_id=student_id,
            destination_id=destination_id,
        )
    if isinstance(result, HallPass):
        visit_ids = {"pass_id": result.id}
        hall_pass, pass_request = result, None
    else:
        visit_ids = {"request_id": result.id}
        hall_pass, pass_request = None, result
    visit = {"s": school.id, "r": room.id, "p": None, "q": None}
    page = _phone_page(
        "hallpass/room/visit.html", **_visit_context(school, visit, hall_pass, pass_request)
    )
    return _with_visit(page, room, **visit_ids)


@bp.route("/r/<token>/back", methods=["POST"])
@public
def room_qr_back(token: str):
    """ "I'm back": the phone that started the pass, with a current code of its room."""
    room = services.room_from_qr_token(token)
    school = db.session.get(School, room.school_id)
    hall_pass, _ = _visit_state(_visit())
    if hall_pass is None:
        raise NotFound("This device has no pass open. Tell your teacher you are back.")
    if hall_pass.from_room_id != room.id:
        raise Forbidden("Scan the code in the room you left from.")
    services.end_pass(school, Actor(), pass_id=hall_pass.id, ended_by="student")
    response = _phone_page("hallpass/room/welcome.html", room=room)
    response.delete_cookie(VISIT_COOKIE, path=url_for("hallpass.index").rstrip("/") or "/")
    return response


def _visit_context(school: School, visit, hall_pass, pass_request) -> dict:
    room_id = (
        hall_pass.from_room_id
        if hall_pass
        else pass_request.from_room_id
        if pass_request
        else visit["r"]
    )
    return {
        "school": school,
        "hall_pass": hall_pass,
        "pass_request": pass_request,
        "rank": services.line_rank(pass_request) if pass_request else None,
        "pass_qr": qr_svg(pass_url(hall_pass)) if hall_pass else None,
        "ends_at": (
            _school_time(
                school,
                hall_pass.started_at + timedelta(minutes=hall_pass.time_limit_minutes),
            )
            if hall_pass
            else None
        ),
        "version": live.current(school.id, services.room_topic(room_id)),
    }


@bp.route("/visit")
@public
def visit_status():
    """Live region of a phone's room visit: its request's answer, then its pass."""
    visit = _visit()
    if visit is None:
        raise NotFound("Nothing open on this device. Scan the room code.")
    school = db.session.get(School, visit["s"])
    if school is None:
        raise NotFound("Nothing open on this device. Scan the room code.")

    def render(_version: int):
        hall_pass, pass_request = _visit_records(visit)
        context = _visit_context(school, visit, hall_pass, pass_request)
        return _no_store(render_template("hallpass/partials/visit_status.html", **context))

    return live.poll(school.id, services.room_topic(visit["r"]), render)


@bp.route("/visit/cancel", methods=["POST"])
@public
def visit_cancel():
    """The phone takes back the request it made."""
    visit = _visit()
    _, pass_request = _visit_state(visit)
    if pass_request is None or pass_request.status not in services.OPEN:
        raise NotFound("This device has no open request.")
    school = db.session.get(School, pass_request.school_id)
    services.cancel_request(
        school, Actor(), request_id=pass_request.id, student_id=pass_request.student_id
    )
    response = _phone_page("hallpass/room/cancelled.html")
    response.delete_cookie(VISIT_COOKIE, path=url_for("hallpass.index").rstrip("/") or "/")
    return response


# ----------------------------------------------------------------------- pass QR


@bp.route("/p/<token>")
@public
def verify_pass(token: str):
    """A pass's QR: valid or not, destination, time left; staff of its school see more."""
    hall_pass = services.pass_by_token(token)
    if hall_pass is None:
        return _phone_page("hallpass/pass.html", 404, hall_pass=None)
    school = db.session.get(School, hall_pass.school_id)
    principal = g.get("principal")
    is_staff = bool(
        principal is not None
        and principal.user is not None
        and principal.school_id == hall_pass.school_id
        and principal.roles
    )
    now = utcnow()
    ends = hall_pass.started_at + timedelta(minutes=hall_pass.time_limit_minutes)
    return _phone_page(
        "hallpass/pass.html",
        hall_pass=hall_pass,
        school=school,
        is_staff=is_staff,
        valid=hall_pass.status == "active",
        overdue=hall_pass.status == "active" and now > ends,
        minutes_left=max(0, int((ends - now).total_seconds() // 60)),
        started_local=_school_time(school, hall_pass.started_at),
        ends_local=_school_time(school, ends),
        ended_local=_school_time(school, hall_pass.ended_at),
        arrived_local=_school_time(school, hall_pass.arrived_at),
    )

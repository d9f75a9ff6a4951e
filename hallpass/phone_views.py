"""Hall pass views for a student's own phone: the room QR visit, and pass checks.

What a student can do on their phone, and why it cannot be turned against other students
(the kiosk is `kiosk_views`):

- Room QR: the classroom display shows a QR whose token is signed, bound to the room and
  to a one-minute step (the current and previous step are accepted), so a photo of it
  stops working within two minutes and only works for that room. The names offered are
  the class in session in that room (first name + last initial), and the student proves
  it is them with the last digits of their student number (`student_check`, throttled
  like a sign-in), so nobody can send a classmate out. A phone holds one room
  visit at a time in a signed, http-only cookie; while its pass or request is open it
  cannot start another, so one phone cannot send a string of classmates out. Only the
  browser that started a pass can end it with "I'm back", and only with a current room
  code, which proves the student is back in that room. Passes to destinations that need
  approval, and anything a rule refuses, become requests the teacher decides.
- Pass QR (/hallpass/p/<token>): a random token; anyone sees valid or not, destination
  and time left; signed-in staff of the pass's school also see who and from where.
"""

from __future__ import annotations

from flask import current_app, g, make_response, render_template, request, url_for
from flask_babel import gettext as _

from hallpass import (
    appointment_lists,
    bp,
    destinations,
    pass_requests,
    passes,
    room_qr,
    rules,
    student_check,
    tokens,
    wait_line,
)
from hallpass.models import HallPass, PassRequest
from hallpass.rules import RuleBlocked
from shared import live
from shared.access import public
from shared.audit import Actor
from shared.errors import Forbidden, InvalidInput, NotFound, rerender
from shared.extensions import db
from shared.models import Room, School
from shared.qr import qr_svg
from shared.timeutil import local, utcnow

#: Cookie a phone keeps for its room visit (signed, http-only, only sent to /hallpass).
VISIT_COOKIE = "passline_room_visit"


def _school_time(school: School, dt):
    g.school_timezone = school.timezone  # the page's times (shared/formats.py)
    return local(dt, school.timezone)


def _visit() -> dict | None:
    return tokens.read_room_visit(request.cookies.get(VISIT_COOKIE))


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
    if pass_request is not None and pass_request.status not in rules.OPEN:
        pass_request = None
    return hall_pass, pass_request


def _with_visit(response, room: Room, **ids):
    response = make_response(response)
    response.set_cookie(
        VISIT_COOKIE,
        tokens.room_visit_value(room, **ids),
        max_age=tokens.ROOM_VISIT_SECONDS,
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
    room = room_qr.room_from_qr_token(token)
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
    return _phone_page("hallpass/room/pick.html", **_pick_context(school, room, token))


def _pick_context(school: School, room: Room, token: str) -> dict:
    return dict(
        room=room,
        token=token,
        students=tokens.class_in_room(school, room),
        destinations=destinations.active_destinations(school.id),
        digits=student_check.DIGITS,
    )


@bp.route("/r/<token>", methods=["POST"])
@public
def room_qr_go(token: str):
    """The student picked their name and a destination on their phone."""
    room = room_qr.room_from_qr_token(token)
    school = db.session.get(School, room.school_id)
    hall_pass, pass_request = _visit_state(_visit())
    if hall_pass is not None or pass_request is not None:
        raise InvalidInput(_("This device already has a pass or a request open."))
    student_id = request.form.get("student_id", type=int)
    destination_id = request.form.get("destination_id", type=int)
    mode = request.form.get("mode", "go")
    if student_id is None or destination_id is None or mode not in ("go", "ask", "line"):
        raise InvalidInput(_("Pick your name, then where you are going."))
    students = {s.id: s for s in tokens.class_in_room(school, room)}
    student = students.get(student_id)
    if student is None:
        raise InvalidInput(_("Pick your name from the class in this room."))
    typed = request.form.get(student_check.FIELD)
    try:
        student_check.confirm_student(student, typed, request.remote_addr)
    except InvalidInput as error:
        page = rerender(
            "hallpass/room/pick.html",
            error,
            reload=lambda: _pick_context(school, room, token),
            chosen_id=student_id,
        )
        return _no_store(page)
    actor = Actor()
    # An appointment due now: the student is told, whatever they asked for.
    appointment = appointment_lists.student_notice(school, student.id)
    args = dict(
        student_id=student.id, destination_id=destination_id, from_room_id=room.id, source="room_qr"
    )
    try:
        result = pass_requests.student_chose(school, actor, mode, args)
    except RuleBlocked as blocked:
        db.session.rollback()
        return _phone_page(
            "hallpass/room/blocked.html",
            blocked.status_code,
            room=room,
            token=token,
            blocked=blocked,
            message=rules.student_message(blocked),
            student_id=student_id,
            destination_id=destination_id,
            student_check=typed,
            appointment=appointment,
        )
    if isinstance(result, HallPass):
        visit_ids = {"pass_id": result.id}
        hall_pass, pass_request = result, None
    else:
        visit_ids = {"request_id": result.id}
        hall_pass, pass_request = None, result
    visit = {"s": school.id, "r": room.id, "p": None, "q": None}
    page = _phone_page(
        "hallpass/room/visit.html",
        appointment=appointment,
        **_visit_context(school, visit, hall_pass, pass_request),
    )
    return _with_visit(page, room, **visit_ids)


@bp.route("/r/<token>/back", methods=["POST"])
@public
def room_qr_back(token: str):
    """ "I'm back": the phone that started the pass, with a current code of its room."""
    room = room_qr.room_from_qr_token(token)
    school = db.session.get(School, room.school_id)
    hall_pass, _request = _visit_state(_visit())
    if hall_pass is None:
        raise NotFound(_("This device has no pass open. Tell your teacher you are back."))
    if hall_pass.from_room_id != room.id:
        raise Forbidden(_("Scan the code in the room you left from."))
    passes.end_pass(school, Actor(), pass_id=hall_pass.id, ended_by="student")
    response = _phone_page("hallpass/room/welcome.html", room=room)
    response.delete_cookie(VISIT_COOKIE, path=url_for("hallpass.index").rstrip("/") or "/")
    return response


def _visit_context(school: School, visit, hall_pass, pass_request) -> dict:
    g.school_timezone = school.timezone  # the page's times (shared/formats.py)
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
        "rank": wait_line.line_rank(pass_request) if pass_request else None,
        "pass_qr": qr_svg(tokens.pass_url(hall_pass)) if hall_pass else None,
        "ends_at": (
            _school_time(
                school,
                hall_pass.due_at,
            )
            if hall_pass
            else None
        ),
        "version": live.current(school.id, rules.room_topic(room_id)),
    }


@bp.route("/visit")
@public
def visit_status():
    """Live region of a phone's room visit: its request's answer, then its pass."""
    visit = _visit()
    if visit is None:
        raise NotFound(_("Nothing open on this device. Scan the room code."))
    school = db.session.get(School, visit["s"])
    if school is None:
        raise NotFound(_("Nothing open on this device. Scan the room code."))

    def render(_version: int):
        hall_pass, pass_request = _visit_records(visit)
        context = _visit_context(school, visit, hall_pass, pass_request)
        return _no_store(render_template("hallpass/partials/visit_status.html", **context))

    return live.poll(school.id, rules.room_topic(visit["r"]), render)


@bp.route("/visit/cancel", methods=["POST"])
@public
def visit_cancel():
    """The phone takes back the request it made."""
    visit = _visit()
    _pass, pass_request = _visit_state(visit)
    if pass_request is None or pass_request.status not in rules.OPEN:
        raise NotFound(_("This device has no open request."))
    school = db.session.get(School, pass_request.school_id)
    pass_requests.cancel_request(
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
    hall_pass = tokens.pass_by_token(token)
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
    ends = hall_pass.due_at
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

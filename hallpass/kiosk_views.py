"""Hall pass views for the room's paired devices: the kiosk and the classroom display.

- Kiosk (a paired device bound to one room): the student scans or types their ID number.
  The chosen student travels between the two taps only as a signed value in a POST
  field, bound to this kiosk and valid for a minute; no number or id is ever in a URL.
  The kiosk shows the student's first name and last initial only, no staff data and no
  other student. Someone typing a classmate's number can only do what that classmate
  could do at this kiosk, in front of the teacher, whose room view lists every pass and
  request live (and can end or deny it); every action is audited with the device.
  A pass QR scanned at the kiosk of its destination records the student's arrival.
  A kiosk bound to an office-kind room is the office's late arrivals kiosk: its scan
  screen opens that one (hallpass/tardy_views.py), where a pass QR still checks in.
- Classroom display (a paired device bound to one room): the room's rotating QR code
  (`room_qr`) that students scan with their own phones (`phone_views`).
"""

from __future__ import annotations

import re

from flask import g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from hallpass import (
    appointment_lists,
    bp,
    destinations,
    pass_requests,
    passes,
    room_qr,
    rules,
    tokens,
    wait_line,
)
from hallpass.models import Destination, HallPass, PassRequest
from hallpass.rules import RuleBlocked
from shared import live
from shared.access import access, school_record
from shared.audit import current_actor
from shared.errors import DomainError, Forbidden, InvalidInput, NotFound
from shared.extensions import db
from shared.i18n import LANGUAGE_COOKIE, end_turn
from shared.models import Room, RoomKind
from shared.qr import qr_svg

#: Seconds a kiosk result stays on screen before the kiosk returns to its scan screen.
KIOSK_RETURN_SECONDS = 8
#: How long the kiosk waits with a student for the teacher's answer to their request
#: before it goes back to the scan screen (the answer is then on the teacher's tablet).
KIOSK_ANSWER_WAIT_SECONDS = 120
#: How long the teacher's answer stays on the kiosk once it came.
KIOSK_ANSWER_SHOWN_SECONDS = 15
#: A pass QR code's URL, as a kiosk reads it: a pass to check in at this room.
PASS_URL = re.compile(r"/hallpass/p/([A-Za-z0-9_\-]{10,64})/?$")


def device_room() -> Room:
    """The room this kiosk or classroom display is bound to."""
    device = g.principal.device
    if device.room is None:
        raise Forbidden(_("This device is not bound to a room. Pair it again for a room."))
    return device.room


def _kiosk_result(kind: str, status: int = 200, **context):
    """A kiosk result screen that returns to the scan screen by itself."""
    return render_template(
        "hallpass/kiosk/result.html",
        kind=kind,
        room=device_room(),
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
        message=rules.student_message(blocked),
        blocked=blocked,
        student_token=student_token,
        destination=destination,
    )


def _started(hall_pass: HallPass) -> dict:
    return {"hall_pass": hall_pass, "pass_qr": qr_svg(tokens.pass_url(hall_pass))}


@bp.route("/kiosk")
@access("device:kiosk")
def kiosk():
    """The kiosk's scan screen: a student number input that keeps the focus.

    `?turn=over` (where a result screen goes back to) drops the language the last
    student switched to, so the next one sees the kiosk's own."""
    if request.args.get("turn") == "over" and request.cookies.get(LANGUAGE_COOKIE):
        return end_turn(redirect(url_for("hallpass.kiosk")))
    if device_room().kind == RoomKind.OFFICE:  # an office's kiosk records late arrivals
        return redirect(url_for("hallpass.late_kiosk"))
    return render_template("hallpass/kiosk/scan.html", room=device_room())


@bp.route("/kiosk/scan", methods=["POST"])
@access("device:kiosk")
def kiosk_scan():
    """A student ID (or a pass QR, for arrival check-in) was scanned or typed."""
    school, device = g.principal.school, g.principal.device
    room = device_room()
    value = (request.form.get("number") or "").strip()
    actor = current_actor()
    try:
        found = PASS_URL.search(value)
        if found:
            hall_pass = passes.check_in(school, actor, token=found[1], room_id=room.id)
            return _kiosk_result("arrived", hall_pass=hall_pass)
        student = tokens.student_by_number(school, value)
        active = db.session.scalar(
            select(HallPass).where(HallPass.student_id == student.id, HallPass.status == "active")
        )
        if active is not None:
            if active.from_room_id != room.id:
                raise InvalidInput(_("You already have a pass from another room."))
            passes.end_pass(school, actor, pass_id=active.id, ended_by="student")
            return _kiosk_result("back", student=student)
        token = tokens.kiosk_student_token(device, student)
        open_request = pass_requests.open_request_for(school, student.id)
        if open_request is not None:
            version = live.current(school.id, _room_topic())
            return _kiosk_result(
                "request",
                student=student,
                request_status=_render_request_status(open_request, version),
                student_token=token,
            )
    except DomainError as error:
        return _kiosk_error(error)
    return render_template(
        "hallpass/kiosk/choose.html",
        room=room,
        student=student,
        student_token=token,
        destinations=destinations.active_destinations(school.id),
        appointment=appointment_lists.student_notice(school, student.id),
    )


@bp.route("/kiosk/go", methods=["POST"])
@access("device:kiosk")
def kiosk_go():
    """The student tapped a destination: go, ask the teacher, or join the wait line."""
    school, device = g.principal.school, g.principal.device
    room = device_room()
    token = request.form.get("student", "")
    mode = request.form.get("mode", "go")
    destination_id = request.form.get("destination_id", type=int)
    actor = current_actor()
    destination = None
    try:
        student = tokens.student_from_kiosk_token(school, device, token)
        if destination_id is None or mode not in ("go", "ask", "line"):
            raise InvalidInput(_("Tap where you are going."))
        destination = db.session.get(Destination, destination_id)
        args = dict(
            student_id=student.id,
            destination_id=destination_id,
            from_room_id=room.id,
            source="kiosk",
        )
        result = pass_requests.student_chose(school, actor, mode, args)
    except RuleBlocked as blocked:
        return _kiosk_blocked(blocked, token, destination)
    except DomainError as error:
        return _kiosk_error(error)
    if isinstance(result, HallPass):
        return _kiosk_result("started", student=student, **_started(result))
    return _kiosk_result(
        "request",
        student=student,
        request_status=_render_request_status(result, live.current(school.id, _room_topic())),
    )


def _room_topic() -> str:
    return rules.room_topic(device_room().id)


def _render_request_status(pass_request: PassRequest, version: int) -> str:
    """The kiosk's live region of a student's request: waiting, then the teacher's answer
    (approved: the pass, as when it starts at once; denied: the message)."""
    hall_pass = db.session.get(HallPass, pass_request.pass_id) if pass_request.pass_id else None
    answered = pass_request.status not in rules.OPEN
    return render_template(
        "hallpass/kiosk/_request_region.html",
        pass_request=pass_request,
        rank=wait_line.line_rank(pass_request),
        version=version,
        live_topic=_room_topic(),
        return_after=KIOSK_ANSWER_SHOWN_SECONDS if answered else KIOSK_ANSWER_WAIT_SECONDS,
        **(_started(hall_pass) if hall_pass is not None else {}),
    )


@bp.route("/kiosk/requests/<int:request_id>")
@access("device:kiosk")
def kiosk_request_status(request_id: int):
    """Live region: a request made at this kiosk, until the teacher answers it."""
    school = g.principal.school
    pass_request = school_record(PassRequest, request_id, school.id)
    if pass_request.from_room_id != device_room().id or pass_request.source != "kiosk":
        raise NotFound(_("There is nothing here."))
    return live.poll(
        school.id, _room_topic(), lambda version: _render_request_status(pass_request, version)
    )


@bp.route("/kiosk/cancel", methods=["POST"])
@access("device:kiosk")
def kiosk_cancel():
    """The student takes back their open request at the kiosk."""
    school, device = g.principal.school, g.principal.device
    try:
        student = tokens.student_from_kiosk_token(school, device, request.form.get("student", ""))
        open_request = pass_requests.open_request_for(school, student.id)
        if open_request is None:
            raise NotFound(_("You have no open request."))
        pass_requests.cancel_request(
            school, current_actor(), request_id=open_request.id, student_id=student.id
        )
    except DomainError as error:
        return _kiosk_error(error)
    return _kiosk_result("cancelled", student=student)


# ------------------------------------------------------------ classroom display


@bp.route("/display")
@access("device:classroom-display")
def classroom_display():
    """The classroom display: the room's QR code, changing every minute."""
    room = device_room()
    return render_template(
        "hallpass/display.html",
        room=room,
        room_qr=room_qr.render_room_qr(room, "hallpass.classroom_display_qr"),
    )


@bp.route("/display/qr")
@access("device:classroom-display")
def classroom_display_qr():
    """Live region of the classroom display's QR code."""
    return room_qr.room_qr_region(device_room(), "hallpass.classroom_display_qr")

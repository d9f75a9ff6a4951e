"""The room's rotating QR code: its signed token and its live region.

The classroom display (and the teacher's tablet) show a QR whose token is a rotating
code (`shared.rotating_code`: signed, bound to the room and to a one-minute step, the
current and the previous step accepted), so a photo of it stops working within two
minutes and only works for that room.
"""

from __future__ import annotations

from datetime import datetime

from flask import render_template, request, url_for
from flask_babel import gettext as _

from hallpass import tokens
from shared.access import school_record
from shared.errors import NotFound
from shared.models import Room
from shared.qr import qr_svg
from shared.rotating_code import (
    CodeExpired,
    CodeInvalid,
    code_step,
    read_rotating_token,
    rotating_token,
)
from shared.timeutil import utcnow

SALT = "hallpass.room-qr"


def room_qr_token(room: Room, now: datetime | None = None) -> str:
    """The room QR token for the current step: signed, bound to the room and the step."""
    return rotating_token(SALT, [room.school_id, room.id], now)


def room_from_qr_token(token: str, now: datetime | None = None) -> Room:
    """The room a QR token names, if genuine and from the current or the previous step."""
    try:
        school_id, room_id = read_rotating_token(SALT, token, now)
    except (CodeInvalid, ValueError):
        raise NotFound(
            _("This is not a valid room code. Scan the code on the classroom screen.")
        ) from None
    except CodeExpired:
        raise tokens.TokenExpired(
            _("This room code has expired. Scan the code on the classroom screen.")
        ) from None
    room = school_record(Room, room_id, school_id, _("This room no longer exists."))
    if not room.active:
        raise NotFound(_("This room no longer exists."))
    return room


def render_room_qr(room: Room, endpoint: str, **url_args) -> str:
    """The room's QR region for the current step, polling `endpoint` for the next one."""
    now = utcnow()
    step = code_step(now)
    url = url_for("hallpass.room_qr_page", token=room_qr_token(room, now), _external=True)
    return render_template(
        "hallpass/partials/room_qr.html",
        room=room,
        qr=qr_svg(url),
        version=step,
        poll_url=url_for(endpoint, v=step, **url_args),
    )


def room_qr_region(room: Room, endpoint: str, **url_args):
    """Live region of a room QR code: a new code every step, 204 within one."""
    if request.args.get("v", type=int) == code_step(utcnow()):
        return "", 204
    return render_room_qr(room, endpoint, **url_args)

"""Codes that change every minute: the one rule for a QR code shown on a screen.

A rotating code is a signed token (itsdangerous, with the app's secret and a salt of
its own) that names what it is for (a room, a school's pickup line) and a one-minute
step. It is accepted during its own step and the next one, so a code read at the end
of a minute still works, and a photo of it stops working within two minutes. The
token is opaque: nothing in it is personal, and only the server can make one.

The room QR (`hallpass.room_qr`) and the pickup line sign (`carline.pickup_sign`) read
their codes here; each says what its refusals mean to its own readers.
"""

from __future__ import annotations

from datetime import datetime

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

from shared.timeutil import utcnow

#: How often a rotating code changes; the current and the previous step are accepted.
STEP_SECONDS = 60


class CodeInvalid(Exception):
    """Not a code of this kind: forged, damaged, or another kind's."""


class CodeExpired(Exception):
    """A genuine code of this kind, from a step before the previous one."""


def code_step(now: datetime | None = None) -> int:
    """The step containing `now` (a new code every STEP_SECONDS)."""
    return int((now or utcnow()).timestamp()) // STEP_SECONDS


def _serializer(salt: str) -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=salt)


def rotating_token(salt: str, names: list, now: datetime | None = None) -> str:
    """The code of the current step for `names` (ids, never personal data)."""
    return _serializer(salt).dumps([*names, code_step(now)])


def read_rotating_token(salt: str, token: str, now: datetime | None = None) -> list:
    """What a code names, if it is genuine, of this `salt` and of the current or the
    previous step; raises CodeInvalid or CodeExpired."""
    try:
        *names, step = _serializer(salt).loads(token)
    except (BadSignature, ValueError, TypeError):
        raise CodeInvalid from None
    if not isinstance(step, int):
        raise CodeInvalid
    current = code_step(now)
    if step not in (current, current - 1):
        raise CodeExpired
    return names

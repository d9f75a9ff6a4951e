"""The pickup line sign: a QR code at the entrance that a guardian scans before "I'm here".

A school may require it (*Car line settings*, *Pickup line sign*, off by default), so that
nobody says "I'm here" from home. Location is never read or stored: being at the sign
is shown by having just scanned its code, which only the sign shows.

The sign is either a screen at the entrance (a display paired for dismissal, or an
office browser) showing a rotating code (`shared.rotating_code`: a new one every minute,
the previous minute's still accepted), or a printed page with the day's code (good on
that school day only). The QR holds a URL with an opaque signed token naming only the
school. The guardian's phone opens it with the camera; when the phone holds the
guardian's family session, it gets a signed cookie naming that session, good for
`PRESENCE_MINUTES`, and "I'm here" (`carline.family_page.announce`) is accepted while
the cookie is fresh. Each scan is audited; a refused announce writes nothing.
"""

from __future__ import annotations

from datetime import date, datetime

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from itsdangerous import BadSignature, URLSafeSerializer

from shared import audit
from shared.audit import Actor
from shared.errors import DomainError, NotFound
from shared.models import GuardianSession, School
from shared.rotating_code import CodeExpired, CodeInvalid, read_rotating_token, rotating_token
from shared.schedule import school_today
from shared.timeutil import utcnow

SALT = "carline.pickup-sign"
DAY_SALT = "carline.pickup-sign-day"
PRESENCE_SALT = "carline.pickup-sign-presence"
#: The phone's cookie saying it scanned the sign (signed; names the family session).
PRESENCE_COOKIE = "passline_pickup_sign"
#: How long a scan lets the guardian say "I'm here".
PRESENCE_MINUTES = 10
#: What the family page and a refused "I'm here" say.
SCAN_FIRST = lazy_gettext("Scan the QR code on the pickup line sign first.")


class SignExpired(DomainError):
    """A genuine sign code, but too old (a photo of the screen, yesterday's printed sign)."""

    status_code = 410


def sign_token(school: School, now: datetime | None = None) -> str:
    """The code the sign's screen shows this minute."""
    return rotating_token(SALT, [school.id], now)


def daily_token(school: School, day: date) -> str:
    """The code of the printed sign for one school day."""
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=DAY_SALT).dumps(
        [school.id, day.isoformat()]
    )


def read_sign(school: School, token: str, now: datetime | None = None) -> str:
    """Which sign a scanned code is ("screen" or "printed"), if it is this school's and
    still good: the screen's of this or the previous minute, the printed one of today."""
    expired = _("This code has expired. Scan the QR code on the pickup line sign again.")
    try:
        names, kind = read_rotating_token(SALT, token, now), "screen"
    except CodeExpired:
        raise SignExpired(expired) from None
    except CodeInvalid:
        try:
            school_id, day = URLSafeSerializer(
                current_app.config["SECRET_KEY"], salt=DAY_SALT
            ).loads(token)
        except (BadSignature, ValueError, TypeError):
            raise NotFound(_("This is not a pickup line sign's code.")) from None
        names, kind = [school_id], "printed"
        if school_id == school.id and day != school_today(school, now).isoformat():
            raise SignExpired(expired) from None
    if names != [school.id]:
        raise NotFound(_("This is another school's pickup line sign."))
    return kind


def scanned(
    school: School,
    actor: Actor,
    guardian_session: GuardianSession,
    token: str,
    now: datetime | None = None,
) -> str:
    """The guardian scanned the sign: check the code, audit the scan, and return the
    value of the phone's presence cookie (nothing else is stored)."""
    kind = read_sign(school, token, now)
    audit.record(
        "carline.pickup_sign_scan",
        school_id=school.id,
        target=actor.guardian,
        detail={"sign": kind},
        actor=actor,
    )
    at = int((now or utcnow()).timestamp())
    return _presence_serializer().dumps([school.id, guardian_session.id, at])


def is_present(
    value: str | None,
    school: School,
    guardian_session: GuardianSession | None,
    now: datetime | None = None,
) -> bool:
    """True when the phone's presence cookie is genuine, of this session, and from a
    scan less than PRESENCE_MINUTES ago."""
    if not value or guardian_session is None:
        return False
    try:
        school_id, session_id, at = _presence_serializer().loads(value)
    except (BadSignature, ValueError, TypeError):
        return False
    age = int((now or utcnow()).timestamp()) - at if isinstance(at, int) else -1
    return [school_id, session_id] == [school.id, guardian_session.id] and (
        0 <= age < PRESENCE_MINUTES * 60
    )


def _presence_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=PRESENCE_SALT)

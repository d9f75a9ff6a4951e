"""How a kiosk or a phone names a student, a visit or a pass without saying who.

Signed values (the kiosk's student between two taps, a phone's room visit), the random
token in a pass's QR code, an ID card number, and the class meeting in a room: never a
name or a student number in a URL. The rotating room QR code is `room_qr`.
"""

from __future__ import annotations

from datetime import datetime

from flask import current_app, url_for
from flask_babel import gettext as _
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select

from hallpass import rules
from hallpass.models import (
    HallPass,
)
from shared.errors import DomainError, InvalidInput, NotFound
from shared.extensions import db
from shared.models import Device, Enrollment, Room, School, SchoolClass, Student
from shared.schedule import current_period
from shared.timeutil import utcnow


class TokenExpired(DomainError):
    """A signed value was genuine but is too old (a room QR, a kiosk step)."""

    status_code = 410


#: How long a kiosk remembers the student who scanned, between two taps.
KIOSK_STUDENT_SECONDS = 60
#: How long a phone remembers its room visit (the pass or the request it made).
ROOM_VISIT_SECONDS = 4 * 3600


def _timed_serializer(salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=salt)


def kiosk_student_token(device: Device, student: Student) -> str:
    """A short-lived signed value naming the student who just scanned at this kiosk."""
    return _timed_serializer("hallpass.kiosk-student").dumps([device.id, student.id])


def student_from_kiosk_token(school: School, device: Device, token: str) -> Student:
    """The student a kiosk token names: only on the kiosk that made it, within a minute."""
    try:
        device_id, student_id = _timed_serializer("hallpass.kiosk-student").loads(
            token, max_age=KIOSK_STUDENT_SECONDS
        )
    except SignatureExpired:
        raise TokenExpired(_("That took too long. Scan your ID again.")) from None
    except (BadSignature, ValueError, TypeError):
        raise InvalidInput(_("Scan your ID again.")) from None
    if device_id != device.id:
        raise InvalidInput(_("Scan your ID again."))
    return rules.load_student(school, student_id)


def room_visit_value(
    room: Room, *, pass_id: int | None = None, request_id: int | None = None
) -> str:
    """The signed cookie value a phone keeps: its room, and the pass or request it made."""
    return _timed_serializer("hallpass.room-visit").dumps(
        {"s": room.school_id, "r": room.id, "p": pass_id, "q": request_id}
    )


def read_room_visit(value: str | None) -> dict | None:
    """The phone's room visit from its cookie, or None (missing, forged or too old)."""
    if not value:
        return None
    try:
        visit = _timed_serializer("hallpass.room-visit").loads(value, max_age=ROOM_VISIT_SECONDS)
    except (BadSignature, ValueError, TypeError):
        return None
    return visit if isinstance(visit, dict) and {"s", "r", "p", "q"} <= set(visit) else None


def class_in_room(school: School, room: Room, now: datetime | None = None) -> list[Student]:
    """Students of the class (or classes) meeting in the room in the current period."""
    period = current_period(school, now or utcnow())
    if period is None:
        return []
    return list(
        db.session.scalars(
            select(Student)
            .join(Enrollment, Enrollment.student_id == Student.id)
            .join(SchoolClass, SchoolClass.id == Enrollment.class_id)
            .where(
                SchoolClass.school_id == school.id,
                SchoolClass.room_id == room.id,
                SchoolClass.period == period.name,
                SchoolClass.active.is_(True),
                Student.active.is_(True),
            )
            .distinct()
            .order_by(Student.first_name, Student.last_name)
        )
    )


def student_by_number(school: School, number: str) -> Student:
    """The active student of this school with this ID card number."""
    number = (number or "").strip()
    if not number or len(number) > 64:
        raise InvalidInput(_("Scan or type your student ID number."))
    student = db.session.scalar(
        select(Student).where(Student.school_id == school.id, Student.student_number == number)
    )
    if student is None or not student.active:
        raise NotFound(_("That ID number is not known here. Ask your teacher."))
    return student


def pass_by_token(token: str) -> HallPass | None:
    """The pass a QR token names (any school), or None."""
    if not token or len(token) > 64:
        return None
    return db.session.scalar(select(HallPass).where(HallPass.token == token))


def pass_url(hall_pass: HallPass) -> str:
    """The public URL in a pass's QR code."""
    return url_for("hallpass.verify_pass", token=hall_pass.token, _external=True)

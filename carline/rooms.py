"""Which classroom sends each student out at dismissal.

The room of the student's class that meets in the *dismissal period*, which is the bell
period in session when the dismissal started (or now, before it starts), else the last
period of that weekday. A student with no class in a room in that period is sent from
their homeroom (a class whose period is "Homeroom" or "HR", or whose name is "HR" or
starts with "Homeroom"); a student with neither shows in every room where they have a
class, so nobody is missed. A school without a bell schedule therefore sees each
student in their homeroom, or in all their rooms.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from shared.extensions import db
from shared.models import BellPeriod, Enrollment, Room, School, SchoolClass, Student
from shared.schedule import current_period
from shared.timeutil import utcnow

#: Class periods (or names) taken for a homeroom, compared case-insensitively.
HOMEROOM_NAMES = ("homeroom", "hr")


def dismissal_period(school: School, at: datetime) -> BellPeriod | None:
    """The period in session at `at`, else the last period of that weekday."""
    period = current_period(school, at)
    if period is not None:
        return period
    weekday = at.astimezone(ZoneInfo(school.timezone)).weekday()
    return db.session.scalar(
        select(BellPeriod)
        .where(BellPeriod.school_id == school.id, BellPeriod.weekday == weekday)
        .order_by(BellPeriod.end_time.desc(), BellPeriod.start_time.desc())
        .limit(1)
    )


def room_student_ids(school: School, room: Room, at: datetime | None = None) -> set[int]:
    """The active students sent out from this room at dismissal (see the module docstring)."""
    in_room = (
        select(Enrollment.student_id)
        .join(SchoolClass, SchoolClass.id == Enrollment.class_id)
        .where(
            SchoolClass.school_id == school.id,
            SchoolClass.active.is_(True),
            SchoolClass.room_id == room.id,
        )
    )
    rows = db.session.execute(
        select(Enrollment.student_id, SchoolClass.room_id, SchoolClass.period, SchoolClass.name)
        .join(SchoolClass, SchoolClass.id == Enrollment.class_id)
        .join(Student, Student.id == Enrollment.student_id)
        .where(
            Enrollment.student_id.in_(in_room),
            Student.active.is_(True),
            SchoolClass.active.is_(True),
            SchoolClass.room_id.is_not(None),
        )
    ).all()
    period = dismissal_period(school, at or utcnow())
    classes: dict[int, list[tuple[int, str | None, str]]] = {}
    for student_id, room_id, class_period, name in rows:
        classes.setdefault(student_id, []).append((room_id, class_period, name))
    return {sid for sid, held in classes.items() if room.id in _dismissal_rooms(held, period)}


def _dismissal_rooms(
    classes: list[tuple[int, str | None, str]], period: BellPeriod | None
) -> set[int]:
    """The room(s) one student is sent out from, given their classes (room, period, name)."""
    if period is not None:
        rooms = {room for room, p, _ in classes if p == period.name}
        if rooms:
            return rooms
    homerooms = {
        room
        for room, p, name in classes
        if (p or "").strip().lower() in HOMEROOM_NAMES
        or name.strip().lower().startswith(HOMEROOM_NAMES[0])
        or name.strip().lower() in HOMEROOM_NAMES
    }
    return homerooms or {room for room, _, _ in classes}

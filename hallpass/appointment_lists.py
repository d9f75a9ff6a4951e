"""Appointments, the read side: a scheduler's day, the appointments coming up in a room
(whose tablet releases them), the student's notice at the time, and where a staff member
may schedule. Statuses are read with the clock (`appointments.is_due`, `is_no_show`), so
a list is right even before housekeeping marked the no-shows; nothing here writes.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from hallpass.appointments import (
    NO_SHOW_MINUTES,
    RELEASE_EARLY_MINUTES,
    check_may_schedule,
    class_room_id,
    is_due,
    is_no_show,
)
from hallpass.models import Appointment, AppointmentStatus, Destination
from shared.errors import Forbidden
from shared.extensions import db
from shared.models import Enrollment, Room, School, SchoolClass
from shared.schedule import school_today
from shared.timeutil import utcnow


def _of_day(school: School, day: date):
    return (
        select(Appointment)
        .where(Appointment.school_id == school.id, Appointment.day == day)
        .options(
            joinedload(Appointment.student),
            joinedload(Appointment.destination),
            joinedload(Appointment.hall_pass),
            joinedload(Appointment.decided_by),
        )
        .order_by(Appointment.starts_at, Appointment.id)
    )


def scheduler_day(
    school: School, user_id: int, day: date | None = None, now: datetime | None = None
) -> list[Appointment]:
    """The appointments this staff member scheduled for the day (today by default)."""
    day = day or school_today(school, now)
    return list(
        db.session.scalars(_of_day(school, day).where(Appointment.scheduled_by_id == user_id))
    )


def student_appointments(school: School, student_id: int, first: date, last: date):
    """A student's appointments from `first` to `last` (school days), for their history."""
    return list(
        db.session.scalars(
            select(Appointment)
            .where(
                Appointment.school_id == school.id,
                Appointment.student_id == student_id,
                Appointment.day >= first,
                Appointment.day <= last,
            )
            .options(joinedload(Appointment.destination), joinedload(Appointment.scheduled_by))
            .order_by(Appointment.starts_at.desc(), Appointment.id.desc())
        )
    )


def room_coming_up(school: School, room_id: int, now: datetime | None = None) -> list[Appointment]:
    """Today's appointments still to release from this room: its students' classes in the
    appointment's period meet here (read now, so a roster change is followed)."""
    now = now or utcnow()
    here = (
        select(Enrollment.student_id)
        .join(SchoolClass, SchoolClass.id == Enrollment.class_id)
        .where(
            Enrollment.student_id == Appointment.student_id,
            SchoolClass.period == Appointment.period,
            SchoolClass.room_id == room_id,
            SchoolClass.active.is_(True),
        )
        .exists()
    )
    found = db.session.scalars(
        _of_day(school, school_today(school, now)).where(
            Appointment.status == AppointmentStatus.SCHEDULED, here
        )
    )
    return [a for a in found if not is_no_show(a, now)]


def next_change(appointments: list[Appointment], now: datetime) -> int | None:
    """Seconds until one of these appointments becomes due or a no-show (the region asks
    for itself again then: a clock, not a write, changes it); None when none will."""
    moments = []
    for a in appointments:
        if a.status != AppointmentStatus.SCHEDULED:
            continue
        moments.append(a.starts_at - timedelta(minutes=RELEASE_EARLY_MINUTES))
        moments.append(a.starts_at + timedelta(minutes=NO_SHOW_MINUTES))
    ahead = [m for m in moments if m > now]
    return int((min(ahead) - now).total_seconds()) + 1 if ahead else None


def student_notice(
    school: School, student_id: int, now: datetime | None = None
) -> Appointment | None:
    """The student's appointment due now, if any (the kiosk and the phone say so)."""
    now = now or utcnow()
    for appointment in db.session.scalars(
        select(Appointment)
        .where(
            Appointment.student_id == student_id,
            Appointment.school_id == school.id,
            Appointment.day == school_today(school, now),
            Appointment.status == AppointmentStatus.SCHEDULED,
        )
        .order_by(Appointment.starts_at)
    ):
        if is_due(appointment, now):
            return appointment
    return None


def schedulable_destinations(school: School, principal) -> list[Destination]:
    """The active destinations this staff member may schedule to, by name."""
    found = []
    for destination in db.session.scalars(
        select(Destination)
        .where(Destination.school_id == school.id, Destination.active.is_(True))
        .options(joinedload(Destination.room))
        .order_by(Destination.name)
    ):
        try:
            check_may_schedule(principal, destination)
        except Forbidden:
            continue
        found.append(destination)
    return found


def room_of(school: School, appointment: Appointment) -> Room | None:
    """The room whose tablet releases the appointment, if the student has a class then."""
    room_id = class_room_id(school, appointment.student_id, appointment.period)
    return db.session.get(Room, room_id) if room_id is not None else None

"""Hall pass demo data: the counselor's appointments, past and coming.

`load_demo_appointments` runs in the hall pass demo loader, after the destinations and
the pass history exist. The counselor (a demo account, shared/demo.py) has had two
appointments on each of the last school days (one kept: released by the class teacher,
checked in at the office and ended; one declined or missed) and has four for the next
school day (today, when the demo is loaded on a school day) plus a weekly one for a
month, all at the start of a period plus a few minutes, for students who have a class
then. The counselor's office lets its appointments pass the daily limit and the no-pass
windows. Nothing here changes a live counter: every pass written is ended.
"""

from __future__ import annotations

import random
import secrets
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from hallpass.appointments import class_room_id
from hallpass.models import Appointment, AppointmentStatus, Destination, HallPass, new_pass_token
from shared.demo import COUNSELOR_EMAIL
from shared.extensions import db
from shared.models import BellPeriod, Enrollment, School, SchoolClass, User, class_teachers
from shared.schedule import school_now

PAST_DAYS = 5
#: Periods of the next school day with an appointment, and the weekly one's.
COMING_PERIODS = ("2", "3", "5", "6")
WEEKLY_PERIOD = "4"
WEEKLY_WEEKS = 4
DECLINE_REASONS = ("Test in class until the bell.", "Presenting a project this period.")
NOTES = ("Check-in about grades.", "Follow-up from last week.", "Schedule change.", "")


def _school_days_around(today: date, before: int) -> tuple[list[date], date]:
    """The last `before` weekdays before today (oldest first), and the next weekday after."""
    past, day = [], today
    while len(past) < before:
        day -= timedelta(days=1)
        if day.weekday() < 5:
            past.append(day)
    after = today + timedelta(days=1)
    while after.weekday() >= 5:
        after += timedelta(days=1)
    return sorted(past), after


def _free(student_id: int, starts: datetime, minutes: int) -> bool:
    """The student has no pass of the history during these minutes (never out twice)."""
    return not db.session.scalar(
        select(HallPass.id).where(
            HallPass.student_id == student_id,
            HallPass.started_at < starts + timedelta(minutes=minutes),
            HallPass.ended_at > starts - timedelta(minutes=5),
        )
    )


def load_demo_appointments(school: School, rng: random.Random) -> tuple[int, int]:
    """Add the counselor's appointments; returns how many, and how many passes they
    started (flushes only)."""
    counselor = db.session.scalar(select(User).where(User.email == COUNSELOR_EMAIL))
    office = db.session.scalar(
        select(Destination).where(
            Destination.school_id == school.id, Destination.name == "Counselor"
        )
    )
    if counselor is None or office is None:
        return 0
    office.appointments_skip_limits = True
    tz = ZoneInfo(school.timezone)
    periods = {
        (p.weekday, p.name): p
        for p in db.session.scalars(select(BellPeriod).where(BellPeriod.school_id == school.id))
    }
    students = list(
        db.session.scalars(
            select(Enrollment.student_id)
            .join(SchoolClass, SchoolClass.id == Enrollment.class_id)
            .where(SchoolClass.school_id == school.id, SchoolClass.period == "1")
            .order_by(Enrollment.student_id)
        )
    )
    made: list[Appointment] = []

    def book(day: date, period: str, student_id: int, **fields) -> Appointment | None:
        bell = periods.get((day.weekday(), period))
        if bell is None or class_room_id(school, student_id, period) is None:
            return None
        starts = datetime.combine(day, bell.start_time, tzinfo=tz) + timedelta(minutes=10)
        appointment = Appointment(
            school_id=school.id,
            student_id=student_id,
            destination_id=office.id,
            scheduled_by_id=counselor.id,
            starts_at=starts,
            day=day,
            period=period,
            note=rng.choice(NOTES),
            created_at=starts - timedelta(days=2),
            **fields,
        )
        made.append(appointment)
        return appointment

    now = school_now(school)
    past, next_day = _school_days_around(now.date(), PAST_DAYS)

    def coming_day(period: str) -> date:
        """Today if the period's appointment is still ahead, else the next school day."""
        bell = periods.get((now.weekday(), period))
        if bell is not None and datetime.combine(now.date(), bell.start_time, tzinfo=tz) > now:
            return now.date()
        return next_day

    for day in past:
        kept_student, other_student = rng.sample(students, 2)
        period = rng.choice(COMING_PERIODS)
        bell = periods.get((day.weekday(), period))
        starts = datetime.combine(day, bell.start_time, tzinfo=tz) if bell else None
        while starts and not _free(kept_student, starts, 40):
            kept_student = rng.choice(students)
        kept = book(day, period, kept_student)
        if kept is not None:
            room_id = class_room_id(school, kept_student, kept.period)
            teacher_id = db.session.scalar(
                select(class_teachers.c.user_id)
                .join(SchoolClass, SchoolClass.id == class_teachers.c.class_id)
                .where(SchoolClass.room_id == room_id, SchoolClass.period == kept.period)
                .limit(1)
            )
            released_at = kept.starts_at - timedelta(minutes=rng.randint(0, 3))
            kept.hall_pass = HallPass(
                school_id=school.id,
                student_id=kept_student,
                destination_id=office.id,
                from_room_id=room_id,
                source="appointment",
                issued_by_id=teacher_id,
                status="ended",
                started_at=released_at,
                time_limit_minutes=office.time_limit_minutes,
                arrived_at=released_at + timedelta(minutes=rng.randint(2, 4)),
                ended_at=released_at + timedelta(minutes=rng.randint(12, 20)),
                ended_by="staff",
                token=new_pass_token(),
            )
            kept.status = AppointmentStatus.RELEASED
            kept.decided_by_id, kept.decided_at = teacher_id, released_at
        missed = book(day, rng.choice(COMING_PERIODS), other_student)
        if missed is not None:
            if rng.random() < 0.5:
                missed.status = AppointmentStatus.NO_SHOW
            else:
                missed.status = AppointmentStatus.DECLINED
                missed.decline_reason = rng.choice(DECLINE_REASONS)
                missed.decided_at = missed.starts_at - timedelta(minutes=5)
    for period, student_id in zip(
        COMING_PERIODS, rng.sample(students, len(COMING_PERIODS)), strict=True
    ):
        book(coming_day(period), period, student_id)
    weekly_student, first = rng.choice(students), coming_day(WEEKLY_PERIOD)
    series = secrets.token_hex(8)
    for week in range(WEEKLY_WEEKS):
        book(first + timedelta(days=7 * week), WEEKLY_PERIOD, weekly_student, series=series)
    db.session.add_all(made)
    db.session.flush()
    return len(made), sum(a.hall_pass is not None for a in made)

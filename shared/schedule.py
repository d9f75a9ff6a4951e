"""School time and the bell schedule: the school's wall clock and calendar day, which
period is on now, and which of a teacher's classes meets in it.

Times are stored in UTC; a school lives in its own time zone. This module is the one
home of "what time / which day is it at this school" and of a school day's bounds, so
that every blueprint cuts days at the same local midnight (daylight saving included).
A school without a bell schedule still works: there is simply never a "current period".
"""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select

from shared.extensions import db
from shared.models import BellPeriod, Enrollment, School, SchoolClass, class_teachers
from shared.timeutil import utcnow


def school_now(school: School, now: datetime | None = None) -> datetime:
    """The current (or the given, aware) time on the school's wall clock (aware, local zone)."""
    return (now or utcnow()).astimezone(ZoneInfo(school.timezone))


def school_today(school: School, now: datetime | None = None) -> date:
    """The school's local calendar date now (or at the given aware time)."""
    return school_now(school, now).date()


def school_day_bounds(school: School, day: date | datetime) -> tuple[datetime, datetime]:
    """Start and end, as UTC instants, of one local school day: [local midnight, next one).

    `day` is a calendar date, or an aware instant meaning the school's local day that
    contains it. On a daylight saving change the day is 23 or 25 hours long.
    """
    tz = ZoneInfo(school.timezone)
    if isinstance(day, datetime):  # a datetime is also a date: test it first
        day = day.astimezone(tz).date()
    start = datetime.combine(day, time(), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def period_names(school: School) -> list[str]:
    """The school's bell period names, in the order of the day (earliest start first)."""
    rows = db.session.execute(
        select(BellPeriod.name, func.min(BellPeriod.start_time))
        .where(BellPeriod.school_id == school.id)
        .group_by(BellPeriod.name)
    ).all()
    return [name for name, _ in sorted(rows, key=lambda row: (row[1], row[0]))]


def current_period(school: School, now: datetime) -> BellPeriod | None:
    """The period in session at `now` (aware), in the school's local time, if any."""
    local_now = now.astimezone(ZoneInfo(school.timezone))
    wall = local_now.time().replace(tzinfo=None)
    return db.session.scalar(
        select(BellPeriod)
        .where(
            BellPeriod.school_id == school.id,
            BellPeriod.weekday == local_now.weekday(),
            BellPeriod.start_time <= wall,
            BellPeriod.end_time > wall,
        )
        .order_by(BellPeriod.start_time)
        .limit(1)
    )


def teacher_classes(school: School, user_id: int) -> list[SchoolClass]:
    return list(
        db.session.scalars(
            select(SchoolClass)
            .join(class_teachers, class_teachers.c.class_id == SchoolClass.id)
            .where(
                SchoolClass.school_id == school.id,
                SchoolClass.active.is_(True),
                class_teachers.c.user_id == user_id,
            )
            .order_by(SchoolClass.period, SchoolClass.name)
        )
    )


def taught_room_ids(user_id: int) -> Select:
    """The ids of the rooms where this teacher teaches a class (a subquery)."""
    return (
        select(SchoolClass.room_id)
        .join(class_teachers, class_teachers.c.class_id == SchoolClass.id)
        .where(class_teachers.c.user_id == user_id, SchoolClass.room_id.is_not(None))
    )


def class_in_session(school: School, user_id: int, now: datetime) -> SchoolClass | None:
    """The teacher's class meeting in the current period, if the schedule says so."""
    period = current_period(school, now)
    if period is None:
        return None
    return next((c for c in teacher_classes(school, user_id) if c.period == period.name), None)


def student_class_now(school: School, student_id: int, now: datetime) -> SchoolClass | None:
    """The class the student is enrolled in that meets in the current period, if any
    (None between periods, or when none of their classes meets now)."""
    period = current_period(school, now)
    if period is None:
        return None
    return db.session.scalar(
        select(SchoolClass)
        .join(Enrollment, Enrollment.class_id == SchoolClass.id)
        .where(
            SchoolClass.school_id == school.id,
            SchoolClass.active.is_(True),
            SchoolClass.period == period.name,
            Enrollment.student_id == student_id,
        )
        .order_by(SchoolClass.room_id.is_(None), SchoolClass.id)  # one with a room first
        .limit(1)
    )

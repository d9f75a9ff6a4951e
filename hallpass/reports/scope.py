"""Hall pass reports: whose passes a viewer sees, what a report covers, and those passes in SQL.

Every report (figures, pass lines, the incident lookup, CSV files) starts here: the
viewer's `Scope` (the office and admins see the whole school; a teacher sees only the
students enrolled in their own classes, every other student is refused), the
`ReportFilter` read from the query string, and `matching_passes`, the one subquery of the
passes that match, with what the reports count for each pass:

- minutes out of class: from the start to the end of the pass (to now while it is
  still active);
- overdue: a pass that ended later than its start plus its time limit, or that is
  still active past it;
- a pass's day, hour and bell period are those of its start in the school's time zone;
  its period is the bell period of that weekday whose times contain the start.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import case, func, literal, select

from hallpass.models import Destination, HallPass
from shared.access import school_record
from shared.errors import Forbidden, InvalidInput
from shared.extensions import db
from shared.forms import parse_date, parse_day, parse_id
from shared.localtime_sql import LocalClock, seconds_between
from shared.models import (
    BellPeriod,
    Enrollment,
    Membership,
    School,
    SchoolClass,
    Student,
    User,
    class_teachers,
)
from shared.schedule import period_names, school_day_bounds
from shared.students import search_students as shared_search
from shared.timeutil import UTCDateTime

#: Longest date range of a report.
MAX_RANGE_DAYS = 366
#: Default range: the last 30 days.
DEFAULT_RANGE_DAYS = 30
#: Seconds a pass may run over its limit before it counts as overdue (float rounding).
OVERDUE_TOLERANCE = 0.001
NO_PERIOD = "outside periods"

# ------------------------------------------------------------------ scope, filters


@dataclass(frozen=True)
class Scope:
    """Whose passes a viewer may see: the whole school, or one teacher's students."""

    school: School
    teacher_id: int | None = None

    @property
    def whole_school(self) -> bool:
        return self.teacher_id is None


def scope_for(principal) -> Scope:
    """The scope of the signed-in viewer: office/admin the school, a teacher their students."""
    if principal.has_role("admin", "office"):
        return Scope(principal.school)
    if principal.has_role("teacher") and principal.user is not None:
        return Scope(principal.school, teacher_id=principal.user.id)
    raise Forbidden("Reports are for the office, admins and teachers.")


def taught_students(scope: Scope):
    """Ids of the students in the teacher's active classes (a subquery)."""
    return (
        select(Enrollment.student_id)
        .join(SchoolClass, SchoolClass.id == Enrollment.class_id)
        .join(class_teachers, class_teachers.c.class_id == SchoolClass.id)
        .where(
            SchoolClass.school_id == scope.school.id,
            SchoolClass.active.is_(True),
            class_teachers.c.user_id == scope.teacher_id,
        )
    )


def visible_student(scope: Scope, student_id: int | None) -> Student:
    """A student the viewer may see: 404 for another school, 403 for another teacher's."""
    student = school_record(Student, student_id, scope.school.id, "No such student at this school.")
    if not scope.whole_school and not db.session.scalar(
        select(taught_students(scope).where(Enrollment.student_id == student.id).exists())
    ):
        raise Forbidden("This student is not in one of your classes.")
    return student


def find_visible_students(scope: Scope, query: str) -> list[Student]:
    """Students the viewer may see (any on the roster once) found by the typed text."""
    among = None if scope.whole_school else taught_students(scope)
    return shared_search(scope.school, query, among=among, include_inactive=True)


@dataclass
class ReportFilter:
    """What a report covers: a date range (school days, inclusive) and optional filters."""

    first: date
    last: date
    student_id: int | None = None
    destination_id: int | None = None
    issuer_id: int | None = None
    period: str | None = None

    def query_args(self, **override) -> dict:
        """The filter as URL query arguments (ids only, never names)."""
        args = {
            "from": self.first.isoformat(),
            "to": self.last.isoformat(),
            "student": self.student_id,
            "destination": self.destination_id,
            "teacher": self.issuer_id,
            "period": self.period,
        }
        args.update(override)
        return {k: v for k, v in args.items() if v not in (None, "")}


def parse_filter(scope: Scope, args, today: date) -> ReportFilter:
    """The report filter from query arguments, checked (InvalidInput / NotFound)."""
    last = parse_day(args.get("to"), today=today, field="to", label="To")
    default_first = last - timedelta(days=DEFAULT_RANGE_DAYS - 1)
    first = parse_date(args.get("from"), field="from", label="From", default=default_first)
    if first > last:
        raise InvalidInput("The start date is after the end date.", field="from")
    if (last - first).days >= MAX_RANGE_DAYS:
        raise InvalidInput(f"Choose at most {MAX_RANGE_DAYS} days.", field="from")
    student_id = parse_id(args.get("student"), field="student")
    if student_id is not None:
        visible_student(scope, student_id)
    destination_id = parse_id(args.get("destination"), field="destination")
    if destination_id is not None:
        school_record(
            Destination, destination_id, scope.school.id, "No such destination at this school."
        )
    issuer_id = parse_id(args.get("teacher"), field="teacher")
    period = (args.get("period") or "").strip() or None
    if period is not None and period not in period_names(scope.school):
        raise InvalidInput("Period: choose one of the bell schedule.", field="period")
    return ReportFilter(first, last, student_id, destination_id, issuer_id, period)


def filter_choices(scope: Scope) -> dict:
    """Options of the filter form: destinations, staff who issued passes, periods."""
    school = scope.school
    destinations = db.session.execute(
        select(Destination.id, Destination.name)
        .where(Destination.school_id == school.id)
        .order_by(Destination.name)
    ).all()
    issuers = db.session.execute(
        select(User.id, User.name)
        .where(
            User.id.in_(
                select(Membership.user_id).where(
                    Membership.school_id == school.id,
                    Membership.role.in_(("teacher", "admin", "office")),
                )
            )
        )
        .order_by(User.name)
    ).all()
    return {"destinations": destinations, "issuers": issuers, "periods": period_names(school)}


# --------------------------------------------------------------- the pass rows


def duration_seconds(now: datetime):
    """Seconds from a pass's start to its end (to `now` while active), in SQL."""
    end = func.coalesce(HallPass.ended_at, literal(now, UTCDateTime))
    return seconds_between(HallPass.started_at, end)


def matching_passes(
    scope: Scope, flt: ReportFilter, now: datetime, *, clock: LocalClock | None = None
):
    """One row per matching pass with its student, minutes, overdue, day, hour, period.

    The local-time columns are computed once per pass in a materialized CTE; the
    period is then looked up from those columns (the bell schedule's index).
    """
    start = school_day_bounds(scope.school, flt.first)[0]
    end = school_day_bounds(scope.school, flt.last)[1]
    clock = clock or LocalClock(scope.school.timezone, start, end)
    seconds = duration_seconds(now)
    query = select(
        HallPass.id.label("pass_id"),
        HallPass.student_id,
        HallPass.destination_id,
        HallPass.issued_by_id,
        HallPass.started_at,
        (seconds / 60.0).label("minutes"),
        case((seconds > HallPass.time_limit_minutes * 60 + OVERDUE_TOLERANCE, 1), else_=0).label(
            "overdue"
        ),
        clock.day(HallPass.started_at).label("day"),
        clock.hour(HallPass.started_at).label("hour"),
        clock.weekday(HallPass.started_at).label("weekday"),
        clock.time_of_day(HallPass.started_at).label("time_of_day"),
    ).where(
        HallPass.school_id == scope.school.id,
        HallPass.started_at >= start,
        HallPass.started_at < end,
    )
    if not scope.whole_school:
        query = query.where(HallPass.student_id.in_(taught_students(scope)))
    if flt.student_id is not None:
        query = query.where(HallPass.student_id == flt.student_id)
    if flt.destination_id is not None:
        query = query.where(HallPass.destination_id == flt.destination_id)
    if flt.issuer_id is not None:
        query = query.where(HallPass.issued_by_id == flt.issuer_id)
    base = query.cte("matching_passes").prefix_with("MATERIALIZED")
    period = (
        select(BellPeriod.name)
        .where(
            BellPeriod.school_id == scope.school.id,
            BellPeriod.weekday == base.c.weekday,
            BellPeriod.start_time <= base.c.time_of_day,
            BellPeriod.end_time > base.c.time_of_day,
        )
        .order_by(BellPeriod.start_time)
        .limit(1)
        .correlate(base)
        .scalar_subquery()
    )
    rows = select(
        base.c.pass_id,
        base.c.student_id,
        base.c.destination_id,
        base.c.issued_by_id,
        base.c.started_at,
        base.c.minutes,
        base.c.overdue,
        base.c.day,
        base.c.hour,
        func.coalesce(period, NO_PERIOD).label("period"),
    ).subquery("passes")
    if flt.period is not None:
        rows = select(rows).where(rows.c.period == flt.period).subquery("passes_in_period")
    return rows

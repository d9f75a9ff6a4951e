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

from flask_babel import gettext as _
from flask_babel import lazy_gettext
from sqlalchemy import String, Time, and_, case, false, func, literal, or_, select

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
#: The period of a pass started outside every bell period (the value reports group by).
NO_PERIOD = "outside periods"
#: ... and how a page names it.
NO_PERIOD_LABEL = lazy_gettext("outside periods")


def period_label(period: str) -> str:
    """A period's name as a page shows it ("outside periods" in the reader's language)."""
    return str(NO_PERIOD_LABEL) if period == NO_PERIOD else period


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
    raise Forbidden(_("Reports are for the office, admins and teachers."))


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
    student = school_record(
        Student, student_id, scope.school.id, _("No such student at this school.")
    )
    if not scope.whole_school and not db.session.scalar(
        select(taught_students(scope).where(Enrollment.student_id == student.id).exists())
    ):
        raise Forbidden(_("This student is not in one of your classes."))
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
    last = parse_day(args.get("to"), today=today, field="to", label=_("To"))
    default_first = last - timedelta(days=DEFAULT_RANGE_DAYS - 1)
    first = parse_date(args.get("from"), field="from", label=_("From"), default=default_first)
    if first > last:
        raise InvalidInput(_("The start date is after the end date."), field="from")
    if (last - first).days >= MAX_RANGE_DAYS:
        raise InvalidInput(_("Choose at most %(num)d days.", num=MAX_RANGE_DAYS), field="from")
    student_id = parse_id(args.get("student"), field="student")
    if student_id is not None:
        visible_student(scope, student_id)
    destination_id = parse_id(args.get("destination"), field="destination")
    if destination_id is not None:
        school_record(
            Destination, destination_id, scope.school.id, _("No such destination at this school.")
        )
    issuer_id = parse_id(args.get("teacher"), field="teacher")
    period = (args.get("period") or "").strip() or None
    if period is not None and period not in period_names(scope.school):
        raise InvalidInput(_("Period: choose one of the bell schedule."), field="period")
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


def overdue_of(seconds):
    """1 for a pass out longer than its time limit (`seconds` from `duration_seconds`),
    else 0, in SQL."""
    return case((seconds > HallPass.time_limit_minutes * 60 + OVERDUE_TOLERANCE, 1), else_=0)


def range_bounds(scope: Scope, flt: ReportFilter) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the filter's local days."""
    return (
        school_day_bounds(scope.school, flt.first)[0],
        school_day_bounds(scope.school, flt.last)[1],
    )


def pass_conditions(scope: Scope, flt: ReportFilter) -> list:
    """Where-clauses: the scope's passes started in the filter's days, with its student,
    destination and issuer (the period is a computed column: see `matching_passes`)."""
    start, end = range_bounds(scope, flt)
    clauses = [
        HallPass.school_id == scope.school.id,
        HallPass.started_at >= start,
        HallPass.started_at < end,
    ]
    if not scope.whole_school:
        clauses.append(HallPass.student_id.in_(taught_students(scope)))
    if flt.student_id is not None:
        clauses.append(HallPass.student_id == flt.student_id)
    if flt.destination_id is not None:
        clauses.append(HallPass.destination_id == flt.destination_id)
    if flt.issuer_id is not None:
        clauses.append(HallPass.issued_by_id == flt.issuer_id)
    return clauses


def bell_period_of(school_id: int, weekday, time_of_day):
    """The name of the school's bell period of `weekday` whose times contain `time_of_day`
    (the earliest starting, should two overlap), else NULL, as one CASE over the school's
    few periods: a lookup per pass took seconds over a year of passes (docs/performance.md).
    """
    periods = db.session.scalars(
        select(BellPeriod)
        .where(BellPeriod.school_id == school_id)
        .order_by(BellPeriod.weekday, BellPeriod.start_time, BellPeriod.id)
    ).all()
    if not periods:
        return literal(None, String())
    clock = Time()
    nothing = literal(None, String())
    of_day: dict[int, list] = {}
    for p in periods:
        of_day.setdefault(p.weekday, []).append(p)
    # CASE weekday WHEN ... : the weekday is computed once per row, and only that day's
    # periods are compared (a year's CSV: docs/performance.md, fourth part).
    return case(
        {
            weekday_number: case(
                *(
                    (
                        (time_of_day >= literal(p.start_time, clock))
                        & (time_of_day < literal(p.end_time, clock)),
                        p.name,
                    )
                    for p in day_periods
                ),
                else_=nothing,
            )
            for weekday_number, day_periods in of_day.items()
        },
        value=weekday,
        else_=nothing,
    )


def matching_passes(
    scope: Scope,
    flt: ReportFilter,
    now: datetime,
    *,
    clock: LocalClock | None = None,
    spans: list[tuple[datetime, datetime]] | None = None,
    newest: int | None = None,
):
    """One row per matching pass with its student, minutes, overdue, day, hour, period.

    The local-time columns are computed once per pass in a materialized CTE; the
    period is then read from those columns (`bell_period_of`). `spans` ([start, end) in
    UTC) keeps only the passes started in them (the days the daily summary does not
    hold, `reports.summary`); `newest` keeps only that many of the newest (found by the
    index on the start first, so a page's latest passes do not compute a year of them).
    """
    start, end = range_bounds(scope, flt)
    clock = clock or LocalClock(scope.school.timezone, start, end)
    seconds = duration_seconds(now)
    query = select(
        HallPass.id.label("pass_id"),
        HallPass.student_id,
        HallPass.destination_id,
        HallPass.issued_by_id,
        HallPass.started_at,
        (seconds / 60.0).label("minutes"),
        overdue_of(seconds).label("overdue"),
        clock.day(HallPass.started_at).label("day"),
        clock.hour(HallPass.started_at).label("hour"),
        clock.weekday(HallPass.started_at).label("weekday"),
        clock.time_of_day(HallPass.started_at).label("time_of_day"),
    ).where(*pass_conditions(scope, flt))
    if spans is not None:
        started = HallPass.started_at
        query = query.where(or_(false(), *(and_(started >= a, started < b) for a, b in spans)))
    if newest is not None:
        ids = query.with_only_columns(HallPass.id).order_by(
            HallPass.started_at.desc(), HallPass.id.desc()
        )
        query = query.where(HallPass.id.in_(ids.limit(newest)))
    base = query.cte("matching_passes").prefix_with("MATERIALIZED")
    period = bell_period_of(scope.school.id, base.c.weekday, base.c.time_of_day)
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

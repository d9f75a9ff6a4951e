"""Hall pass history and reports: figures, tables, the incident lookup, charts and CSV.

Every figure is aggregated in the database (GROUP BY over one subquery of the passes
that match the filters), never by looping over passes in Python. The definitions:

- minutes out of class: from the start to the end of each pass (to now while it is
  still active), summed;
- overdue: a pass that ended later than its start plus its time limit, or that is
  still active past it;
- a pass's day, hour and bell period are those of its start in the school's time zone;
  its period is the bell period of that weekday whose times contain the start.

Local times are computed in SQL: PostgreSQL converts with `timezone(zone, ts)`; SQLite,
which knows no time zones, adds the zone's UTC offset, which is constant between the
daylight saving changes found for the date range (a CASE over those instants).

What a viewer sees is a `Scope`: the office and admins see the whole school; a teacher
sees only the students enrolled in their own classes (every other student is refused).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape
from sqlalchemy import (
    Date,
    Integer,
    Time,
    and_,
    case,
    cast,
    extract,
    false,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.orm import aliased

from hallpass.models import Destination, HallPass
from shared.csvfile import csv_text, safe_cell
from shared.errors import Forbidden, InvalidInput, NotFound
from shared.extensions import db
from shared.models import (
    BellPeriod,
    Enrollment,
    Membership,
    Room,
    School,
    SchoolClass,
    Student,
    User,
    class_teachers,
)
from shared.schedule import period_names
from shared.students import matches_words, search_text
from shared.timeutil import UTCDateTime, utcnow

#: Longest date range of a report.
MAX_RANGE_DAYS = 366
#: Default range: the last 30 days.
DEFAULT_RANGE_DAYS = 30
#: Longest incident lookup window.
MAX_WINDOW_HOURS = 24
#: Rows of "most frequent users" on the page (the CSV has every student).
TOP_STUDENTS = 10
#: Passes listed on a report page (the CSV has all of them).
PAGE_PASSES = 100
#: Seconds a pass may run over its limit before it counts as overdue (float rounding).
OVERDUE_TOLERANCE = 0.001
NO_PERIOD = "outside periods"
NO_ISSUER = "students themselves (kiosk / room QR)"


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


def _taught_students(scope: Scope):
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
    student = db.session.get(Student, student_id) if student_id else None
    if student is None or student.school_id != scope.school.id:
        raise NotFound("No such student at this school.")
    if not scope.whole_school and not db.session.scalar(
        select(_taught_students(scope).where(Enrollment.student_id == student.id).exists())
    ):
        raise Forbidden("This student is not in one of your classes.")
    return student


def search_students(scope: Scope, query: str, *, limit: int = 25) -> list[Student]:
    """Students the viewer may see whose name contains the text (or whose number is it)."""
    text = search_text(query)
    if not text:
        return []
    found = select(Student).where(Student.school_id == scope.school.id, matches_words(text))
    if not scope.whole_school:
        found = found.where(Student.id.in_(_taught_students(scope)))
    return list(
        db.session.scalars(
            found.order_by(
                Student.active.desc(), Student.last_name, Student.first_name, Student.id
            ).limit(limit)
        )
    )


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


def school_today(school: School, now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(ZoneInfo(school.timezone)).date()


def _parse_day(raw: str | None, label: str) -> date | None:
    text = (raw or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{label}: enter a date like 2026-05-29.", field=label.lower()) from None


def parse_id(raw: str | None, label: str) -> int | None:
    """An optional id from a query argument (a bad one is refused, naming the field)."""
    text = (raw or "").strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit()) or len(text) > 12:
        raise InvalidInput(f"{label}: choose one from the list.", field=label.lower())
    return int(text)


def parse_filter(scope: Scope, args, today: date) -> ReportFilter:
    """The report filter from query arguments, checked (InvalidInput / NotFound)."""
    last = _parse_day(args.get("to"), "To") or today
    first = _parse_day(args.get("from"), "From") or last - timedelta(days=DEFAULT_RANGE_DAYS - 1)
    if first > last:
        raise InvalidInput("The start date is after the end date.", field="from")
    if (last - first).days >= MAX_RANGE_DAYS:
        raise InvalidInput(f"Choose at most {MAX_RANGE_DAYS} days.", field="from")
    student_id = parse_id(args.get("student"), "Student")
    if student_id is not None:
        visible_student(scope, student_id)
    destination_id = parse_id(args.get("destination"), "Destination")
    if destination_id is not None:
        destination = db.session.get(Destination, destination_id)
        if destination is None or destination.school_id != scope.school.id:
            raise NotFound("No such destination at this school.")
    issuer_id = parse_id(args.get("teacher"), "Teacher")
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


# ------------------------------------------------------------- local time in SQL


def day_start(tz: ZoneInfo, day: date) -> datetime:
    """The UTC instant of local midnight starting `day`."""
    return datetime.combine(day, time(), tzinfo=tz).astimezone(UTC)


def _offset_minutes(tz: ZoneInfo, instant: datetime) -> int:
    return int(instant.astimezone(tz).utcoffset().total_seconds() // 60)


def offset_changes(tz: ZoneInfo, start: datetime, end: datetime) -> list[tuple[datetime, int]]:
    """The zone's UTC offset from `start`, and each (instant, new offset) until `end`."""
    changes = [(start, _offset_minutes(tz, start))]
    hour = timedelta(hours=1)
    t = start
    while t < end:
        nxt = t + hour
        if _offset_minutes(tz, nxt) != changes[-1][1]:
            low, high = t, nxt  # find the minute the offset changed
            while high - low > timedelta(minutes=1):
                mid = low + (high - low) / 2
                if _offset_minutes(tz, mid) == changes[-1][1]:
                    low = mid
                else:
                    high = mid
            high = high.replace(second=0, microsecond=0)
            changes.append((high, _offset_minutes(tz, high)))
        t = nxt
    return changes


class LocalClock:
    """SQL expressions for a UTC column's local date, hour, weekday and time of day."""

    def __init__(self, school: School, start: datetime, end: datetime):
        self.tz = ZoneInfo(school.timezone)
        self.dialect = db.session.get_bind().dialect.name
        self.changes = offset_changes(self.tz, start - timedelta(days=2), end + timedelta(days=2))

    def local(self, column):
        """The local wall-clock timestamp (PostgreSQL: timestamp; SQLite: text)."""
        if self.dialect == "postgresql":
            return func.timezone(self.tz.key, column)
        first_offset = self.changes[0][1]
        if len(self.changes) == 1:
            modifier = literal(f"{first_offset:+d} minutes")
        else:
            whens = []
            for (_, offset), (instant, _) in zip(self.changes, self.changes[1:], strict=False):
                whens.append((column < literal(instant, UTCDateTime), f"{offset:+d} minutes"))
            modifier = case(*whens, else_=f"{self.changes[-1][1]:+d} minutes")
        return func.strftime("%Y-%m-%d %H:%M:%f", column, modifier)

    def day(self, column):
        if self.dialect == "postgresql":
            return cast(self.local(column), Date)
        return func.date(self.local(column))

    def hour(self, column):
        if self.dialect == "postgresql":
            return cast(extract("hour", self.local(column)), Integer)
        return cast(func.strftime("%H", self.local(column)), Integer)

    def weekday(self, column):
        """0 = Monday, as BellPeriod.weekday."""
        if self.dialect == "postgresql":
            return cast(extract("isodow", self.local(column)), Integer) - 1
        return (cast(func.strftime("%w", self.local(column)), Integer) + 6) % 7

    def time_of_day(self, column):
        """Comparable with BellPeriod times (SQLite stores them as HH:MM:SS.ffffff)."""
        if self.dialect == "postgresql":
            return cast(self.local(column), Time)
        return func.strftime("%H:%M:%f", self.local(column)) + "000"


def duration_seconds(now: datetime):
    """Seconds from a pass's start to its end (to `now` while active), in SQL."""
    end = func.coalesce(HallPass.ended_at, literal(now, UTCDateTime))
    if db.session.get_bind().dialect.name == "postgresql":
        return extract("epoch", end - HallPass.started_at)
    return (func.julianday(end) - func.julianday(HallPass.started_at)) * 86400.0


def _as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


# --------------------------------------------------------------- the pass rows


def _passes(scope: Scope, flt: ReportFilter, now: datetime, *, clock: LocalClock | None = None):
    """One row per matching pass with its student, minutes, overdue, day, hour, period.

    The local-time columns are computed once per pass in a materialized CTE; the
    period is then looked up from those columns (the bell schedule's index).
    """
    tz = ZoneInfo(scope.school.timezone)
    start, end = day_start(tz, flt.first), day_start(tz, flt.last + timedelta(days=1))
    clock = clock or LocalClock(scope.school, start, end)
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
        query = query.where(HallPass.student_id.in_(_taught_students(scope)))
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


@dataclass(frozen=True)
class Figures:
    """Passes, minutes out of class, overdue passes (and students) of one group."""

    passes: int = 0
    minutes: float = 0.0
    overdue: int = 0
    students: int = 0

    @property
    def average_minutes(self) -> float:
        return self.minutes / self.passes if self.passes else 0.0


@dataclass(frozen=True)
class Row:
    """One line of a grouped table: its key, its label and its figures."""

    key: object
    label: str
    figures: Figures


def _figures(rows) -> list:
    return [
        func.count(rows.c.pass_id),
        func.coalesce(func.sum(rows.c.minutes), 0.0),
        func.coalesce(func.sum(rows.c.overdue), 0),
        func.count(func.distinct(rows.c.student_id)),
    ]


def _make(count, minutes, overdue, students) -> Figures:
    return Figures(int(count or 0), float(minutes or 0), int(overdue or 0), int(students or 0))


@dataclass
class Report:
    """Everything the report page shows."""

    filter: ReportFilter
    totals: Figures
    by_destination: list[Row] = field(default_factory=list)
    by_teacher: list[Row] = field(default_factory=list)
    by_period: list[Row] = field(default_factory=list)
    by_student: list[Row] = field(default_factory=list)
    by_day: list[Row] = field(default_factory=list)
    by_hour: list[Row] = field(default_factory=list)


def totals(scope: Scope, flt: ReportFilter, now: datetime) -> Figures:
    rows = _passes(scope, flt, now)
    return _make(*db.session.execute(select(*_figures(rows))).one())


def by_destination(scope: Scope, flt: ReportFilter, now: datetime) -> list[Row]:
    rows = _passes(scope, flt, now)
    result = db.session.execute(
        select(Destination.id, Destination.name, *_figures(rows))
        .join(Destination, Destination.id == rows.c.destination_id)
        .group_by(Destination.id, Destination.name)
        .order_by(func.count(rows.c.pass_id).desc(), Destination.name)
    )
    return [Row(key, name, _make(*figures)) for key, name, *figures in result]


def by_teacher(scope: Scope, flt: ReportFilter, now: datetime) -> list[Row]:
    """Passes by the staff member who issued (or approved) them."""
    rows = _passes(scope, flt, now)
    result = db.session.execute(
        select(rows.c.issued_by_id, User.name, *_figures(rows))
        .outerjoin(User, User.id == rows.c.issued_by_id)
        .group_by(rows.c.issued_by_id, User.name)
        .order_by(func.count(rows.c.pass_id).desc(), User.name)
    )
    return [Row(key, name or NO_ISSUER, _make(*figures)) for key, name, *figures in result]


def by_period(scope: Scope, flt: ReportFilter, now: datetime) -> list[Row]:
    rows = _passes(scope, flt, now)
    result = db.session.execute(select(rows.c.period, *_figures(rows)).group_by(rows.c.period))
    order = {name: n for n, name in enumerate(period_names(scope.school))}
    found = [Row(name, name, _make(*figures)) for name, *figures in result]
    return sorted(found, key=lambda row: order.get(row.key, len(order)))


def by_student(
    scope: Scope, flt: ReportFilter, now: datetime, *, limit: int | None = TOP_STUDENTS
) -> list[Row]:
    """The most frequent users: passes per student, most first."""
    rows = _passes(scope, flt, now)
    query = (
        select(Student.id, Student.last_name, Student.first_name, *_figures(rows))
        .join(Student, Student.id == rows.c.student_id)
        .group_by(Student.id, Student.last_name, Student.first_name)
        .order_by(
            func.count(rows.c.pass_id).desc(),
            func.sum(rows.c.minutes).desc(),
            Student.last_name,
            Student.id,
        )
    )
    if limit is not None:
        query = query.limit(limit)
    return [
        Row(key, f"{last}, {first}", _make(*figures))
        for key, last, first, *figures in db.session.execute(query)
    ]


def by_day(scope: Scope, flt: ReportFilter, now: datetime) -> list[Row]:
    """Every weekday of the range (and any weekend day with passes), oldest first."""
    rows = _passes(scope, flt, now)
    found = {
        _as_date(day): _make(*figures)
        for day, *figures in db.session.execute(
            select(rows.c.day, *_figures(rows)).group_by(rows.c.day)
        )
    }
    days = []
    day = flt.first
    while day <= flt.last:
        if day.weekday() < 5 or day in found:
            days.append(Row(day, day.strftime("%a %b %d"), found.get(day, Figures())))
        day += timedelta(days=1)
    return days


def by_hour(scope: Scope, flt: ReportFilter, now: datetime) -> list[Row]:
    """Passes started in each hour of the (local) day, from the first to the last used."""
    rows = _passes(scope, flt, now)
    found = {
        int(hour): _make(*figures)
        for hour, *figures in db.session.execute(
            select(rows.c.hour, *_figures(rows)).group_by(rows.c.hour)
        )
    }
    if not found:
        return []
    low, high = min(min(found), 7), max(max(found), 15)
    return [Row(h, f"{h:02d}:00", found.get(h, Figures())) for h in range(low, high + 1)]


def build_report(scope: Scope, flt: ReportFilter, now: datetime | None = None) -> Report:
    """The whole report for the page."""
    now = now or utcnow()
    return Report(
        filter=flt,
        totals=totals(scope, flt, now),
        by_destination=by_destination(scope, flt, now),
        by_teacher=by_teacher(scope, flt, now),
        by_period=by_period(scope, flt, now),
        by_student=by_student(scope, flt, now),
        by_day=by_day(scope, flt, now),
        by_hour=by_hour(scope, flt, now),
    )


# ------------------------------------------------------------------ pass listings


@dataclass(frozen=True)
class PassLine:
    """One pass as a report lists it."""

    pass_id: int
    student_id: int
    student: str
    grade: str | None
    destination: str
    from_room: str | None
    issued_by: str | None
    source: str
    started_at: datetime
    ended_at: datetime | None
    ended_by: str | None
    time_limit_minutes: int
    minutes: float
    overdue: bool
    period: str
    urgent: bool
    override_reason: str | None
    status: str


def _lines(rows_query) -> list[PassLine]:
    return [
        PassLine(
            pass_id=r.id,
            student_id=r.student_id,
            student=f"{r.last_name}, {r.first_name}",
            grade=r.grade,
            destination=r.destination,
            from_room=r.from_room,
            issued_by=r.issued_by,
            source=r.source,
            started_at=r.started_at,
            ended_at=r.ended_at,
            ended_by=r.ended_by,
            time_limit_minutes=r.time_limit_minutes,
            minutes=float(r.minutes or 0),
            overdue=bool(r.overdue),
            period=r.period,
            urgent=bool(r.urgent),
            override_reason=r.override_reason,
            status=r.status,
        )
        for r in db.session.execute(rows_query)
    ]


def _line_columns(rows):
    issuer = aliased(User)
    query = (
        select(
            HallPass.id,
            HallPass.student_id,
            Student.last_name,
            Student.first_name,
            Student.grade,
            Destination.name.label("destination"),
            Room.name.label("from_room"),
            issuer.name.label("issued_by"),
            HallPass.source,
            HallPass.started_at,
            HallPass.ended_at,
            HallPass.ended_by,
            HallPass.time_limit_minutes,
            rows.c.minutes,
            rows.c.overdue,
            rows.c.period,
            HallPass.urgent,
            HallPass.override_reason,
            HallPass.status,
        )
        .select_from(rows)
        .join(HallPass, HallPass.id == rows.c.pass_id)
        .join(Student, Student.id == HallPass.student_id)
        .join(Destination, Destination.id == HallPass.destination_id)
        .outerjoin(Room, Room.id == HallPass.from_room_id)
        .outerjoin(issuer, issuer.id == HallPass.issued_by_id)
    )
    return query


def pass_lines(
    scope: Scope, flt: ReportFilter, now: datetime | None = None, *, limit: int | None = None
) -> list[PassLine]:
    """The matching passes, newest first (all of them without a limit)."""
    rows = _passes(scope, flt, now or utcnow())
    query = _line_columns(rows).order_by(HallPass.started_at.desc(), HallPass.id.desc())
    if limit is not None:
        query = query.limit(limit)
    return _lines(query)


# ----------------------------------------------------------------- incident lookup


@dataclass(frozen=True)
class Window:
    """An incident lookup window, [start, end) in UTC, from local date and times."""

    day: date
    start: datetime
    end: datetime
    from_text: str
    to_text: str

    def query_args(self, **extra) -> dict:
        """The window as URL query arguments."""
        args = {"day": self.day.isoformat(), "from": self.from_text, "to": self.to_text, **extra}
        return {k: v for k, v in args.items() if v not in (None, "")}


def parse_window(school: School, args, today: date) -> Window | None:
    """The lookup window from "day", "from" and "to" (local HH:MM); None when not asked."""
    day_text, from_text, to_text = ((args.get(key) or "").strip() for key in ("day", "from", "to"))
    if not (day_text or from_text or to_text):
        return None
    day = _parse_day(day_text, "Day") or today
    try:
        start_t = time.fromisoformat(from_text) if from_text else time(0, 0)
        end_t = time.fromisoformat(to_text) if to_text else None
    except ValueError:
        raise InvalidInput("Enter times like 10:05.", field="from") from None
    tz = ZoneInfo(school.timezone)
    start = datetime.combine(day, start_t, tzinfo=tz).astimezone(UTC)
    end = (
        datetime.combine(day, end_t, tzinfo=tz).astimezone(UTC)
        if end_t is not None
        else day_start(tz, day + timedelta(days=1))
    )
    if end <= start:
        raise InvalidInput("The end of the window must be after its start.", field="to")
    if end - start > timedelta(hours=MAX_WINDOW_HOURS):
        raise InvalidInput(f"Choose a window of at most {MAX_WINDOW_HOURS} hours.", field="to")
    return Window(
        day, start, end, start_t.strftime("%H:%M"), end_t.strftime("%H:%M") if end_t else ""
    )


def _overlapping(scope: Scope, start: datetime, end: datetime, now: datetime) -> list:
    """Where-clauses: passes of the scope whose time out overlaps [start, end)."""
    ended_after = HallPass.ended_at > start
    still_out = HallPass.ended_at.is_(None) if now > start else false()
    clauses = [
        HallPass.school_id == scope.school.id,
        HallPass.started_at < end,
        or_(ended_after, and_(HallPass.status == "active", still_out)),
    ]
    if not scope.whole_school:
        clauses.append(HallPass.student_id.in_(_taught_students(scope)))
    return clauses


@dataclass
class Overlap:
    """A pass of the student in the window, and every other pass out at the same time."""

    own: PassLine | None
    others: list[PassLine]


def who_was_out(
    scope: Scope, window: Window, *, student_id: int | None = None, now: datetime | None = None
) -> list[Overlap]:
    """Every pass out during the window; with a student, those out while they were.

    Intervals are half-open: a pass that ended exactly when the window starts, or
    started exactly when it ends, was not out during it.
    """
    now = now or utcnow()
    tz = ZoneInfo(scope.school.timezone)
    flt = ReportFilter(
        first=window.start.astimezone(tz).date() - timedelta(days=1),
        last=window.end.astimezone(tz).date(),
    )

    def lines(start: datetime, end: datetime, *extra) -> list[PassLine]:
        rows = _passes(scope, flt, now)
        query = (
            _line_columns(rows)
            .where(*_overlapping(scope, start, end, now), *extra)
            .order_by(HallPass.started_at, HallPass.id)
        )
        return _lines(query)

    if student_id is None:
        return [Overlap(None, lines(window.start, window.end))]
    visible_student(scope, student_id)
    found = []
    for own in lines(window.start, window.end, HallPass.student_id == student_id):
        own_end = own.ended_at or now
        start, end = max(own.started_at, window.start), min(own_end, window.end)
        others = lines(start, end, HallPass.student_id != student_id)
        found.append(Overlap(own, others))
    return found


# ---------------------------------------------------------------------- SVG charts

CHART_WIDTH = 760
CHART_HEIGHT = 240
_LEFT, _RIGHT, _TOP, _BOTTOM = 44, 12, 14, 46


def _nice_top(value: int) -> tuple[int, int]:
    """A round top for the value axis and the step (1, 2 or 5 times a power of ten)."""
    value = max(value, 1)
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            step = factor * magnitude
            if value / step <= 6:
                return -(-value // step) * step, step
        magnitude *= 10


def bar_chart_svg(
    title: str, rows: list[Row], *, chart_id: str, value: str = "passes", css: str = ""
) -> Markup:
    """A bar chart as inline SVG: one bar per row, its value from the row's figures."""
    if not rows:
        return Markup("")
    values = [getattr(row.figures, value) for row in rows]
    top, step = _nice_top(int(max(values) + 0.999))
    width = CHART_WIDTH - _LEFT - _RIGHT
    height = CHART_HEIGHT - _TOP - _BOTTOM
    slot = width / len(rows)
    bar = max(1.0, slot * 0.7)
    label_every = max(1, round(len(rows) / 12))
    classes = f"chart {css}".strip()
    parts = [
        f'<svg class="{escape(classes)}" viewBox="0 0 {CHART_WIDTH} {CHART_HEIGHT}" '
        f'role="img" aria-labelledby="{chart_id}" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{chart_id}">{escape(title)}</title>',
    ]
    for tick in range(0, top + 1, step):
        y = _TOP + height * (1 - tick / top)
        parts.append(
            f'<line class="chart-grid" x1="{_LEFT}" x2="{CHART_WIDTH - _RIGHT}" y1="{y:.1f}" '
            f'y2="{y:.1f}" stroke="#d8dde3" stroke-width="1"/>'
            f'<text class="chart-label" x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" '
            f'font-size="12">{tick}</text>'
        )
    for n, (row, amount) in enumerate(zip(rows, values, strict=True)):
        x = _LEFT + slot * n + (slot - bar) / 2
        h = height * amount / top
        shown = f"{amount:.0f}" if value != "passes" else str(amount)
        parts.append(
            f'<rect class="chart-bar" x="{x:.1f}" y="{_TOP + height - h:.1f}" width="{bar:.1f}" '
            f'height="{h:.1f}" fill="#1f5fbf"><title>{escape(row.label)}: {shown}</title></rect>'
        )
        if n % label_every == 0:
            cx = _LEFT + slot * n + slot / 2
            parts.append(
                f'<text class="chart-label" x="{cx:.1f}" y="{_TOP + height + 16}" '
                f'text-anchor="middle" font-size="11">{escape(_short(row))}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - numbers and escaped labels only


def _short(row: Row) -> str:
    if isinstance(row.key, date):
        return row.key.strftime("%m/%d")
    return row.label


# ----------------------------------------------------------------------------- CSV


def csv_cell(value) -> str:
    """A spreadsheet-safe cell: yes/no, floats with one decimal, the rest as `safe_cell`."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.1f}"
    return safe_cell(value)


def figures_csv(first_header: str, rows: list[Row]) -> str:
    """A grouped table as CSV."""
    table: list[list] = [[first_header, "passes", "minutes out of class", "overdue", "students"]]
    for row in rows:
        f = row.figures
        table.append([row.label, f.passes, round(f.minutes, 1), f.overdue, f.students])
    return csv_text(table, csv_cell)


def passes_csv(school: School, lines: list[PassLine]) -> str:
    """Passes as CSV, one per line, times in the school's time zone."""
    tz = ZoneInfo(school.timezone)

    def local(dt: datetime | None, fmt: str) -> str:
        return dt.astimezone(tz).strftime(fmt) if dt else ""

    table: list[list] = [
        [
            "date",
            "started",
            "ended",
            "minutes",
            "time limit",
            "overdue",
            "student",
            "grade",
            "destination",
            "from room",
            "period",
            "source",
            "issued by",
            "ended by",
            "urgent",
            "override reason",
            "status",
        ]
    ]
    for p in lines:
        table.append(
            [
                local(p.started_at, "%Y-%m-%d"),
                local(p.started_at, "%H:%M:%S"),
                local(p.ended_at, "%H:%M:%S"),
                round(p.minutes, 1),
                p.time_limit_minutes,
                p.overdue,
                p.student,
                p.grade,
                p.destination,
                p.from_room,
                p.period,
                p.source,
                p.issued_by,
                p.ended_by,
                p.urgent,
                p.override_reason,
                p.status,
            ]
        )
    return csv_text(table, csv_cell)


#: The grouped tables a report can export: kind -> (first column header, builder).
TABLES = {
    "destinations": ("destination", by_destination),
    "teachers": ("issued by", by_teacher),
    "periods": ("period", by_period),
    "days": ("day", by_day),
    "hours": ("hour", by_hour),
}


def report_csv(scope: Scope, flt: ReportFilter, kind: str, now: datetime | None = None) -> str:
    """One report table (or every matching pass) as CSV."""
    now = now or utcnow()
    if kind == "passes":
        return passes_csv(scope.school, pass_lines(scope, flt, now))
    if kind == "students":
        return figures_csv("student", by_student(scope, flt, now, limit=None))
    if kind == "summary":
        return figures_csv("all passes", [Row(None, "all passes", totals(scope, flt, now))])
    if kind not in TABLES:
        raise NotFound("No such report.")
    header, build = TABLES[kind]
    return figures_csv(header, build(scope, flt, now))


def incident_csv(school: School, overlaps: list[Overlap]) -> str:
    """The incident lookup as CSV: the student's passes, each followed by those out with it."""
    lines = passes_csv(school, []).splitlines()
    table = [["role", *next(csv.reader(lines))]]
    for overlap in overlaps:
        group = ([("student looked up", overlap.own)] if overlap.own else []) + [
            ("out at the same time" if overlap.own else "out in the window", other)
            for other in overlap.others
        ]
        for role, line in group:
            row = next(csv.reader(passes_csv(school, [line]).splitlines()[1:]))
            table.append([role, *row])
    return csv_text(table, str)  # the cells are already safe

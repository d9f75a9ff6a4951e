"""Hall pass report listings: the matching passes one per line, and who was out together.

A report page lists the newest matching passes (`pass_lines`); the incident lookup
(`who_was_out`) answers "who was out of class between 10:05 and 10:20", or "who was out
while this student was", from a window of local times. Both read the same columns
(`PassLine`), so the CSV files write them the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import chain
from zoneinfo import ZoneInfo

from sqlalchemy import and_, false, or_, select
from sqlalchemy.orm import aliased

from hallpass.models import Destination, HallPass
from hallpass.reports.scope import (
    ReportFilter,
    Scope,
    matching_passes,
    taught_students,
    visible_student,
)
from shared.errors import InvalidInput
from shared.extensions import db
from shared.forms import parse_clock, parse_day
from shared.models import Room, School, Student, User
from shared.schedule import school_day_bounds
from shared.timeutil import utcnow

#: Passes listed on a report page (the CSV has all of them).
PAGE_PASSES = 100
#: Rows fetched at a time when a CSV streams every matching pass.
STREAM_BATCH = 2000
#: Longest incident lookup window.
MAX_WINDOW_HOURS = 24


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


def _line(r) -> PassLine:
    return PassLine(
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


def _lines(rows_query) -> list[PassLine]:
    return [_line(r) for r in db.session.execute(rows_query)]


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
    rows = matching_passes(scope, flt, now or utcnow())
    query = _line_columns(rows).order_by(HallPass.started_at.desc(), HallPass.id.desc())
    if limit is not None:
        query = query.limit(limit)
    return _lines(query)


def stream_pass_lines(
    scope: Scope, flt: ReportFilter, now: datetime | None = None
) -> Iterator[PassLine]:
    """Every matching pass, newest first, read a batch at a time (a server-side cursor on
    PostgreSQL): a year of a big school is half a million passes, never all in memory.

    The query runs and its first batch is read here, before anything is sent, so a
    database that fails or times out still gets its clear 503 instead of a cut download.
    """
    rows = matching_passes(scope, flt, now or utcnow())
    query = _line_columns(rows).order_by(HallPass.started_at.desc(), HallPass.id.desc())
    result = db.session.execute(query.execution_options(yield_per=STREAM_BATCH))
    first = result.fetchmany(STREAM_BATCH)
    return (_line(r) for r in chain(first, result))


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
    day = parse_day(day_text, today=today, field="day", label="Day")
    start_t = parse_clock(from_text, field="from", label="From") or time(0, 0)
    end_t = parse_clock(to_text, field="to", label="To")
    tz = ZoneInfo(school.timezone)
    start = datetime.combine(day, start_t, tzinfo=tz).astimezone(UTC)
    end = (
        datetime.combine(day, end_t, tzinfo=tz).astimezone(UTC)
        if end_t is not None
        else school_day_bounds(school, day)[1]
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
        clauses.append(HallPass.student_id.in_(taught_students(scope)))
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
        rows = matching_passes(scope, flt, now)
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

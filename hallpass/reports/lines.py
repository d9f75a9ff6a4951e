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
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from flask_babel import lazy_gettext
from sqlalchemy import (
    DateTime,
    Float,
    Integer,
    String,
    and_,
    bindparam,
    cast,
    false,
    func,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.orm import aliased

from hallpass.models import Destination, HallPass, PassSource
from hallpass.reports.scope import (
    NO_PERIOD,
    ReportFilter,
    Scope,
    bell_period_of,
    duration_seconds,
    matching_passes,
    overdue_of,
    pass_conditions,
    period_label,
    range_bounds,
    taught_students,
    visible_student,
)
from shared.database import read_intent
from shared.errors import InvalidInput
from shared.extensions import db
from shared.forms import parse_clock, parse_day
from shared.localtime_sql import LocalClock
from shared.models import Room, School, Student, SubstituteAssignment, User
from shared.schedule import school_day_bounds
from shared.timeutil import utcnow

#: Passes listed on a report page (the CSV has all of them).
PAGE_PASSES = 100
#: Passes read per statement when a CSV streams every matching pass.
STREAM_BATCH = 5000
#: Longest incident lookup window.
MAX_WINDOW_HOURS = 24
#: Where a pass was started, as a report names it.
SOURCE_LABELS = {
    PassSource.TEACHER: lazy_gettext("teacher"),
    PassSource.KIOSK: lazy_gettext("kiosk"),
    PassSource.ROOM_QR: lazy_gettext("room QR"),
    PassSource.APPOINTMENT: lazy_gettext("appointment"),
}


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
    #: The substitute's name when a substitute issued the pass (`issued_by` is then the
    #: absent teacher they stood in for).
    substitute: str | None = None

    @property
    def source_label(self) -> str:
        """Where the pass was started, in the reader's language."""
        label = SOURCE_LABELS.get(self.source)
        return str(label) if label is not None else self.source

    @property
    def period_label(self) -> str:
        """The pass's period as a page names it."""
        return period_label(self.period)


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
        substitute=r.substitute,
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
            SubstituteAssignment.name.label("substitute"),
        )
        .select_from(rows)
        .join(HallPass, HallPass.id == rows.c.pass_id)
        .join(Student, Student.id == HallPass.student_id)
        .join(Destination, Destination.id == HallPass.destination_id)
        .outerjoin(Room, Room.id == HallPass.from_room_id)
        .outerjoin(issuer, issuer.id == HallPass.issued_by_id)
        .outerjoin(SubstituteAssignment, SubstituteAssignment.id == HallPass.substitute_id)
    )
    return query


def pass_lines(
    scope: Scope, flt: ReportFilter, now: datetime | None = None, *, limit: int | None = None
) -> list[PassLine]:
    """The matching passes, newest first (all of them without a limit).

    With a limit (and no period filter, which needs every pass's period first) only the
    newest passes are computed, found by the index on their start, not a year of them
    (docs/performance.md, third part).
    """
    newest = limit if flt.period is None else None
    rows = matching_passes(scope, flt, now or utcnow(), newest=newest)
    query = _line_columns(rows).order_by(HallPass.started_at.desc(), HallPass.id.desc())
    if limit is not None:
        query = query.limit(limit)
    return _lines(query)


#: The columns of `stream_pass_rows`, in order (the CSV's; its rows end with two more,
#: the keyset it pages by).
PASS_ROW_COLUMNS = (
    "day", "started", "ended", "minutes", "time_limit_minutes", "overdue", "last_name",
    "first_name", "grade", "destination", "from_room", "period", "source", "issued_by",
    "ended_by", "urgent", "override_reason", "status", "substitute",
)  # fmt: skip


def _key_type():
    """A pass's start as the keyset reads it back: as stored, with no conversion per row
    (SQLite: its text; PostgreSQL: psycopg's datetime)."""
    return String() if db.engine.dialect.name == "sqlite" else DateTime(timezone=True)


def _pass_rows_batch(scope: Scope, flt: ReportFilter, now: datetime, *, after: bool):
    """The statement of `STREAM_BATCH` matching passes, newest first (with `after`: those
    started before the parameters `last_start` and `last_id`, the last row read), as
    plain columns (`PASS_ROW_COLUMNS`, then the pass's start and id).

    The batch is chosen first, by the index on the school's starts (no sort of the
    range), with each start's local time computed once; the period's CASE, the local
    date and times as text and the names are then computed for those rows only.
    """
    start, end = range_bounds(scope, flt)
    clock = LocalClock(scope.school.timezone, start, end)
    seconds = duration_seconds(now)
    started = HallPass.started_at
    local = clock.local(started)
    query = select(
        HallPass.id,
        type_coerce(started, _key_type()).label("key"),
        local.label("local"),
        clock.local(HallPass.ended_at).label("local_end"),
        cast(seconds / 60.0, Float).label("minutes"),
        overdue_of(seconds).label("overdue"),
        HallPass.time_limit_minutes,
        HallPass.student_id,
        HallPass.destination_id,
        HallPass.from_room_id,
        HallPass.issued_by_id,
        HallPass.substitute_id,
        HallPass.source,
        HallPass.ended_by,
        HallPass.urgent,
        HallPass.override_reason,
        HallPass.status,
    ).where(*pass_conditions(scope, flt))
    if flt.period is not None:  # chosen before the batch's limit
        chosen = func.coalesce(
            bell_period_of(scope.school.id, clock.weekday(started), clock.time_of_day(started)),
            NO_PERIOD,
        )
        query = query.where(chosen == flt.period)
    if after:
        key = type_coerce(started, _key_type())  # compared as read back
        last_start = bindparam("last_start", type_=_key_type())
        last_id = bindparam("last_id", type_=Integer())
        query = query.where(key <= last_start, or_(key < last_start, HallPass.id < last_id))
    batch = query.order_by(started.desc(), HallPass.id.desc()).limit(STREAM_BATCH)
    batch = batch.subquery("batch")
    period = func.coalesce(
        bell_period_of(
            scope.school.id,
            clock.weekday_of_local(batch.c.local),
            clock.time_of_day_of_local(batch.c.local),
        ),
        NO_PERIOD,
    )
    issuer = aliased(User)
    return (
        select(
            clock.date_text_of_local(batch.c.local),
            clock.clock_text_of_local(batch.c.local),
            clock.clock_text_of_local(batch.c.local_end),
            batch.c.minutes,
            batch.c.time_limit_minutes,
            batch.c.overdue,
            Student.last_name,
            Student.first_name,
            Student.grade,
            Destination.name,
            Room.name,
            period,
            batch.c.source,
            issuer.name,
            batch.c.ended_by,
            batch.c.urgent,
            batch.c.override_reason,
            batch.c.status,
            SubstituteAssignment.name,
            batch.c.key,
            batch.c.id,
        )
        .select_from(batch)
        .join(Student, Student.id == batch.c.student_id)
        .join(Destination, Destination.id == batch.c.destination_id)
        .outerjoin(Room, Room.id == batch.c.from_room_id)
        .outerjoin(issuer, issuer.id == batch.c.issued_by_id)
        .outerjoin(SubstituteAssignment, SubstituteAssignment.id == batch.c.substitute_id)
        .order_by(batch.c.key.desc(), batch.c.id.desc())
    )


def stream_pass_rows(
    scope: Scope, flt: ReportFilter, now: datetime | None = None
) -> Iterator[tuple]:
    """Every matching pass, newest first, as rows of `PASS_ROW_COLUMNS` and then two
    columns of its own (the keyset's; the CSV writes the first ones only) (the CSV of
    every pass: a year of a big school is half a million passes, never all in memory,
    and no ORM objects or `PassLine`s: docs/performance.md, fourth part).

    They are read `STREAM_BATCH` at a time, each batch one statement in a transaction of
    its own on a connection borrowed for that statement alone: the passes started before
    the last one read (keyset, `_pass_rows_batch`). So a slow download holds no
    transaction and no connection open between batches, and the request's own session
    may commit (it does once the view has answered). A pass changed while the file
    downloads is written as it was when its batch was read.

    The first batch is read here, before anything is sent, so a database that fails or
    times out still gets its clear 503 instead of a cut download.
    """
    now = now or utcnow()
    width = len(PASS_ROW_COLUMNS)
    # Both statements are built now (they read the bell schedule through the session).
    newest = _pass_rows_batch(scope, flt, now, after=False)
    older = _pass_rows_batch(scope, flt, now, after=True)

    def batch(query, **after) -> list:
        # A read (SQLite: no write lock), even after the request has ended.
        with read_intent(), db.engine.connect() as connection:
            rows = connection.execute(query, after).all()
            connection.rollback()  # its transaction ends now
        return rows

    first = batch(newest)

    def every_row():
        rows = first
        while rows:
            yield from rows
            if len(rows) < STREAM_BATCH:
                return
            rows = batch(older, last_start=rows[-1][width], last_id=rows[-1][width + 1])

    return every_row()


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
    day = parse_day(day_text, today=today, field="day", label=_("Day"))
    start_t = parse_clock(from_text, field="from", label=_("From")) or time(0, 0)
    end_t = parse_clock(to_text, field="to", label=_("To"))
    tz = ZoneInfo(school.timezone)
    start = datetime.combine(day, start_t, tzinfo=tz).astimezone(UTC)
    end = (
        datetime.combine(day, end_t, tzinfo=tz).astimezone(UTC)
        if end_t is not None
        else school_day_bounds(school, day)[1]
    )
    if end <= start:
        raise InvalidInput(_("The end of the window must be after its start."), field="to")
    if end - start > timedelta(hours=MAX_WINDOW_HOURS):
        raise InvalidInput(
            _("Choose a window of at most %(num)d hours.", num=MAX_WINDOW_HOURS), field="to"
        )
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

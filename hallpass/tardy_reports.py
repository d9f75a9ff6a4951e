"""Late arrival reports: who was late, on which day, in which period, and why; and the
CSV file for the student information system (SIS).

Whose tardies a viewer sees (one home, `visible`): the office and admins every tardy of
the school; a teacher the tardies recorded into their own classes. Filters: a date range
(school days, inclusive, at most a year), a reason and a period, read from the query
string (codes and dates only, never names).

The SIS file (docs/tardies-csv.md) is a machine format: one row per tardy, fixed English
column names and codes whatever the reader's language, ISO dates and 24-hour local times,
so an import script written once keeps working. It is streamed, so a year of a district
school is never held in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlalchemy import Select, func, select
from sqlalchemy.orm import joinedload

from hallpass.reports.scope import MAX_RANGE_DAYS, Scope
from hallpass.tardy_models import TARDY_REASONS, Tardy
from shared.csvfile import csv_text, safe_cell
from shared.errors import InvalidInput
from shared.extensions import db
from shared.forms import parse_date, parse_day
from shared.models import SchoolClass, Student, class_teachers
from shared.schedule import period_names

#: The SIS file's columns, in order (docs/tardies-csv.md): never translated.
SIS_COLUMNS = [
    "student_number",
    "date",
    "period",
    "minutes_late",
    "arrival_time",
    "reason",
    "class_sourced_id",
    "source",
]
#: Tardies listed on the report page (the CSV has them all).
PAGE_TARDIES = 200
#: Rows read per chunk of the streamed CSV.
CSV_CHUNK = 500
DEFAULT_RANGE_DAYS = 30


@dataclass(frozen=True)
class TardyFilter:
    """What a tardy report covers: a date range and optionally a reason and a period."""

    first: date
    last: date
    reason: str | None = None
    period: str | None = None

    def query_args(self) -> dict:
        args = {
            "from": self.first.isoformat(),
            "to": self.last.isoformat(),
            "reason": self.reason,
            "period": self.period,
        }
        return {k: v for k, v in args.items() if v}


def parse_filter(scope: Scope, args, today: date) -> TardyFilter:
    """The filter from query arguments, checked (`InvalidInput` on the field at fault)."""
    last = parse_day(args.get("to"), today=today, field="to", label=_("To"))
    default_first = last - timedelta(days=DEFAULT_RANGE_DAYS - 1)
    first = parse_date(args.get("from"), field="from", label=_("From"), default=default_first)
    if first > last:
        raise InvalidInput(_("The start date is after the end date."), field="from")
    if (last - first).days >= MAX_RANGE_DAYS:
        raise InvalidInput(_("Choose at most %(num)d days.", num=MAX_RANGE_DAYS), field="from")
    reason = (args.get("reason") or "").strip() or None
    if reason is not None and reason not in TARDY_REASONS:
        raise InvalidInput(_("Reason: choose one from the list."), field="reason")
    period = (args.get("period") or "").strip() or None
    if period is not None and period not in period_names(scope.school):
        raise InvalidInput(_("Period: choose one of the bell schedule."), field="period")
    return TardyFilter(first, last, reason, period)


def teacher_class_ids(teacher_id: int):
    """Ids of the classes a teacher teaches (a subquery)."""
    return select(class_teachers.c.class_id).where(class_teachers.c.user_id == teacher_id)


def visible(scope: Scope, query: Select) -> Select:
    """THE tardy rule: `query` over `Tardy` narrowed to what the viewer may see."""
    query = query.where(Tardy.school_id == scope.school.id)
    if not scope.whole_school:
        query = query.where(Tardy.class_id.in_(teacher_class_ids(scope.teacher_id)))
    return query


def may_see_class(scope: Scope, class_id: int | None) -> bool:
    """May the viewer see tardies recorded into this class (a teacher: their own)."""
    if scope.whole_school:
        return True
    if class_id is None:
        return False
    return bool(
        db.session.scalar(
            select(
                teacher_class_ids(scope.teacher_id)
                .where(class_teachers.c.class_id == class_id)
                .exists()
            )
        )
    )


def _matching(scope: Scope, flt: TardyFilter) -> Select:
    query = visible(scope, select(Tardy)).where(Tardy.day >= flt.first, Tardy.day <= flt.last)
    if flt.reason is not None:
        query = query.where(Tardy.reason == flt.reason)
    if flt.period is not None:
        query = query.where(Tardy.period == flt.period)
    return query


def tardy_lines(
    scope: Scope,
    flt: TardyFilter,
    *,
    student_id: int | None = None,
    limit: int | None = PAGE_TARDIES,
) -> list[Tardy]:
    """The matching tardies, latest first, with their student and class."""
    query = _matching(scope, flt)
    if student_id is not None:
        query = query.where(Tardy.student_id == student_id)
    query = query.options(joinedload(Tardy.student), joinedload(Tardy.school_class)).order_by(
        Tardy.arrived_at.desc(), Tardy.id.desc()
    )
    if limit is not None:
        query = query.limit(limit)
    return list(db.session.scalars(query))


@dataclass(frozen=True)
class TardyCounts:
    """The report's figures: tardies, students, minutes, and counts by reason and period."""

    tardies: int
    students: int
    minutes: int
    by_reason: list[tuple[str, int]]
    by_period: list[tuple[str | None, int]]
    by_student: list[tuple[Student, int, int]]


#: Students listed in "most late".
TOP_STUDENTS = 10


def counts(scope: Scope, flt: TardyFilter) -> TardyCounts:
    """The figures of the matching tardies, aggregated in SQL."""
    base = _matching(scope, flt).subquery()
    total, students, minutes = db.session.execute(
        select(
            func.count(),
            func.count(base.c.student_id.distinct()),
            func.coalesce(func.sum(base.c.minutes_late), 0),
        )
    ).one()
    by_reason = db.session.execute(
        select(base.c.reason, func.count()).group_by(base.c.reason).order_by(func.count().desc())
    ).all()
    by_period = db.session.execute(
        select(base.c.period, func.count()).group_by(base.c.period).order_by(base.c.period)
    ).all()
    by_student = db.session.execute(
        select(Student, func.count(), func.coalesce(func.sum(base.c.minutes_late), 0))
        .join(base, base.c.student_id == Student.id)
        .group_by(Student.id)
        .order_by(func.count().desc(), Student.last_name, Student.id)
        .limit(TOP_STUDENTS)
    ).all()
    return TardyCounts(
        total,
        students,
        int(minutes),
        [tuple(r) for r in by_reason],
        [tuple(r) for r in by_period],
        [tuple(r) for r in by_student],
    )


def sis_csv_chunks(scope: Scope, flt: TardyFilter) -> Iterator[str]:
    """The SIS file (docs/tardies-csv.md): the header, then one row per tardy, oldest
    first, in chunks as they are read.

    As the pass CSV does (hallpass/reports/lines.py `stream_pass_lines`), the query runs
    and its first batch is read here, before anything is sent (a failing database gets
    its clear 503, not a cut file), on a connection of its own: the request's session
    commits once the view has answered, and a commit would end the cursor.
    """
    tz = ZoneInfo(scope.school.timezone)
    query = (
        _matching(scope, flt)
        .with_only_columns(
            Student.student_number,
            Tardy.day,
            Tardy.period,
            Tardy.minutes_late,
            Tardy.arrived_at,
            Tardy.reason,
            SchoolClass.sourced_id,
            Tardy.source,
        )
        .join(Student, Student.id == Tardy.student_id)
        .outerjoin(SchoolClass, SchoolClass.id == Tardy.class_id)
        .order_by(Tardy.arrived_at, Tardy.id)
    )
    connection = db.engine.connect()
    try:
        result = connection.execution_options(stream_results=True, yield_per=CSV_CHUNK).execute(
            query
        )
        first = result.fetchmany(CSV_CHUNK)
    except BaseException:
        connection.close()
        raise

    def row(r) -> list:
        local_time = r.arrived_at.astimezone(tz)  # aware: the column's type makes it so
        return [
            r.student_number,
            r.day.isoformat(),
            r.period,
            r.minutes_late,
            local_time.strftime("%H:%M"),
            r.reason,
            r.sourced_id,
            r.source,
        ]

    def chunks() -> Iterator[str]:
        try:
            yield csv_text([SIS_COLUMNS])
            batch = first
            while batch:
                yield csv_text((row(r) for r in batch), safe_cell)
                batch = result.fetchmany(CSV_CHUNK)
        finally:
            connection.close()

    return chunks()

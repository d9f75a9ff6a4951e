"""Hall pass reports as CSV files: a grouped table, the matching passes, the incident lookup.

Every cell goes through the spreadsheet guard (`shared.csvfile`), so a name typed as
`=HYPERLINK(...)` stays text; times are written in the school's time zone.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from datetime import datetime
from functools import partial
from itertools import islice
from zoneinfo import ZoneInfo

from hallpass.reports.figures import (
    Row,
    by_day,
    by_destination,
    by_hour,
    by_period,
    by_student,
    by_teacher,
    totals,
)
from hallpass.reports.lines import Overlap, PassLine, stream_pass_lines
from hallpass.reports.scope import ReportFilter, Scope
from shared.csvfile import csv_text, safe_cell
from shared.errors import NotFound
from shared.models import School
from shared.timeutil import utcnow

#: Report cells: yes/no for flags, one decimal for minutes, formulas guarded.
csv_cell = partial(safe_cell, decimals=1, yes_no=True)


def figures_csv(first_header: str, rows: list[Row]) -> str:
    """A grouped table as CSV."""
    table: list[list] = [[first_header, "passes", "minutes out of class", "overdue", "students"]]
    for row in rows:
        f = row.figures
        table.append([row.label, f.passes, round(f.minutes, 1), f.overdue, f.students])
    return csv_text(table, csv_cell)


#: The columns of a pass line in CSV.
PASS_HEADER = [
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
#: Pass lines written per chunk of a streamed CSV.
CHUNK_LINES = 500


def _pass_row(p: PassLine, tz: ZoneInfo) -> list:
    def local(dt: datetime | None, fmt: str) -> str:
        return dt.astimezone(tz).strftime(fmt) if dt else ""

    return [
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


def passes_csv_chunks(school: School, lines: Iterable[PassLine]) -> Iterator[str]:
    """Passes as CSV text, a chunk at a time, as the lines are read (times in the school's
    time zone)."""
    tz = ZoneInfo(school.timezone)
    yield csv_text([PASS_HEADER], csv_cell)
    lines = iter(lines)
    while chunk := list(islice(lines, CHUNK_LINES)):
        yield csv_text((_pass_row(p, tz) for p in chunk), csv_cell)


def passes_csv(school: School, lines: list[PassLine]) -> str:
    """Passes as CSV, one per line, times in the school's time zone."""
    return "".join(passes_csv_chunks(school, lines))


#: The grouped tables a report can export: kind -> (first column header, builder).
TABLES = {
    "destinations": ("destination", by_destination),
    "teachers": ("issued by", by_teacher),
    "periods": ("period", by_period),
    "days": ("day", by_day),
    "hours": ("hour", by_hour),
}


def report_csv(
    scope: Scope, flt: ReportFilter, kind: str, now: datetime | None = None
) -> Iterator[str]:
    """One report table, or every matching pass (streamed as it is read), as CSV chunks."""
    now = now or utcnow()
    if kind == "passes":
        return passes_csv_chunks(scope.school, stream_pass_lines(scope, flt, now))
    return iter([_table_csv(scope, flt, kind, now)])


def _table_csv(scope: Scope, flt: ReportFilter, kind: str, now: datetime) -> str:
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

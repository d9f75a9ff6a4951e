"""Hall pass reports as CSV files: a grouped table, the matching passes, the incident lookup.

Every cell goes through the spreadsheet guard (`shared.csvfile`), so a name typed as
`=HYPERLINK(...)` stays text; times are written in the school's time zone. The column
headers and the words in cells are in the reader's language; dates and times stay ISO
(2026-11-24, 09:05:00), for spreadsheets.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from functools import partial
from itertools import islice
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from flask_babel import lazy_gettext

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
from hallpass.reports.lines import Overlap, PassLine, stream_pass_rows
from hallpass.reports.scope import NO_PERIOD, ReportFilter, Scope, period_label
from shared.csvfile import FORMULA_STARTS, csv_text, safe_cell
from shared.errors import NotFound
from shared.models import School
from shared.timeutil import utcnow

#: Report cells: yes/no for flags, one decimal for minutes, formulas guarded.
csv_cell = partial(safe_cell, decimals=1, yes_no=True)


#: The figures' columns of a grouped table, after its first.
FIGURES_HEADER = [
    lazy_gettext("passes"),
    lazy_gettext("minutes out of class"),
    lazy_gettext("overdue"),
    lazy_gettext("students"),
]


def figures_csv(
    first_header: str, rows: list[Row], first_cell: Callable[[Row], object] | None = None
) -> str:
    """A grouped table as CSV; `first_cell` writes a row's first cell (its label if not
    given: a day or an hour is written ISO, not as a page shows it)."""
    table: list[list] = [[str(first_header), *map(str, FIGURES_HEADER)]]
    for row in rows:
        f = row.figures
        first = first_cell(row) if first_cell else row.label
        table.append([first, f.passes, round(f.minutes, 1), f.overdue, f.students])
    return csv_text(table, csv_cell)


#: The columns of a pass line in CSV.
PASS_HEADER = [
    lazy_gettext("date"),
    lazy_gettext("started"),
    lazy_gettext("ended"),
    lazy_gettext("minutes"),
    lazy_gettext("time limit"),
    lazy_gettext("overdue"),
    lazy_gettext("student"),
    lazy_gettext("grade"),
    lazy_gettext("destination"),
    lazy_gettext("from room"),
    lazy_gettext("period"),
    lazy_gettext("source"),
    lazy_gettext("issued by"),
    lazy_gettext("ended by"),
    lazy_gettext("urgent"),
    lazy_gettext("override reason"),
    lazy_gettext("status"),
    lazy_gettext("issued by substitute"),
]
#: Pass lines written per chunk of a streamed CSV.
CHUNK_LINES = 1000


def _line_row(p: PassLine, tz: ZoneInfo) -> tuple:
    """A `PassLine` as a row of `lines.stream_pass_rows` (local times by Python)."""

    def local(dt: datetime | None, fmt: str) -> str | None:
        return dt.astimezone(tz).strftime(fmt) if dt else None

    return (
        local(p.started_at, "%Y-%m-%d"), local(p.started_at, "%H:%M:%S"),
        local(p.ended_at, "%H:%M:%S"), p.minutes, p.time_limit_minutes, p.overdue,
        *p.student.split(", ", 1), p.grade, p.destination, p.from_room, p.period, p.source,
        p.issued_by, p.ended_by, p.urgent, p.override_reason, p.status, p.substitute,
        p.started_at, p.pass_id,
    )  # fmt: skip


def _pass_cells() -> Callable[[tuple], tuple]:
    """What writes a pass's row (`lines.stream_pass_rows`) as its CSV cells: the
    cells `csv_cell` writes, without its per-cell dispatch (half a million passes a year
    of a big school, 19 cells each: docs/performance.md, fourth part). Every text typed by
    someone goes through the formula guard; numbers and flags are written as numbers and
    yes / no (the reader's language)."""
    yes, no = csv_cell(True), csv_cell(False)
    no_period = period_label(NO_PERIOD)
    starts = frozenset(FORMULA_STARTS)  # one character each

    def text(value) -> str | None:  # None: csv writes an empty cell
        if value is None:
            return None
        value = str(value)
        return "'" + value if value[:1] in starts else value

    def cells(r: tuple) -> tuple:
        (day, started, ended, minutes, limit, overdue, last, first, grade, destination,
         room, period, source, issuer, ended_by, urgent, reason, status, substitute,
         _, _) = r  # fmt: skip
        name = f"{last}, {first}"
        # Inline guards of the text cells (this runs half a million times a year).
        return (
            day, started, ended, f"{float(minutes or 0):.1f}", text(limit),
            yes if overdue else no, "'" + name if name[0] in starts else name,
            grade and ("'" + grade if grade[0] in starts else grade),
            "'" + destination if destination[:1] in starts else destination,
            room and ("'" + room if room[0] in starts else room),
            no_period if period == NO_PERIOD else text(period),
            text(source), issuer and ("'" + issuer if issuer[0] in starts else issuer),
            text(ended_by), yes if urgent else no,
            reason and ("'" + reason if reason[0] in starts else reason), text(status),
            substitute and ("'" + substitute if substitute[0] in starts else substitute),
        )  # fmt: skip

    return cells


def passes_csv_chunks(rows: Iterable[tuple]) -> Iterator[str]:
    """Passes (rows of `lines.stream_pass_rows`) as CSV text, a chunk at a time, as the
    rows are read."""
    yield csv_text([[str(header) for header in PASS_HEADER]], csv_cell)
    cells = _pass_cells()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    rows = iter(rows)
    while chunk := list(islice(rows, CHUNK_LINES)):
        writer.writerows(map(cells, chunk))
        yield out.getvalue()
        out.seek(0)
        out.truncate()


def passes_csv(school: School, lines: list[PassLine]) -> str:
    """Passes as CSV, one per line, times in the school's time zone."""
    tz = ZoneInfo(school.timezone)
    return "".join(passes_csv_chunks(_line_row(p, tz) for p in lines))


def _iso_day(row: Row) -> str:
    return row.key.isoformat()


def _iso_hour(row: Row) -> str:
    return f"{row.key:02d}:00"


#: The grouped tables a report can export: kind -> (first column header, builder, how its
#: first cell is written).
TABLES = {
    "destinations": (lazy_gettext("destination"), by_destination, None),
    "teachers": (lazy_gettext("issued by"), by_teacher, None),
    "periods": (lazy_gettext("period"), by_period, None),
    "days": (lazy_gettext("day"), by_day, _iso_day),
    "hours": (lazy_gettext("hour"), by_hour, _iso_hour),
}


def report_csv(
    scope: Scope, flt: ReportFilter, kind: str, now: datetime | None = None
) -> Iterator[str]:
    """One report table, or every matching pass (streamed as it is read), as CSV chunks."""
    now = now or utcnow()
    if kind == "passes":
        return passes_csv_chunks(stream_pass_rows(scope, flt, now))
    return iter([_table_csv(scope, flt, kind, now)])


def _table_csv(scope: Scope, flt: ReportFilter, kind: str, now: datetime) -> str:
    if kind == "students":
        return figures_csv(_("student"), by_student(scope, flt, now, limit=None))
    if kind == "summary":
        everything = _("all passes")
        return figures_csv(everything, [Row(None, everything, totals(scope, flt, now))])
    if kind not in TABLES:
        raise NotFound(_("No such report."))
    header, build, first_cell = TABLES[kind]
    return figures_csv(header, build(scope, flt, now), first_cell)


def incident_csv(school: School, overlaps: list[Overlap]) -> str:
    """The incident lookup as CSV: the student's passes, each followed by those out with it."""
    lines = passes_csv(school, []).splitlines()
    table = [[_("role"), *next(csv.reader(lines))]]
    for overlap in overlaps:
        group = ([(_("student looked up"), overlap.own)] if overlap.own else []) + [
            (_("out at the same time") if overlap.own else _("out in the window"), other)
            for other in overlap.others
        ]
        for role, line in group:
            row = next(csv.reader(passes_csv(school, [line]).splitlines()[1:]))
            table.append([role, *row])
    return csv_text(table, str)  # the cells are already safe

"""Car line reports: how long each dismissal took, how long cars waited, per-day history.

Counts, first and last times, and the median and 90th percentile of the per-car waits
(curb entry to loaded) are all aggregated in SQL, per dismissal: a year's history no
longer brings every car's pair of times back to Python (issue 25). The waits are ranked
with window functions, the same statement on SQLite and PostgreSQL (`_wait_figures`),
rather than PostgreSQL's percentile_cont, which interpolates as a + (b - a) * 0.5 and so
can differ in the last digit from the mean of the two middle waits the reports showed:

- median: the middle wait, or the mean of the two middle waits;
- 90th percentile: nearest rank, the ceil(0.9 * n)-th shortest wait;
- a wait is counted in exact microseconds and divided once, so it is the same float
  Python's `timedelta.total_seconds()` gives (never below 0);
- cars per minute: loaded cars divided by the minutes from the first call to the
  last car loaded;
- not picked up: the late pickups of the day, as `carline.dismissal.late_pickups`
  defines them (the same number as the office's end-of-day list, kept by the dismissal
  when it ended).

`history_csv` and `dismissal_csv` write spreadsheets safely (no formula injection);
`timeline_svg` draws calls and loads over time as inline SVG, server-side.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from flask_babel import pgettext
from markupsafe import Markup, escape
from sqlalchemy import Float, Integer, case, cast, extract, func, select

from carline.dismissal import late_pickups
from carline.models import CALL_MODES, CalledStudent, Dismissal, QueueEntry
from shared.access import school_record
from shared.charts import Frame, close, nice_scale, svg_open, value_axis, x_label
from shared.csvfile import csv_text, safe_cell
from shared.errors import InvalidInput
from shared.extensions import db
from shared.forms import parse_date, parse_day
from shared.models import Family, School, Student

#: Longest date range of the history table and its CSV.
MAX_HISTORY_DAYS = 400


@dataclass
class DismissalStats:
    """The numbers of one dismissal."""

    dismissal: Dismissal
    cars: int = 0
    cars_loaded: int = 0
    first_call_at: datetime | None = None
    last_loaded_at: datetime | None = None
    #: Seconds from curb entry to loaded, of the loaded cars.
    median_wait: float | None = None
    p90_wait: float | None = None
    called_by_mode: dict[str, int] = field(default_factory=dict)
    not_picked_up: int = 0

    @property
    def students_called(self) -> int:
        return sum(self.called_by_mode.values())

    @property
    def duration_seconds(self) -> float | None:
        """First call to last car loaded."""
        if self.first_call_at is None or self.last_loaded_at is None:
            return None
        return max(0.0, (self.last_loaded_at - self.first_call_at).total_seconds())

    @property
    def cars_per_minute(self) -> float | None:
        duration = self.duration_seconds
        if not duration:
            return None
        return self.cars_loaded / (duration / 60)


def _stats_for(dismissals: list[Dismissal]) -> list[DismissalStats]:
    """The numbers of these dismissals, aggregated per dismissal in a few queries."""
    stats = {d.id: DismissalStats(d) for d in dismissals}
    if not stats:
        return []
    ids = list(stats)
    cars = db.session.execute(
        select(
            QueueEntry.dismissal_id,
            func.count(QueueEntry.id),
            func.count(QueueEntry.loaded_at),
            func.max(QueueEntry.loaded_at),
        )
        .where(QueueEntry.dismissal_id.in_(ids))
        .group_by(QueueEntry.dismissal_id)
    )
    for dismissal_id, count, loaded, last_loaded in cars:
        s = stats[dismissal_id]
        s.cars, s.cars_loaded = count, loaded
        s.last_loaded_at = _aware(last_loaded)
    calls = db.session.execute(
        select(
            CalledStudent.dismissal_id,
            CalledStudent.mode,
            func.count(CalledStudent.id),
            func.min(CalledStudent.called_at),
        )
        .where(CalledStudent.dismissal_id.in_(ids))
        .group_by(CalledStudent.dismissal_id, CalledStudent.mode)
    )
    for dismissal_id, mode, count, first in calls:
        s = stats[dismissal_id]
        s.called_by_mode[mode] = count
        first = _aware(first)
        if first is not None and (s.first_call_at is None or first < s.first_call_at):
            s.first_call_at = first
    for dismissal_id, middle, p90 in db.session.execute(_wait_figures(ids)):
        stats[dismissal_id].median_wait, stats[dismissal_id].p90_wait = middle, p90
    for s in stats.values():
        for mode in CALL_MODES:
            s.called_by_mode.setdefault(mode, 0)
        # One definition of a late pickup, the end-of-day list's: kept by the dismissal
        # when it ended, counted now (one query per day) for a day still running or ended
        # before the count was kept.
        stored = s.dismissal.late_pickups if s.dismissal.ended_at is not None else None
        s.not_picked_up = stored if stored is not None else len(late_pickups(s.dismissal))
    return [stats[d.id] for d in dismissals]


def _wait_seconds():
    """A loaded car's wait in seconds, never below 0: exact microseconds divided once,
    the float `timedelta.total_seconds()` gives."""
    entered, loaded = QueueEntry.entered_at, QueueEntry.loaded_at
    if db.engine.dialect.name == "postgresql":
        # An interval's epoch is an exact numeric (PostgreSQL 14+), rounded once to float8.
        return cast(func.greatest(extract("epoch", loaded - entered), 0), Float)

    # SQLite stores "YYYY-MM-DD HH:MM:SS.ffffff" (UTC): whole seconds, then microseconds.
    def micros(column):
        seconds = cast(func.strftime("%s", column), Integer)
        return seconds * 1_000_000 + cast(func.substr(column, 21, 6), Integer)

    return func.max(micros(loaded) - micros(entered), 0) / 1_000_000.0


def _wait_figures(ids: list[int]):
    """(dismissal id, median wait, 90th percentile wait) of each of these dismissals with
    a loaded car: the waits ranked per dismissal (window functions), then the middle
    one(s) and the ceil(0.9 * n)-th, ceil taken in integers: (9n + 9) // 10."""
    wait = _wait_seconds().label("wait")
    ranked = (
        select(
            QueueEntry.dismissal_id,
            wait,
            func.row_number()
            .over(partition_by=QueueEntry.dismissal_id, order_by=wait)
            .label("rank"),
            func.count().over(partition_by=QueueEntry.dismissal_id).label("n"),
        )
        .where(QueueEntry.dismissal_id.in_(ids), QueueEntry.loaded_at.is_not(None))
        .subquery("ranked")
    )
    r = ranked.c

    def at_rank(rank):
        return func.max(case((r.rank == rank, r.wait)))

    # The mean of the two middle waits: the same one twice for an odd count ((x + x) / 2
    # is exactly x), as Python's (a + b) / 2 for an even one.
    middle = (at_rank((r.n + 1) // 2) + at_rank(r.n // 2 + 1)) / 2.0
    return select(
        r.dismissal_id,
        cast(middle, Float).label("median"),
        at_rank((r.n * 9 + 9) // 10).label("p90"),
    ).group_by(r.dismissal_id)


def _aware(value: datetime | None) -> datetime | None:
    """min/max keep the column type; still, never hand out a naive time."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def get_dismissal(school: School, dismissal_id: int) -> Dismissal:
    """A dismissal of this school (404 otherwise)."""
    return school_record(Dismissal, dismissal_id, school.id, _("No such dismissal."))


def dismissal_stats(school: School, dismissal: Dismissal) -> DismissalStats:
    """The numbers of one dismissal of this school."""
    return _stats_for([get_dismissal(school, dismissal.id)])[0]


def parse_range(start: str | None, end: str | None, today: date) -> tuple[date, date]:
    """The history's date range from the form (default: the last 30 days)."""
    last = parse_day(end, today=today, field="to", label=_("To"))
    first = parse_date(start, field="from", label=_("From"), default=last - timedelta(days=29))
    if first > last:
        raise InvalidInput(_("The start date is after the end date."), field="from")
    if (last - first).days > MAX_HISTORY_DAYS:
        raise InvalidInput(_("Choose at most %(num)d days.", num=MAX_HISTORY_DAYS), field="from")
    return first, last


def history(school: School, first: date, last: date) -> list[DismissalStats]:
    """The numbers of each dismissal between two school days, newest first."""
    dismissals = db.session.scalars(
        select(Dismissal)
        .where(Dismissal.school_id == school.id, Dismissal.day >= first, Dismissal.day <= last)
        .order_by(Dismissal.day.desc())
    ).all()
    return _stats_for(list(dismissals))


# CSV


#: Timing cells: two decimals for seconds and minutes, formulas guarded.
csv_cell = partial(safe_cell, decimals=2)


def _local(dt: datetime | None, tz: ZoneInfo, fmt: str = "%H:%M:%S") -> str:
    return dt.astimezone(tz).strftime(fmt) if dt else ""


def history_csv(school: School, rows: list[DismissalStats]) -> str:
    """The history table as CSV (times in the school's time zone)."""
    tz = ZoneInfo(school.timezone)
    table: list[list] = [
        [
            _("date"),
            _("started"),
            _("ended"),
            _("first call"),
            _("last car loaded"),
            _("first call to last loaded (min)"),
            _("cars"),
            _("cars loaded"),
            _("median wait (s)"),
            _("90th percentile wait (s)"),
            _("cars per minute"),
            _("students called by car"),
            _("by bus"),
            _("walkers"),
            _("not picked up"),
        ]
    ]
    for s in rows:
        d = s.dismissal
        table.append(
            [
                d.day.isoformat(),
                _local(d.started_at, tz),
                _local(d.ended_at, tz),
                _local(s.first_call_at, tz),
                _local(s.last_loaded_at, tz),
                s.duration_seconds / 60 if s.duration_seconds is not None else None,
                s.cars,
                s.cars_loaded,
                s.median_wait,
                s.p90_wait,
                s.cars_per_minute,
                s.called_by_mode["car"],
                s.called_by_mode["bus"],
                s.called_by_mode["walker"],
                s.not_picked_up,
            ]
        )
    return csv_text(table, csv_cell)


def dismissal_csv(school: School, dismissal: Dismissal) -> str:
    """Every student called in one dismissal, with their car, times and status."""
    dismissal = get_dismissal(school, dismissal.id)
    tz = ZoneInfo(school.timezone)
    rows = db.session.execute(
        select(CalledStudent, Student, QueueEntry, Family.tag_number)
        .join(Student, Student.id == CalledStudent.student_id)
        .outerjoin(QueueEntry, QueueEntry.id == CalledStudent.queue_entry_id)
        .outerjoin(Family, Family.id == QueueEntry.family_id)
        .where(CalledStudent.dismissal_id == dismissal.id)
        .order_by(CalledStudent.called_at, CalledStudent.id)
    ).all()
    table: list[list] = [
        [
            _("student"),
            _("grade"),
            _("mode"),
            _("bus route"),
            _("tag"),
            _("queue position"),
            _("spot"),
            pgettext("CSV column: when the student was called", "called"),
            _("sent"),
            _("left"),
            _("status"),
            _("car wait (s)"),
        ]
    ]
    for call, student, entry, tag_number in rows:
        wait = None
        if entry is not None and entry.loaded_at is not None:
            wait = (entry.loaded_at - entry.entered_at).total_seconds()
        table.append(
            [
                f"{student.last_name}, {student.first_name}",
                student.grade,
                call.mode,
                call.bus_route,
                tag_number,
                entry.position if entry else None,
                dismissal.spot_label(entry.spot) if entry else None,
                _local(call.called_at, tz),
                _local(call.sent_at, tz),
                _local(call.left_at, tz),
                call.status,
                wait,
            ]
        )
    return csv_text(table, csv_cell)


# The timeline chart

#: The timeline chart's size and margins (its value axis is the one of every chart).
TIMELINE_FRAME = Frame(width=720, height=280, left=48, right=16, top=16, bottom=40)


@dataclass(frozen=True)
class Timeline:
    """Cars called (queued at the curb) and cars loaded per minute since the first call."""

    minutes: int
    called: list[int]
    loaded: list[int]


def timeline(school: School, dismissal: Dismissal) -> Timeline:
    """Cumulative cars called and loaded at the end of each minute of the dismissal."""
    dismissal = get_dismissal(school, dismissal.id)
    rows = db.session.execute(
        select(QueueEntry.entered_at, QueueEntry.loaded_at).where(
            QueueEntry.dismissal_id == dismissal.id
        )
    ).all()
    if not rows:
        return Timeline(0, [], [])
    start = min(entered for entered, _ in rows)
    end = max([entered for entered, _ in rows] + [loaded for _, loaded in rows if loaded])
    minutes = max(1, math.ceil((end - start).total_seconds() / 60))
    called_per, loaded_per = defaultdict(int), defaultdict(int)
    for entered, loaded in rows:
        called_per[int((entered - start).total_seconds() // 60)] += 1
        if loaded is not None:
            loaded_per[int((loaded - start).total_seconds() // 60)] += 1
    called, loaded_total, c, ld = [], [], 0, 0
    for minute in range(minutes + 1):
        c += called_per[minute]
        ld += loaded_per[minute]
        called.append(c)
        loaded_total.append(ld)
    return Timeline(minutes, called, loaded_total)


def _points(series: list[int], minutes: int, top: int) -> str:
    frame = TIMELINE_FRAME
    points = []
    for minute, value in enumerate(series):
        x = frame.left + frame.plot_width * minute / max(minutes, 1)
        points.append(f"{x:.1f},{frame.y(value, top):.1f}")
    return " ".join(points)


def timeline_svg(data: Timeline) -> Markup:
    """The timeline as an inline SVG line chart (attributes and classes, no style)."""
    if not data.called:
        return Markup("")
    frame = TIMELINE_FRAME
    top, step = nice_scale(max(data.called), most_steps=8)
    parts = [
        *svg_open(
            frame, _("Cars called and cars loaded, minute by minute"), chart_id="chart-title"
        ),
        *value_axis(frame, top, step),
    ]
    tick = 5 if data.minutes > 10 else 1
    for minute in range(0, data.minutes + 1, tick):
        x = frame.left + frame.plot_width * minute / max(data.minutes, 1)
        parts.append(x_label(x, frame.baseline + 18, minute, size=12))
    parts.append(
        f'<text class="chart-label" x="{frame.left + frame.plot_width / 2:.0f}" '
        f'y="{frame.height - 4}" text-anchor="middle" font-size="12">'
        f"{escape(_('minutes after the first call'))}</text>"
    )
    for css, color, series, label in (
        ("chart-called", "#1f5fbf", data.called, _("Cars called")),
        ("chart-loaded", "#1d7a3a", data.loaded, _("Cars loaded")),
    ):
        parts.append(
            f'<polyline class="{css}" fill="none" stroke="{color}" stroke-width="3" '
            f'points="{_points(series, data.minutes, top)}"><title>{escape(label)}</title>'
            "</polyline>"
        )
    left, top_y = frame.left, frame.top
    parts.append(
        f'<g class="chart-legend" font-size="13">'
        f'<rect x="{left + 10}" y="{top_y + 2}" width="14" height="4" fill="#1f5fbf"/>'
        f'<text x="{left + 30}" y="{top_y + 8}">{escape(_("Cars called"))}</text>'
        f'<rect x="{left + 130}" y="{top_y + 2}" width="14" height="4" fill="#1d7a3a"/>'
        f'<text x="{left + 150}" y="{top_y + 8}">{escape(_("Cars loaded"))}</text></g>'
    )
    return close(parts)

"""Car line reports: how long each dismissal took, how long cars waited, per-day history.

Counts, first and last times are aggregated in SQL (one grouped query per report);
the per-car waits (curb entry to loaded) come back as pairs and their median and
90th percentile are computed here, the same way on SQLite and PostgreSQL.

- median: the middle wait, or the mean of the two middle waits;
- 90th percentile: nearest rank, the ceil(0.9 * n)-th shortest wait;
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

from markupsafe import Markup, escape
from sqlalchemy import func, select

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


def median(values: list[float]) -> float | None:
    """The middle value (mean of the two middle values for an even count)."""
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def percentile(values: list[float], p: float) -> float | None:
    """The nearest-rank p-th percentile: the ceil(p/100 * n)-th smallest value."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class DismissalStats:
    """The numbers of one dismissal."""

    dismissal: Dismissal
    cars: int = 0
    cars_loaded: int = 0
    first_call_at: datetime | None = None
    last_loaded_at: datetime | None = None
    waits: list[float] = field(default_factory=list)
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
    def median_wait(self) -> float | None:
        return median(self.waits)

    @property
    def p90_wait(self) -> float | None:
        return percentile(self.waits, 90)

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
    waits = db.session.execute(
        select(QueueEntry.dismissal_id, QueueEntry.entered_at, QueueEntry.loaded_at).where(
            QueueEntry.dismissal_id.in_(ids), QueueEntry.loaded_at.is_not(None)
        )
    )
    for dismissal_id, entered, loaded in waits:
        stats[dismissal_id].waits.append(max(0.0, (loaded - entered).total_seconds()))
    for s in stats.values():
        for mode in CALL_MODES:
            s.called_by_mode.setdefault(mode, 0)
        # One definition of a late pickup, the end-of-day list's: kept by the dismissal
        # when it ended, counted now (one query per day) for a day still running or ended
        # before the count was kept.
        stored = s.dismissal.late_pickups if s.dismissal.ended_at is not None else None
        s.not_picked_up = stored if stored is not None else len(late_pickups(s.dismissal))
    return [stats[d.id] for d in dismissals]


def _aware(value: datetime | None) -> datetime | None:
    """min/max keep the column type; still, never hand out a naive time."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def get_dismissal(school: School, dismissal_id: int) -> Dismissal:
    """A dismissal of this school (404 otherwise)."""
    return school_record(Dismissal, dismissal_id, school.id, "No such dismissal.")


def dismissal_stats(school: School, dismissal: Dismissal) -> DismissalStats:
    """The numbers of one dismissal of this school."""
    return _stats_for([get_dismissal(school, dismissal.id)])[0]


def parse_range(start: str | None, end: str | None, today: date) -> tuple[date, date]:
    """The history's date range from the form (default: the last 30 days)."""
    last = parse_day(end, today=today, field="to", label="To")
    first = parse_date(start, field="from", label="From", default=last - timedelta(days=29))
    if first > last:
        raise InvalidInput("The start date is after the end date.", field="from")
    if (last - first).days > MAX_HISTORY_DAYS:
        raise InvalidInput(f"Choose at most {MAX_HISTORY_DAYS} days.", field="from")
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
            "date",
            "started",
            "ended",
            "first call",
            "last car loaded",
            "first call to last loaded (min)",
            "cars",
            "cars loaded",
            "median wait (s)",
            "90th percentile wait (s)",
            "cars per minute",
            "students called by car",
            "by bus",
            "walkers",
            "not picked up",
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
            "student",
            "grade",
            "mode",
            "bus route",
            "tag",
            "queue position",
            "spot",
            "called",
            "sent",
            "left",
            "status",
            "car wait (s)",
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
        *svg_open(frame, "Cars called and cars loaded, minute by minute", chart_id="chart-title"),
        *value_axis(frame, top, step),
    ]
    tick = 5 if data.minutes > 10 else 1
    for minute in range(0, data.minutes + 1, tick):
        x = frame.left + frame.plot_width * minute / max(data.minutes, 1)
        parts.append(x_label(x, frame.baseline + 18, minute, size=12))
    parts.append(
        f'<text class="chart-label" x="{frame.left + frame.plot_width / 2:.0f}" '
        f'y="{frame.height - 4}" text-anchor="middle" font-size="12">'
        "minutes after the first call</text>"
    )
    for css, color, series, label in (
        ("chart-called", "#1f5fbf", data.called, "Cars called"),
        ("chart-loaded", "#1d7a3a", data.loaded, "Cars loaded"),
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
        f'<text x="{left + 30}" y="{top_y + 8}">Cars called</text>'
        f'<rect x="{left + 130}" y="{top_y + 2}" width="14" height="4" fill="#1d7a3a"/>'
        f'<text x="{left + 150}" y="{top_y + 8}">Cars loaded</text></g>'
    )
    return close(parts)

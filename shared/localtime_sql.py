"""The school's local time of UTC timestamps, computed in SQL on SQLite and PostgreSQL.

Times are stored in UTC, but reports group by the school's local day, hour, weekday and
time of day, and that grouping must happen in the database (history grows to millions
of rows). PostgreSQL converts with `timezone(zone, ts)`; SQLite, which knows no time
zones, adds the zone's UTC offset, which is constant between the daylight saving changes
found for the date range (a CASE over those instants). This is not pass logic: any
report over stored times uses it.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Date, Integer, Time, case, cast, extract, func, literal

from shared.extensions import db
from shared.timeutil import UTCDateTime


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
    """SQL expressions for a UTC column's local date, hour, weekday and time of day.

    `start` and `end` bound the instants the columns hold (SQLite needs the offset
    changes between them; two days are added on each side).
    """

    def __init__(self, zone: str, start: datetime, end: datetime):
        self.tz = ZoneInfo(zone)
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
        """The local date (PostgreSQL: date; SQLite: text, see `as_date`)."""
        if self.dialect == "postgresql":
            return cast(self.local(column), Date)
        return func.date(self.local(column))

    def hour(self, column):
        if self.dialect == "postgresql":
            return cast(extract("hour", self.local(column)), Integer)
        return cast(func.strftime("%H", self.local(column)), Integer)

    def weekday(self, column):
        """0 = Monday, as BellPeriod.weekday."""
        return self.weekday_of_local(self.local(column))

    def time_of_day(self, column):
        """Comparable with BellPeriod times (SQLite stores them as HH:MM:SS.ffffff)."""
        return self.time_of_day_of_local(self.local(column))

    # Of a `local` value already computed (a subquery's column): a statement over many
    # rows converts each timestamp once, not once per use (docs/performance.md, fourth part).

    def weekday_of_local(self, local):
        if self.dialect == "postgresql":
            return cast(extract("isodow", local), Integer) - 1
        return (cast(func.strftime("%w", local), Integer) + 6) % 7

    def time_of_day_of_local(self, local):
        if self.dialect == "postgresql":
            return cast(local, Time)
        # SQLite: `local` is strftime's "YYYY-MM-DD HH:MM:SS.SSS"; its time is cut from
        # it, not parsed again (a CASE over the bell periods compares it many times).
        return func.substr(local, 12) + "000"

    def date_text_of_local(self, local):
        """The local date as text, YYYY-MM-DD (NULL for NULL): for files, not grouping."""
        if self.dialect == "postgresql":
            return func.to_char(local, "YYYY-MM-DD")
        return func.substr(local, 1, 10)

    def clock_text_of_local(self, local):
        """The local time of day as text, HH:MM:SS (seconds cut, not rounded, as Python's
        strftime does; NULL for NULL)."""
        if self.dialect == "postgresql":
            return func.to_char(local, "HH24:MI:SS")
        return func.substr(local, 12, 8)


def seconds_between(start, end):
    """Seconds from one UTC timestamp expression to another, in SQL."""
    if db.session.get_bind().dialect.name == "postgresql":
        return extract("epoch", end - start)
    return (func.julianday(end) - func.julianday(start)) * 86400.0


def as_date(value) -> date:
    """A `LocalClock.day` value read back as a date (SQLite returns it as text)."""
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])

"""One format per kind of value, in the language of the request and the school's time zone.

Every time, date, duration and number a screen shows goes through here (the template
filters `time`, `date`, `datetime`, `duration` and `number`), so a page never shows
"10:03 AM" next to "09:58": Babel writes each kind in the request's locale
(shared/i18n.py; a US school's English is 12-hour with AM/PM, its Spanish
"3:03 p. m."), and aware times are shown in the school's zone.

CSV exports keep their machine-readable ISO values (a spreadsheet sorts them); this
module is for people.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from babel import dates, numbers, units
from flask import Flask, g, has_request_context
from flask_babel import get_locale

#: CLDR puts a narrow no-break space before AM/PM: a plain space, so "10:03 AM" reads
#: (and is found) as people type it.
_NARROW_SPACE = "\u202f"


def _locale():
    return (get_locale() if has_request_context() else None) or "en_US"


def school_zone() -> ZoneInfo:
    """The time zone of the request's school (a view of an anonymous page sets
    `g.school_timezone` for the school it shows), else UTC."""
    if has_request_context():
        name = g.get("school_timezone")
        principal = g.get("principal")
        if name is None and principal is not None and principal.school is not None:
            name = principal.school.timezone
        if name:
            return ZoneInfo(name)
    return ZoneInfo("UTC")


def _in_zone(value: datetime, zone: str | None) -> datetime:
    if value.tzinfo is None:
        return value  # already a wall-clock time
    return value.astimezone(ZoneInfo(zone) if zone else school_zone())


def _plain(text: str) -> str:
    return text.replace(_NARROW_SPACE, " ")


def format_time(value: datetime | time | None, zone: str | None = None) -> str:
    """A time of day: "10:03 AM" (US English), "10:03 a. m." (US Spanish)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = _in_zone(value, zone).time()
    return _plain(dates.format_time(value, "short", locale=_locale()))


def format_date(value: date | datetime | None, zone: str | None = None) -> str:
    """A day: "Thu, Dec 3, 2026" (English), "jue, 3 dic 2026" (Spanish)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = _in_zone(value, zone).date()
    return dates.format_skeleton("yMMMEd", value, locale=_locale())


def format_day_short(value: date | None) -> str:
    """A day where a chart's axis has little room: "12/3" (English), "3/12" (Spanish)."""
    if value is None:
        return ""
    return dates.format_skeleton("Md", value, locale=_locale())


def format_datetime(value: datetime | None, zone: str | None = None) -> str:
    """A moment: the day and the time, joined as the locale joins them."""
    if value is None:
        return ""
    value = _in_zone(value, zone)
    pattern = dates.get_datetime_format("medium", locale=_locale())
    return _plain(pattern.replace("{1}", format_date(value)).replace("{0}", format_time(value)))


def format_duration(value: timedelta | int | float | None) -> str:
    """A length of time, to the minute: "5 min", "1 hr 30 min" (English)."""
    if value is None:
        return ""
    minutes = round(value.total_seconds() / 60) if isinstance(value, timedelta) else round(value)
    hours, rest = divmod(abs(int(minutes)), 60)
    locale = _locale()
    parts = []
    if hours:
        parts.append(units.format_unit(hours, "duration-hour", length="short", locale=locale))
    if rest or not hours:
        parts.append(units.format_unit(rest, "duration-minute", length="short", locale=locale))
    return _plain(("-" if minutes < 0 else "") + " ".join(parts))


def format_number(value: int | float | None) -> str:
    """A count or a measure: "1,234" (English), "1234" / "1 234" as the locale writes it."""
    if value is None:
        return ""
    return numbers.format_decimal(value, locale=_locale())


def format_legacy(value, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """The old `localtime('%H:%M')` filter, kept for templates not yet moved to the named
    filters: the strftime pattern only says which kind of value it is."""
    has_time = any(code in fmt for code in ("%H", "%I", "%M"))
    has_day = any(code in fmt for code in ("%d", "%a", "%A", "%m", "%Y", "%b"))
    if has_time and has_day:
        return format_datetime(value)
    if has_time:
        return format_time(value)
    return format_date(value)


def register(app: Flask) -> None:
    app.jinja_env.filters.update(
        time=format_time,
        date=format_date,
        datetime=format_datetime,
        duration=format_duration,
        number=format_number,
        localtime=format_legacy,
    )

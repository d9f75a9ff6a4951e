"""Reading typed values out of form fields and query arguments: the one home of form parsing.

Views parse, services take typed values. Each parser takes the raw value as the request
gave it (a string, or None when the field is missing) and returns a Python value, or
raises `InvalidInput` (a `DomainError`, answered 400 with its message) whose message
starts with the field's label and whose `field` is the form field's name, so a form can
be shown again with the message next to the right input.

Blank input (missing, empty or only spaces) is never an error by itself: each parser
says what blank means (None, a default, or "required").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, time
from typing import Any

from flask_babel import gettext as _

from shared.errors import InvalidInput

#: Ids in URLs and forms are positive and fit the database's integer columns.
MAX_ID = 2**31 - 1
#: A 24-hour wall-clock time: "8:05", "08:05" or "14:30".
_CLOCK = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
#: Longest date text worth reading ("2026-05-29"); anything longer is not a date.
_DATE_LENGTH = 10


def _text(raw: Any) -> str:
    """The raw value as stripped text ("" for None)."""
    if raw is None:
        return ""
    return raw.strip() if isinstance(raw, str) else str(raw).strip()


def _label(field: str, label: str | None) -> str:
    return label or field.replace("_", " ").capitalize()


def _whole(text: str, low: int, high: int) -> int | None:
    """`text` as a whole number in [low, high], or None (ASCII digits only, bounded length)."""
    # No sign, no "1e3", no Unicode digits, and no longer than `high` (leading zeros
    # aside), so a pasted megabyte of digits is never turned into a huge int.
    digits = text.lstrip("0") or "0"
    if not (text.isascii() and text.isdigit()) or len(digits) > len(str(high)):
        return None
    value = int(digits)
    return value if low <= value <= high else None


def parse_int(
    raw: Any,
    *,
    field: str,
    label: str | None = None,
    low: int = 0,
    high: int = MAX_ID,
    blank_ok: bool = False,
) -> int | None:
    """A whole number within [low, high] (ASCII digits only); blank is None when allowed."""
    text = _text(raw)
    name = _label(field, label)
    if not text:
        if blank_ok:
            return None
        raise InvalidInput(_("%(field)s: enter a number.", field=name), field=field)
    value = _whole(text, low, high)
    if value is None:
        raise InvalidInput(
            _(
                "%(field)s: enter a whole number from %(low)d to %(high)d.",
                field=name,
                low=low,
                high=high,
            ),
            field=field,
        )
    return value


def parse_bool(raw: Any) -> bool:
    """A checkbox or yes/no field: "1", "on", "yes", "true" (any case) are true."""
    return isinstance(raw, str) and raw.strip().lower() in ("1", "on", "yes", "true")


def parse_date(
    raw: Any,
    *,
    field: str,
    label: str | None = None,
    default: date | None = None,
    required: bool = False,
) -> date | None:
    """A calendar date typed as YYYY-MM-DD; blank is `default` (or refused if required)."""
    text = _text(raw)
    name = _label(field, label)
    if not text:
        if required and default is None:
            raise InvalidInput(
                _("%(field)s: enter a date like 2026-05-29.", field=name), field=field
            )
        return default
    try:
        if len(text) > _DATE_LENGTH:
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            _("%(field)s: enter a date like 2026-05-29.", field=name), field=field
        ) from None


def parse_day(raw: Any, *, today: date, field: str = "day", label: str | None = None) -> date:
    """The school day a form or a report is about: a YYYY-MM-DD date, blank meaning `today`.

    Pass the school's today (`shared.schedule.school_today(school)`), so that "today" is
    the school's local date, not the server's.
    """
    return parse_date(raw, field=field, label=label, default=today)


def parse_clock(
    raw: Any, *, field: str, label: str | None = None, required: bool = False
) -> time | None:
    """A 24-hour wall-clock time typed as HH:MM (e.g. 14:30); blank is None unless required."""
    text = _text(raw)
    name = _label(field, label)
    match = _CLOCK.fullmatch(text)
    if match is None:
        if not text and not required:
            return None
        raise InvalidInput(
            _("%(field)s: enter a time as HH:MM, for example 14:30.", field=name), field=field
        )
    return time(int(match.group(1)), int(match.group(2)))


def parse_id(raw: Any, *, field: str, label: str | None = None) -> int | None:
    """An optional record id (from a select or a query argument); blank is None."""
    text = _text(raw)
    if not text:
        return None
    value = _whole(text, 1, MAX_ID)
    if value is None:
        raise InvalidInput(
            _("%(field)s: choose one from the list.", field=_label(field, label)), field=field
        )
    return value


def parse_int_list(
    values: Iterable[Any],
    *,
    field: str,
    label: str | None = None,
    low: int = 1,
    high: int = MAX_ID,
) -> list[int]:
    """Distinct whole numbers (ids by default) from a multi-value field, in the order given.

    For checkboxes and multi-selects (`request.form.getlist(...)`); weekdays are
    `low=0, high=6`. Blank values are skipped; any other value out of [low, high]
    refuses the whole list (the form was tampered with or is stale), so nothing is
    half done.
    """
    found: list[int] = []
    for raw in values:
        text = _text(raw)
        if not text:
            continue
        value = _whole(text, low, high)
        if value is None:
            raise InvalidInput(
                _("%(field)s: choose from the list shown.", field=_label(field, label)),
                field=field,
            )
        if value not in found:
            found.append(value)
    return found

"""What every hall pass settings service shares: checked form values and audit diffs.

The settings services (`destinations`, `policy`, `student_rules`) check their input
with these helpers (a bad value raises `InvalidInput` naming the field, before anything
is written), and record what changed as {"before": ..., "after": ...}.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from shared.errors import InvalidInput
from shared.models import School
from shared.timeutil import utcnow


def parse_int(
    raw: Any, *, field: str, label: str, low: int, high: int, blank_ok: bool = False
) -> int | None:
    """A whole number from a form field, within [low, high]; blank is None when allowed."""
    text = (raw or "").strip() if isinstance(raw, str) else ("" if raw is None else str(raw))
    if not text:
        if blank_ok:
            return None
        raise InvalidInput(f"{label}: enter a number.", field=field)
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(high)):
        raise InvalidInput(f"{label}: enter a whole number from {low} to {high}.", field=field)
    value = int(text)
    if not low <= value <= high:
        raise InvalidInput(f"{label}: enter a whole number from {low} to {high}.", field=field)
    return value


def parse_bool(raw: Any) -> bool:
    """A checkbox or yes/no field: "1", "on", "yes", "true" are true."""
    return isinstance(raw, str) and raw.strip().lower() in ("1", "on", "yes", "true")


def parse_date(raw: Any, *, field: str, label: str) -> date | None:
    """An optional YYYY-MM-DD date."""
    text = raw.strip() if isinstance(raw, str) else ""
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{label}: enter a date like 2026-05-29.", field=field) from None


def school_today(school: School, now: datetime | None = None) -> date:
    """Today's date in the school's time zone."""
    return (now or utcnow()).astimezone(ZoneInfo(school.timezone)).date()


def snapshot(obj: Any, fields: tuple[str, ...]) -> dict:
    return {name: getattr(obj, name) for name in fields}


def changes(before: dict, after: dict) -> dict:
    """Only the fields that changed, as {"before": {...}, "after": {...}}."""
    changed = [k for k in after if before.get(k) != after[k]]
    return {
        "before": {k: before.get(k) for k in changed},
        "after": {k: after[k] for k in changed},
    }

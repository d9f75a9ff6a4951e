"""The school's car line settings: lanes, loading spots, the daily change cutoff, walker doors.

Car line settings live in `school.settings["carline"]` as
`{"lanes": int, "spots_per_lane": int, "cutoff": "HH:MM" | None,
"walker_doors": {"Door": ["K", "1"]}}`; `carline_settings` reads them with defaults,
so a school that never opened the settings page still runs a dismissal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from carline.models import MAX_LANES, MAX_SPOTS_PER_LANE
from carline.recording import TOPIC
from shared import audit, live
from shared.errors import InvalidInput
from shared.extensions import db
from shared.models import School, User
from shared.timeutil import utcnow

DEFAULT_LANES = 2
DEFAULT_SPOTS_PER_LANE = 5
MAX_DOORS = 20
DOOR_NAME_LENGTH = 60
GRADE_LENGTH = 8

_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class CarlineSettings:
    """The school's car line set-up, with defaults for what is not set."""

    lanes: int = DEFAULT_LANES
    spots_per_lane: int = DEFAULT_SPOTS_PER_LANE
    cutoff: time | None = None
    walker_doors: dict[str, list[str]] = field(default_factory=dict)

    def as_json(self) -> dict:
        """The stored form (`school.settings["carline"]`)."""
        return {
            "lanes": self.lanes,
            "spots_per_lane": self.spots_per_lane,
            "cutoff": self.cutoff.strftime("%H:%M") if self.cutoff else None,
            "walker_doors": {door: list(grades) for door, grades in self.walker_doors.items()},
        }

    def doors_text(self) -> str:
        """The walker doors as the settings form shows them: `Door: K, 1` per line."""
        return "\n".join(f"{door}: {', '.join(g)}" for door, g in self.walker_doors.items())


def carline_settings(school: School) -> CarlineSettings:
    """The school's car line settings; defaults for anything missing or unreadable."""
    raw = (school.settings or {}).get("carline") or {}
    lanes, spots = raw.get("lanes"), raw.get("spots_per_lane")
    cutoff = raw.get("cutoff")
    doors = raw.get("walker_doors") if isinstance(raw.get("walker_doors"), dict) else {}
    return CarlineSettings(
        lanes=lanes if isinstance(lanes, int) and 1 <= lanes <= MAX_LANES else DEFAULT_LANES,
        spots_per_lane=spots
        if isinstance(spots, int) and 1 <= spots <= MAX_SPOTS_PER_LANE
        else DEFAULT_SPOTS_PER_LANE,
        cutoff=parse_clock(cutoff) if isinstance(cutoff, str) and _CLOCK.match(cutoff) else None,
        walker_doors={str(d): [str(x) for x in g] for d, g in doors.items() if isinstance(g, list)},
    )


def parse_clock(value: str | None, *, field_name: str = "cutoff") -> time | None:
    """A 24-hour "HH:MM" wall-clock time; None for an empty value."""
    value = (value or "").strip()
    if not value:
        return None
    match = _CLOCK.match(value)
    if match is None:
        raise InvalidInput("Enter a time as HH:MM, for example 14:30.", field=field_name)
    return time(int(match.group(1)), int(match.group(2)))


def whole_number(value: str | int | None, low: int, high: int, label: str, name: str) -> int:
    """A whole number typed in a form, from `low` to `high` (`name` is the field)."""
    text = str(value if value is not None else "").strip()
    if not text.isdigit() or not low <= int(text) <= high:
        raise InvalidInput(f"{label}: a whole number from {low} to {high}.", field=name)
    return int(text)


def parse_doors(text: str) -> dict[str, list[str]]:
    """Walker doors from lines like `East doors: K, 1, 2`."""
    doors: dict[str, list[str]] = {}
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        name, colon, grades_text = line.partition(":")
        name = " ".join(name.split())
        grades = [g.strip().upper() for g in grades_text.split(",") if g.strip()]
        if not colon or not name or not grades:
            raise InvalidInput(
                f"Walker doors, line {number}: write the door, a colon and its grades "
                "(East doors: K, 1, 2).",
                field="walker_doors",
            )
        if len(name) > DOOR_NAME_LENGTH or any(len(g) > GRADE_LENGTH for g in grades):
            raise InvalidInput(
                f"Walker doors, line {number}: the name or a grade is too long.",
                field="walker_doors",
            )
        if name in doors:
            raise InvalidInput(f"Walker doors: {name!r} is listed twice.", field="walker_doors")
        doors[name] = list(dict.fromkeys(grades))
    if len(doors) > MAX_DOORS:
        raise InvalidInput(f"Walker doors: at most {MAX_DOORS}.", field="walker_doors")
    return doors


def save_settings(
    school: School,
    user: User,
    *,
    lanes: str | int | None,
    spots_per_lane: str | int | None,
    cutoff: str | None,
    walker_doors: str,
) -> CarlineSettings:
    """Validate and store the school's car line settings (all or nothing)."""
    new = CarlineSettings(
        lanes=whole_number(lanes, 1, MAX_LANES, "Lanes", "lanes"),
        spots_per_lane=whole_number(
            spots_per_lane, 1, MAX_SPOTS_PER_LANE, "Loading spots per lane", "spots_per_lane"
        ),
        cutoff=parse_clock(cutoff),
        walker_doors=parse_doors(walker_doors),
    )
    before = carline_settings(school).as_json()
    # A new dict: the JSON column only notices an assignment, not an in-place change.
    school.settings = {**(school.settings or {}), "carline": new.as_json()}
    db.session.flush()
    audit.record(
        "carline.settings",
        school_id=school.id,
        target=school,
        detail={"before": before, "after": new.as_json()},
        actor_user=user,
    )
    live.bump(school.id, TOPIC)
    return new


# School time


def school_now(school: School, now: datetime | None = None) -> datetime:
    """The current (or given) time on the school's wall clock."""
    return (now or utcnow()).astimezone(ZoneInfo(school.timezone))


def school_today(school: School, now: datetime | None = None) -> date:
    """The school's local date."""
    return school_now(school, now).date()


def parse_day(value: str | None, *, default: date | None = None) -> date:
    """A date typed in a form as YYYY-MM-DD."""
    value = (value or "").strip()
    if not value and default is not None:
        return default
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput("Enter a date as YYYY-MM-DD.", field="day") from None

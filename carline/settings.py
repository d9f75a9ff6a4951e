"""The school's car line settings: lanes, loading spots, the daily change cutoff, walker doors.

Car line settings live in `school.settings["carline"]` as
`{"lanes": int, "spots_per_lane": int, "cutoff": "HH:MM" | None,
"walker_doors": {"Door": ["K", "1"]}, "office_phone": str, "family_modes": ["car", ...]}`;
`carline_settings` reads them with defaults, so a school that never opened the settings
page still runs a dismissal. The cutoff holds for guardians too (without an override),
`family_modes` are the ways home a guardian may choose on the family page, and the office
phone is what the family page says to call after the cutoff.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import time

from carline.models import DISMISSAL_MODES, MAX_LANES, MAX_SPOTS_PER_LANE
from carline.recording import TOPIC
from shared import audit, live
from shared.audit import Actor
from shared.errors import InvalidInput
from shared.extensions import db
from shared.forms import parse_clock
from shared.models import School

DEFAULT_LANES = 2
DEFAULT_SPOTS_PER_LANE = 5
MAX_DOORS = 20
DOOR_NAME_LENGTH = 60
GRADE_LENGTH = 8
PHONE_LENGTH = 40

_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class CarlineSettings:
    """The school's car line set-up, with defaults for what is not set."""

    lanes: int = DEFAULT_LANES
    spots_per_lane: int = DEFAULT_SPOTS_PER_LANE
    cutoff: time | None = None
    walker_doors: dict[str, list[str]] = field(default_factory=dict)
    #: What the family page says to call after the cutoff ("" for none).
    office_phone: str = ""
    #: The ways home a guardian may choose on the family page.
    family_modes: tuple[str, ...] = DISMISSAL_MODES

    def as_json(self) -> dict:
        """The stored form (`school.settings["carline"]`)."""
        return {
            "lanes": self.lanes,
            "spots_per_lane": self.spots_per_lane,
            "cutoff": self.cutoff.strftime("%H:%M") if self.cutoff else None,
            "walker_doors": {door: list(grades) for door, grades in self.walker_doors.items()},
            "office_phone": self.office_phone,
            "family_modes": list(self.family_modes),
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
        cutoff=_stored_clock(cutoff),
        walker_doors={str(d): [str(x) for x in g] for d, g in doors.items() if isinstance(g, list)},
        office_phone=str(raw.get("office_phone") or "")[:PHONE_LENGTH],
        family_modes=_stored_modes(raw.get("family_modes")),
    )


def _stored_modes(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        return DISMISSAL_MODES
    return tuple(mode for mode in DISMISSAL_MODES if mode in value)


def _in_range(value: int, low: int, high: int, label: str, name: str) -> int:
    if not low <= value <= high:
        raise InvalidInput(f"{label}: a whole number from {low} to {high}.", field=name)
    return value


def _stored_clock(value: object) -> time | None:
    """The stored cutoff ("HH:MM") as a time; None when missing or unreadable."""
    if not isinstance(value, str) or _CLOCK.match(value) is None:
        return None
    return parse_clock(value, field="cutoff")


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
    actor: Actor,
    *,
    lanes: int,
    spots_per_lane: int,
    cutoff: time | None,
    walker_doors: dict[str, list[str]],
    office_phone: str | None = None,
    family_modes: list[str] | None = None,
) -> CarlineSettings:
    """Check and store the school's car line settings (all or nothing); the office phone
    and the family modes are kept as they are when not given."""
    if len(walker_doors) > MAX_DOORS:
        raise InvalidInput(f"Walker doors: at most {MAX_DOORS}.", field="walker_doors")
    stored = carline_settings(school)
    phone = stored.office_phone if office_phone is None else " ".join(office_phone.split())
    if len(phone) > PHONE_LENGTH:
        raise InvalidInput(
            f"Office phone: at most {PHONE_LENGTH} characters.", field="office_phone"
        )
    modes = stored.family_modes
    if family_modes is not None:
        if set(family_modes) - set(DISMISSAL_MODES):
            raise InvalidInput(
                "Family page: choose among car, bus, walker and after-care.", field="family_modes"
            )
        modes = tuple(mode for mode in DISMISSAL_MODES if mode in family_modes)
    new = CarlineSettings(
        lanes=_in_range(lanes, 1, MAX_LANES, "Lanes", "lanes"),
        spots_per_lane=_in_range(
            spots_per_lane, 1, MAX_SPOTS_PER_LANE, "Loading spots per lane", "spots_per_lane"
        ),
        cutoff=cutoff,
        walker_doors={door: list(grades) for door, grades in walker_doors.items()},
        office_phone=phone,
        family_modes=modes,
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
        actor=actor,
    )
    live.bump(school.id, TOPIC)
    return new

"""The school's car line settings: lanes, loading spots, the daily change cutoff, walker doors.

Car line settings live in `school.settings["carline"]` as
`{"lanes": int, "spots_per_lane": int, "cutoff": "HH:MM" | None,
"walker_doors": {"Door": ["K", "1"]}, "office_phone": str, "family_modes": ["car", ...],
"require_pickup_sign": bool, "family_features": ["change", ...]}`;
`carline_settings` reads them with defaults, so a school that never opened the settings
page still runs a dismissal. The cutoff holds for guardians too (without an override),
`family_modes` are the ways home a guardian may choose on the family page, and the office
phone is what the family page says to call after the cutoff. `require_pickup_sign`
(off by default): "I'm here" needs a recent scan of the pickup line sign's QR code
(`carline.pickup_sign`). `family_features` are what
the family page offers at all (`FAMILY_FEATURES`: changing a day's plan, reporting an
absence, an early pickup, "I'm here", proposing a carpool); one that is off is not shown
and its POST is refused (`require_feature`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime, time

from flask_babel import gettext as _
from flask_babel import lazy_gettext

from carline.models import DISMISSAL_MODES, MAX_LANES, MAX_SPOTS_PER_LANE
from carline.recording import TOPIC
from shared import audit, audit_log, live
from shared.audit import Actor
from shared.errors import Forbidden, InvalidInput
from shared.extensions import db
from shared.forms import parse_clock
from shared.models import School

DEFAULT_LANES = 2
DEFAULT_SPOTS_PER_LANE = 5
MAX_DOORS = 20
DOOR_NAME_LENGTH = 60
GRADE_LENGTH = 8
PHONE_LENGTH = 40

#: What a school may offer families on the family page, each on or off, in this order.
FAMILY_FEATURES = ("change", "absence", "early_pickup", "here", "carpool")
#: How each is named on the settings page, and what a refused POST says (lazy).
FEATURE_LABELS = {
    "change": lazy_gettext("Change a day's plan"),
    "absence": lazy_gettext("Report an absence"),
    "early_pickup": lazy_gettext("Report an early pickup"),
    "here": lazy_gettext('"I\'m here" (the car enters the line)'),
    "carpool": lazy_gettext("Propose and confirm a carpool with another family"),
}
FEATURE_REFUSALS = {
    "change": lazy_gettext(
        "The school does not take plan changes on the family page: please call the office."
    ),
    "absence": lazy_gettext(
        "The school does not take absences on the family page: please call the office."
    ),
    "early_pickup": lazy_gettext(
        "The school does not take early pickups on the family page: please call the office."
    ),
    "here": lazy_gettext('The school does not use "I\'m here": show your hang tag at the curb.'),
    "carpool": lazy_gettext("The school sets up carpools itself: please ask the office."),
}

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
    #: "I'm here" needs a recent scan of the pickup line sign's QR code.
    require_pickup_sign: bool = False
    #: What the family page offers (`FAMILY_FEATURES`); all of it unless the school said.
    family_features: tuple[str, ...] = FAMILY_FEATURES

    def offers(self, feature: str) -> bool:
        """Does the family page offer this (one of `FAMILY_FEATURES`)?"""
        return feature in self.family_features

    def as_json(self) -> dict:
        """The stored form (`school.settings["carline"]`)."""
        return {
            "lanes": self.lanes,
            "spots_per_lane": self.spots_per_lane,
            "cutoff": self.cutoff.strftime("%H:%M") if self.cutoff else None,
            "walker_doors": {door: list(grades) for door, grades in self.walker_doors.items()},
            "office_phone": self.office_phone,
            "family_modes": list(self.family_modes),
            "require_pickup_sign": self.require_pickup_sign,
            "family_features": list(self.family_features),
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
        require_pickup_sign=raw.get("require_pickup_sign") is True,
        family_features=_stored_list(raw.get("family_features"), FAMILY_FEATURES),
    )


def _stored_modes(value: object) -> tuple[str, ...]:
    return _stored_list(value, DISMISSAL_MODES)


def _stored_list(value: object, known: tuple[str, ...]) -> tuple[str, ...]:
    """The known values a stored list holds, in their order; all of them when not a list."""
    if not isinstance(value, list):
        return known
    return tuple(item for item in known if item in value)


def require_feature(school: School, feature: str) -> None:
    """Refuse (403, with what to do instead) what the school does not offer families."""
    if not carline_settings(school).offers(feature):
        raise Forbidden(str(FEATURE_REFUSALS[feature]), field=feature)


def _in_range(value: int, low: int, high: int, label: str, name: str) -> int:
    if not low <= value <= high:
        raise InvalidInput(
            _(
                "%(label)s: a whole number from %(low)d to %(high)d.",
                label=label,
                low=low,
                high=high,
            ),
            field=name,
        )
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
                _(
                    "Walker doors, line %(number)d: write the door, a colon and its grades "
                    "(East doors: K, 1, 2).",
                    number=number,
                ),
                field="walker_doors",
            )
        if len(name) > DOOR_NAME_LENGTH or any(len(g) > GRADE_LENGTH for g in grades):
            raise InvalidInput(
                _(
                    "Walker doors, line %(number)d: the name or a grade is too long.",
                    number=number,
                ),
                field="walker_doors",
            )
        if name in doors:
            raise InvalidInput(
                _('Walker doors: "%(door)s" is listed twice.', door=name), field="walker_doors"
            )
        doors[name] = list(dict.fromkeys(grades))
    if len(doors) > MAX_DOORS:
        raise InvalidInput(_("Walker doors: at most %(num)d.", num=MAX_DOORS), field="walker_doors")
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
    require_pickup_sign: bool | None = None,
) -> CarlineSettings:
    """Check and store the school's car line settings (all or nothing); the office phone,
    the family modes and the pickup sign's rule are kept as they are when not given (the
    family page's features are `save_family_features`'s)."""
    if len(walker_doors) > MAX_DOORS:
        raise InvalidInput(_("Walker doors: at most %(num)d.", num=MAX_DOORS), field="walker_doors")
    stored = carline_settings(school)
    phone = stored.office_phone if office_phone is None else " ".join(office_phone.split())
    if len(phone) > PHONE_LENGTH:
        raise InvalidInput(
            _("Office phone: at most %(num)d characters.", num=PHONE_LENGTH), field="office_phone"
        )
    modes = stored.family_modes
    if family_modes is not None:
        if set(family_modes) - set(DISMISSAL_MODES):
            raise InvalidInput(
                _("Family page: choose among car, bus, walker and after-care."),
                field="family_modes",
            )
        modes = tuple(mode for mode in DISMISSAL_MODES if mode in family_modes)
    new = CarlineSettings(
        lanes=_in_range(lanes, 1, MAX_LANES, _("Lanes"), "lanes"),
        spots_per_lane=_in_range(
            spots_per_lane, 1, MAX_SPOTS_PER_LANE, _("Loading spots per lane"), "spots_per_lane"
        ),
        cutoff=cutoff,
        walker_doors={door: list(grades) for door, grades in walker_doors.items()},
        office_phone=phone,
        family_modes=modes,
        require_pickup_sign=(
            stored.require_pickup_sign if require_pickup_sign is None else require_pickup_sign
        ),
        family_features=stored.family_features,
    )
    return _store(school, actor, "carline.settings", new)


def save_family_features(school: School, actor: Actor, features: list[str]) -> CarlineSettings:
    """Turn each of the family page's features (`FAMILY_FEATURES`) on (listed) or off
    (the office or an admin; audited with before and after)."""
    if set(features) - set(FAMILY_FEATURES):
        raise InvalidInput(
            _("Family page: choose among the features listed."), field="family_features"
        )
    stored = carline_settings(school)
    new = replace(stored, family_features=tuple(f for f in FAMILY_FEATURES if f in features))
    return _store(school, actor, "carline.family_features", new)


@dataclass(frozen=True)
class FeatureChange:
    """One change of the family page's switches, as the audit log has it."""

    at: datetime
    who: str
    turned_on: list[str]
    turned_off: list[str]


def feature_changes(school: School, limit: int = 5) -> list[FeatureChange]:
    """The latest changes of the family page's switches: who, when, what went on or off."""
    filters = audit_log.Filters(action="carline.family_features")
    changes = []
    for event in audit_log.page(school, filters).events[:limit]:
        before = set((event.detail.get("before") or {}).get("family_features") or ())
        after = set((event.detail.get("after") or {}).get("family_features") or ())
        changes.append(
            FeatureChange(
                event.at,
                event.actor_label,
                [f for f in FAMILY_FEATURES if f in after - before],
                [f for f in FAMILY_FEATURES if f in before - after],
            )
        )
    return changes


def _store(school: School, actor: Actor, action: str, new: CarlineSettings) -> CarlineSettings:
    before = carline_settings(school).as_json()
    # A new dict: the JSON column only notices an assignment, not an in-place change.
    school.settings = {**(school.settings or {}), "carline": new.as_json()}
    db.session.flush()
    audit.record(
        action,
        school_id=school.id,
        target=school,
        detail={"before": before, "after": new.as_json()},
        actor=actor,
    )
    live.bump(school.id, TOPIC)
    return new

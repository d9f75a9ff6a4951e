"""The school's pass policy: its one reader, its one set of defaults, and its settings.

Every part of the hall pass blueprint reads the policy through `read_policy` (a GET
writes nothing: a school that never saved its rules gets unsaved defaults) and writes it
through `policy_for`, which creates the row with the same defaults on first use. The
defaults are `POLICY_DEFAULTS`, stated once.

The live columns (`out_now`, `sweep_started_at`) belong to the pass services (`rules`,
`passes`) and are never written by `update_policy`: the ORM only writes the columns a
function sets.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from flask_babel import gettext as _
from sqlalchemy import select

from hallpass import settings
from hallpass.models import HallpassPolicy
from shared import audit
from shared.database import upsert_insert
from shared.errors import InvalidInput
from shared.extensions import db
from shared.models import Room, RoomKind, School

#: New policies end passes after this many minutes.
DEFAULT_MAX_PASS_MINUTES = 30
#: A school's rules until its admin saves some: every pass allowed, no caps.
POLICY_DEFAULTS = {
    "daily_limit": None,
    "cooldown_minutes": 0,
    "building_cap": None,
    "room_cap": None,
    "no_pass_first_minutes": 0,
    "no_pass_last_minutes": 0,
    "no_pass_periods": [],
    "max_pass_minutes": DEFAULT_MAX_PASS_MINUTES,
    "out_now": 0,
}
MAX_DAILY_LIMIT = 50
MAX_COOLDOWN = 240
MAX_BUILDING_CAP = 10_000
MAX_ROOM_CAP = 100
MAX_WINDOW_MINUTES = 60
MAX_PASS_MINUTES = 600
POLICY_FIELDS = (
    "daily_limit",
    "cooldown_minutes",
    "building_cap",
    "room_cap",
    "no_pass_first_minutes",
    "no_pass_last_minutes",
    "no_pass_periods",
    "max_pass_minutes",
)


def _defaults() -> dict:
    return {**POLICY_DEFAULTS, "no_pass_periods": []}  # a fresh list for every policy


def read_policy(school: School) -> HallpassPolicy:
    """The school's policy for reading (a GET writes nothing): unsaved defaults if none yet."""
    return db.session.get(HallpassPolicy, school.id) or HallpassPolicy(
        school_id=school.id, **_defaults()
    )


def policy_for(school: School) -> HallpassPolicy:
    """The school's policy for writing, created with the defaults on first use."""
    policy = db.session.get(HallpassPolicy, school.id)
    if policy is None:
        insert = upsert_insert(db.session.get_bind().dialect.name)
        db.session.execute(
            insert(HallpassPolicy)
            .values(school_id=school.id, **_defaults())
            .on_conflict_do_nothing(index_elements=[HallpassPolicy.school_id])
        )
        policy = db.session.get(HallpassPolicy, school.id)
    return policy


@dataclass(frozen=True)
class PolicyValues:
    """The school's pass rules, typed (`settings_forms.policy_values` reads the form)."""

    daily_limit: int | None
    cooldown_minutes: int
    building_cap: int | None
    room_cap: int | None
    no_pass_first_minutes: int
    no_pass_last_minutes: int
    no_pass_periods: list[str]
    max_pass_minutes: int | None


def update_policy(school: School, rules: PolicyValues, periods: list[str]) -> HallpassPolicy:
    """Save the school's pass rules; the building's live count is never touched.

    `periods` are the bell schedule's period names: no-pass periods must be among them.
    """
    if any(p not in periods for p in rules.no_pass_periods):
        raise InvalidInput(
            _("No-pass periods: choose periods of the bell schedule."), field="no_pass_periods"
        )
    values = asdict(rules)
    values["no_pass_periods"] = [p for p in periods if p in rules.no_pass_periods]
    policy = policy_for(school)
    before = settings.snapshot(policy, POLICY_FIELDS)
    before["no_pass_periods"] = list(before["no_pass_periods"] or [])
    for key, value in values.items():
        setattr(policy, key, value)
    db.session.flush()
    audit.record(
        "hallpass.policy_update",
        school_id=school.id,
        target=school,
        detail=settings.changes(before, values),
    )
    return policy


def classrooms(school: School) -> list[Room]:
    """The school's active classrooms, by name (those a classroom limit is about)."""
    return list(
        db.session.scalars(
            select(Room)
            .where(
                Room.school_id == school.id,
                Room.active.is_(True),
                Room.kind == RoomKind.CLASSROOM,
            )
            .order_by(Room.name)
        )
    )


def rooms_with_own_cap(school: School) -> list[Room]:
    """The school's classrooms whose limit of students out differs from the school's."""
    return list(
        db.session.scalars(
            select(Room)
            .where(Room.school_id == school.id, Room.pass_cap.is_not(None))
            .order_by(Room.name)
        )
    )


def set_room_cap(school: School, room_id: int, cap: int | None) -> Room:
    """Give one classroom its own limit of students out at once (None: the school's
    limit again); audited with before and after."""
    room = db.session.get(Room, room_id)
    if room is None or room.school_id != school.id or room.kind != RoomKind.CLASSROOM:
        raise InvalidInput(_("Room: choose a classroom of this school."), field="room_id")
    before = room.pass_cap
    room.pass_cap = cap
    db.session.flush()
    audit.record(
        "hallpass.room_cap",
        school_id=school.id,
        target=room,
        detail={"before": before, "after": cap},
    )
    return room

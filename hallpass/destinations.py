"""Where passes go: the school's destinations, made from its rooms and changed in settings.

The admin's settings pages add, change and delete destinations here. The live counters
(a destination's `out_now`) belong to the pass services and are never written here: the
ORM only writes the columns a function sets. Deactivating a destination with students
out is safe: their passes run on and end as usual (ending a pass releases its places
whatever the destination's state), no new pass or request can start there, and open
requests for it expire, giving back any place held for them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import case, exists, func, or_, select

from hallpass import pass_requests, rules, settings, wait_line
from hallpass.models import (
    Destination,
    HallPass,
    PassRequest,
)
from shared import audit
from shared.access import school_record
from shared.errors import InvalidInput, NotFound
from shared.extensions import db
from shared.models import Room, School
from shared.timeutil import utcnow

#: Starting settings for destinations made from a school's rooms, by room kind:
#: (time limit in minutes, capacity or None, students may start it themselves).
DEFAULT_DESTINATION_SETTINGS = {
    "restroom": (8, 2, True),
    "nurse": (15, None, True),
    "office": (10, None, False),
    "library": (20, 6, False),
    "counselor": (20, None, False),
    "other": (5, 3, True),
}


def create_default_destinations(school: School) -> list[Destination]:
    """Make a destination of every non-classroom room that has none yet (flushes only)."""
    taken = set(
        db.session.scalars(select(Destination.room_id).where(Destination.school_id == school.id))
    )
    rooms = db.session.scalars(
        select(Room)
        .where(Room.school_id == school.id, Room.kind != "classroom", Room.active.is_(True))
        .order_by(Room.name)
    ).all()
    created = []
    for room in rooms:
        if room.id in taken:
            continue
        minutes, capacity, self_start = DEFAULT_DESTINATION_SETTINGS[room.kind]
        created.append(
            Destination(
                school_id=school.id,
                name=room.name,
                room_id=room.id,
                time_limit_minutes=minutes,
                capacity=capacity,
                self_start=self_start,
                is_nurse=room.kind == "nurse",
                counts_toward_limit=room.kind not in ("nurse", "counselor"),
            )
        )
    db.session.add_all(created)
    db.session.flush()
    return created


def active_destinations(school_id: int) -> list[Destination]:
    """The school's destinations open for passes, by name."""
    return list(
        db.session.scalars(
            select(Destination)
            .where(Destination.school_id == school_id, Destination.active.is_(True))
            .order_by(Destination.name)
        )
    )


MAX_TIME_LIMIT = 240
MAX_CAPACITY = 500
DESTINATION_FIELDS = (
    "name",
    "room_id",
    "time_limit_minutes",
    "capacity",
    "self_start",
    "counts_toward_limit",
    "is_nurse",
    "active",
    "appointments_skip_limits",
)


def destinations(school: School) -> list[Destination]:
    """Every destination of the school, active ones first, by name."""
    return list(
        db.session.scalars(
            select(Destination)
            .where(Destination.school_id == school.id)
            .order_by(Destination.active.desc(), Destination.name)
        )
    )


def destination_rooms(school: School) -> list[Room]:
    """Rooms a destination may be: the school's active rooms, non-classrooms first."""
    return list(
        db.session.scalars(
            select(Room)
            .where(Room.school_id == school.id, Room.active.is_(True))
            .order_by(case((Room.kind == "classroom", 1), else_=0), Room.name)
        )
    )


def get_destination(school: School, destination_id: int) -> Destination:
    """A destination of this school (404 otherwise), active or not."""
    return school_record(
        Destination, destination_id, school.id, _("No such destination at this school.")
    )


@dataclass(frozen=True)
class DestinationValues:
    """A destination's settings, typed (`settings_forms.destination_values` reads the form)."""

    name: str
    room_id: int | None
    time_limit_minutes: int
    capacity: int | None
    self_start: bool
    counts_toward_limit: bool
    is_nurse: bool
    active: bool
    #: Appointments here skip the daily limit and the no-pass windows.
    appointments_skip_limits: bool = False


def _checked(school: School, values: DestinationValues, current: Destination | None) -> dict:
    """The values to save, checked against the school (raises InvalidInput naming the field)."""
    name = " ".join(values.name.split())
    if not name or len(name) > 100:
        raise InvalidInput(_("Name: enter 1 to 100 characters."), field="name")
    taken = db.session.scalar(
        select(Destination.id).where(
            Destination.school_id == school.id,
            func.lower(Destination.name) == name.lower(),
            Destination.id != (current.id if current else 0),
        )
    )
    if taken:
        raise InvalidInput(
            _("There is already a destination called %(name)s.", name=name), field="name"
        )
    if values.room_id is not None:
        try:
            school_record(Room, values.room_id, school.id)
        except NotFound:
            raise InvalidInput(_("Room: choose a room of this school."), field="room_id") from None
    return {**asdict(values), "name": name}


def create_destination(school: School, values: DestinationValues) -> Destination:
    """Add a destination."""
    values = _checked(school, values, None)
    destination = Destination(school_id=school.id, **values)
    db.session.add(destination)
    db.session.flush()
    audit.record(
        "hallpass.destination_create", school_id=school.id, target=destination, detail=values
    )
    return destination


def update_destination(
    school: School, destination_id: int, values: DestinationValues, *, now: datetime | None = None
) -> Destination:
    """Change a destination's settings; never its live counters (see the module docstring)."""
    now = now or utcnow()
    destination = get_destination(school, destination_id)
    values = _checked(school, values, destination)
    before = settings.snapshot(destination, DESTINATION_FIELDS)
    rules.lock_school(school)  # before the destination's row: the lock order (see `rules`)
    for key, value in values.items():
        setattr(destination, key, value)
    db.session.flush()
    closed = 0
    if before["active"] and not destination.active:
        closed = pass_requests.expire_destination_requests(school, destination, now)
    elif destination.active:
        # A raised capacity (or a reactivation) may free places for the wait line.
        wait_line.advance_wait_line(school, destination.id, now)
    detail = settings.changes(before, values)
    if closed:
        detail["requests_expired"] = closed
    audit.record(
        "hallpass.destination_update", school_id=school.id, target=destination, detail=detail
    )
    return destination


def destination_in_use(destination: Destination) -> bool:
    """True when any pass or request ever went to this destination (it keeps history)."""
    return bool(
        db.session.scalar(
            select(
                or_(
                    exists().where(HallPass.destination_id == destination.id),
                    exists().where(PassRequest.destination_id == destination.id),
                )
            )
        )
    )


def delete_destination(school: School, destination_id: int) -> str:
    """Delete a destination nobody ever used; one with history can only be deactivated."""
    destination = get_destination(school, destination_id)
    if destination_in_use(destination):
        raise InvalidInput(
            _(
                "%(name)s has pass history, which deleting would erase. Deactivate it instead.",
                name=destination.name,
            ),
            field="delete",
        )
    name = destination.name
    audit.record(
        "hallpass.destination_delete",
        school_id=school.id,
        target=destination,
        detail=settings.snapshot(destination, DESTINATION_FIELDS),
    )
    db.session.delete(destination)
    db.session.flush()
    return name

"""Hall pass settings: destinations, the school's pass rules, student limits, keep-apart groups.

Plain service functions for the admin's settings pages. Each checks its input (a bad
value raises `InvalidInput` naming the field, before anything is written), writes,
flushes and records an audit event; the request commits once.

The live counters (`out_now` of a destination and of the school's policy) belong to the
pass services and are never written here: the ORM only writes the columns a function
sets. Deactivating a destination with students out is safe: their passes run on and end
as usual (ending a pass releases its places whatever the destination's state), no new
pass or request can start there, and open requests for it expire, giving back any place
held for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, exists, func, or_, select

from hallpass import services
from hallpass.models import (
    Destination,
    HallPass,
    HallpassPolicy,
    KeepApartGroup,
    PassRequest,
    StudentPassLimit,
)
from shared import audit
from shared.errors import InvalidInput, NotFound
from shared.extensions import db
from shared.models import Room, School, Student, User
from shared.students import matches_words, search_text
from shared.timeutil import utcnow

MAX_TIME_LIMIT = 240
MAX_CAPACITY = 500
MAX_DAILY_LIMIT = 50
MAX_COOLDOWN = 240
MAX_BUILDING_CAP = 10_000
MAX_WINDOW_MINUTES = 60
MAX_PASS_MINUTES = 600
MAX_NOTE = 1000
SEARCH_LIMIT = 25
#: How many students one keep-apart group may hold.
MAX_GROUP_SIZE = 12

DESTINATION_FIELDS = (
    "name",
    "room_id",
    "time_limit_minutes",
    "capacity",
    "self_start",
    "counts_toward_limit",
    "is_nurse",
    "active",
)
POLICY_FIELDS = (
    "daily_limit",
    "cooldown_minutes",
    "building_cap",
    "no_pass_first_minutes",
    "no_pass_last_minutes",
    "no_pass_periods",
    "max_pass_minutes",
)


# ------------------------------------------------------------------------ parsing


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


# -------------------------------------------------------------------- destinations


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
    destination = db.session.get(Destination, destination_id)
    if destination is None or destination.school_id != school.id:
        raise NotFound("No such destination at this school.")
    return destination


def _destination_values(school: School, form: dict, current: Destination | None) -> dict:
    """The checked values of a destination form (raises InvalidInput naming the field)."""
    name = " ".join((form.get("name") or "").split())
    if not name or len(name) > 100:
        raise InvalidInput("Name: enter 1 to 100 characters.", field="name")
    taken = db.session.scalar(
        select(Destination.id).where(
            Destination.school_id == school.id,
            func.lower(Destination.name) == name.lower(),
            Destination.id != (current.id if current else 0),
        )
    )
    if taken:
        raise InvalidInput(f"There is already a destination called {name}.", field="name")
    room_id = parse_int(
        form.get("room_id"), field="room_id", label="Room", low=1, high=2**31 - 1, blank_ok=True
    )
    if room_id is not None:
        room = db.session.get(Room, room_id)
        if room is None or room.school_id != school.id:
            raise InvalidInput("Room: choose a room of this school.", field="room_id")
    approval = (form.get("approval") or "").strip()
    if approval not in ("self", "approval"):
        raise InvalidInput(
            "Choose whether students may start a pass themselves or need approval.",
            field="approval",
        )
    return {
        "name": name,
        "room_id": room_id,
        "time_limit_minutes": parse_int(
            form.get("time_limit_minutes"),
            field="time_limit_minutes",
            label="Time limit",
            low=1,
            high=MAX_TIME_LIMIT,
        ),
        "capacity": parse_int(
            form.get("capacity"),
            field="capacity",
            label="Capacity",
            low=1,
            high=MAX_CAPACITY,
            blank_ok=True,
        ),
        "self_start": approval == "self",
        "counts_toward_limit": parse_bool(form.get("counts_toward_limit")),
        "is_nurse": parse_bool(form.get("is_nurse")),
        "active": parse_bool(form.get("active")),
    }


def _snapshot(obj: Any, fields: tuple[str, ...]) -> dict:
    return {name: getattr(obj, name) for name in fields}


def _changes(before: dict, after: dict) -> dict:
    """Only the fields that changed, as {"before": {...}, "after": {...}}."""
    changed = [k for k in after if before.get(k) != after[k]]
    return {
        "before": {k: before.get(k) for k in changed},
        "after": {k: after[k] for k in changed},
    }


def create_destination(school: School, form: dict) -> Destination:
    """Add a destination from the settings form."""
    values = _destination_values(school, form, None)
    destination = Destination(school_id=school.id, **values)
    db.session.add(destination)
    db.session.flush()
    audit.record(
        "hallpass.destination_create", school_id=school.id, target=destination, detail=values
    )
    return destination


def update_destination(
    school: School, destination_id: int, form: dict, *, now: datetime | None = None
) -> Destination:
    """Change a destination's settings; never its live counters (see the module docstring)."""
    now = now or utcnow()
    destination = get_destination(school, destination_id)
    values = _destination_values(school, form, destination)
    before = _snapshot(destination, DESTINATION_FIELDS)
    for key, value in values.items():
        setattr(destination, key, value)
    db.session.flush()
    closed = 0
    if before["active"] and not destination.active:
        closed = services.expire_destination_requests(school, destination, now)
    elif destination.active:
        # A raised capacity (or a reactivation) may free places for the wait line.
        services.advance_wait_line(school, destination.id, now)
    detail = _changes(before, values)
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
            f"{destination.name} has pass history, which deleting would erase. "
            "Deactivate it instead.",
            field="delete",
        )
    name = destination.name
    audit.record(
        "hallpass.destination_delete",
        school_id=school.id,
        target=destination,
        detail=_snapshot(destination, DESTINATION_FIELDS),
    )
    db.session.delete(destination)
    db.session.flush()
    return name


# -------------------------------------------------------------------------- policy


def current_policy(school: School) -> HallpassPolicy:
    """The school's policy to show; an unsaved default one when none exists yet (no write)."""
    policy = db.session.get(HallpassPolicy, school.id)
    if policy is not None:
        return policy
    return HallpassPolicy(
        school_id=school.id,
        daily_limit=None,
        cooldown_minutes=0,
        building_cap=None,
        no_pass_first_minutes=0,
        no_pass_last_minutes=0,
        no_pass_periods=[],
        max_pass_minutes=services.DEFAULT_MAX_PASS_MINUTES,
        out_now=0,
    )


def update_policy(school: School, form: dict, periods: list[str]) -> HallpassPolicy:
    """Save the school's pass rules; the building's live count is never touched."""
    chosen = form.get("no_pass_periods") or []
    if isinstance(chosen, str):
        chosen = [chosen]
    unknown = [p for p in chosen if p not in periods]
    if unknown:
        raise InvalidInput(
            "No-pass periods: choose periods of the bell schedule.", field="no_pass_periods"
        )
    values = {
        "daily_limit": parse_int(
            form.get("daily_limit"),
            field="daily_limit",
            label="Passes per day",
            low=1,
            high=MAX_DAILY_LIMIT,
            blank_ok=True,
        ),
        "cooldown_minutes": parse_int(
            form.get("cooldown_minutes") or "0",
            field="cooldown_minutes",
            label="Time between passes",
            low=0,
            high=MAX_COOLDOWN,
        ),
        "building_cap": parse_int(
            form.get("building_cap"),
            field="building_cap",
            label="Building-wide limit",
            low=1,
            high=MAX_BUILDING_CAP,
            blank_ok=True,
        ),
        "no_pass_first_minutes": parse_int(
            form.get("no_pass_first_minutes") or "0",
            field="no_pass_first_minutes",
            label="No passes in the first minutes",
            low=0,
            high=MAX_WINDOW_MINUTES,
        ),
        "no_pass_last_minutes": parse_int(
            form.get("no_pass_last_minutes") or "0",
            field="no_pass_last_minutes",
            label="No passes in the last minutes",
            low=0,
            high=MAX_WINDOW_MINUTES,
        ),
        "no_pass_periods": [p for p in periods if p in chosen],
        "max_pass_minutes": parse_int(
            form.get("max_pass_minutes"),
            field="max_pass_minutes",
            label="End passes automatically after",
            low=1,
            high=MAX_PASS_MINUTES,
            blank_ok=True,
        ),
    }
    policy = services.policy_for(school)
    before = _snapshot(policy, POLICY_FIELDS)
    before["no_pass_periods"] = list(before["no_pass_periods"] or [])
    for key, value in values.items():
        setattr(policy, key, value)
    db.session.flush()
    audit.record(
        "hallpass.policy_update",
        school_id=school.id,
        target=school,
        detail=_changes(before, values),
    )
    return policy


# ------------------------------------------------------------------ student search


def search_students(school: School, query: str, *, limit: int = SEARCH_LIMIT) -> list[Student]:
    """Active students whose name contains the text, or whose student number is it."""
    text = search_text(query)
    if not text:
        return []
    return list(
        db.session.scalars(
            select(Student)
            .where(Student.school_id == school.id, Student.active.is_(True), matches_words(text))
            .order_by(Student.last_name, Student.first_name, Student.id)
            .limit(limit)
        )
    )


def school_student(school: School, student_id: int | None) -> Student:
    """A student of this school (404 otherwise)."""
    student = db.session.get(Student, student_id) if student_id else None
    if student is None or student.school_id != school.id:
        raise NotFound("No such student at this school.")
    return student


def parse_student_ids(raw: list[str]) -> list[int]:
    """Distinct student ids from form values, in the order given (bad values refused)."""
    ids: list[int] = []
    for value in raw:
        text = (value or "").strip()
        if not (text.isascii() and text.isdigit()) or len(text) > 12:
            raise InvalidInput("Choose students from the search results.", field="student_ids")
        if int(text) not in ids:
            ids.append(int(text))
    return ids


# ------------------------------------------------------------ student pass limits


@dataclass(frozen=True)
class LimitRow:
    """A student's exception to the daily limit, for the settings list."""

    student: Student
    limit: StudentPassLimit


def student_limits(school: School) -> list[LimitRow]:
    """Every per-student limit of the school's students, by name."""
    rows = db.session.execute(
        select(Student, StudentPassLimit)
        .join(StudentPassLimit, StudentPassLimit.student_id == Student.id)
        .where(Student.school_id == school.id)
        .order_by(Student.last_name, Student.first_name, Student.id)
    ).all()
    return [LimitRow(student, limit) for student, limit in rows]


def set_student_limit(school: School, form: dict) -> StudentPassLimit:
    """Make a student exempt from the daily limit or give them their own limit, with a note."""
    student_id = parse_int(
        form.get("student_id"), field="student_id", label="Student", low=1, high=2**31 - 1
    )
    student = school_student(school, student_id)
    kind = (form.get("kind") or "").strip()
    if kind == "exempt":
        daily_limit = None
    elif kind == "limit":
        daily_limit = parse_int(
            form.get("daily_limit"),
            field="daily_limit",
            label="Passes per day",
            low=0,
            high=MAX_DAILY_LIMIT,
        )
    else:
        raise InvalidInput("Choose exempt or a different daily limit.", field="kind")
    note = (form.get("note") or "").strip()
    if len(note) > MAX_NOTE:
        raise InvalidInput(f"Note: at most {MAX_NOTE} characters.", field="note")
    existing = db.session.get(StudentPassLimit, student.id)
    before = None if existing is None else {"daily_limit": existing.daily_limit}
    if existing is None:
        existing = StudentPassLimit(student_id=student.id)
        db.session.add(existing)
    note_changed = existing.note != note
    existing.daily_limit = daily_limit
    existing.note = note
    db.session.flush()
    audit.record(
        "hallpass.student_limit_set",
        school_id=school.id,
        target=student,
        detail={
            "before": before,
            "after": {"daily_limit": daily_limit, "exempt": daily_limit is None},
            "note_changed": note_changed,
        },
    )
    return existing


def remove_student_limit(school: School, student_id: int | None) -> Student:
    """Remove a student's exception: the school's daily limit applies again."""
    student = school_student(school, student_id)
    existing = db.session.get(StudentPassLimit, student.id)
    if existing is None:
        raise NotFound("This student has no limit of their own.")
    audit.record(
        "hallpass.student_limit_remove",
        school_id=school.id,
        target=student,
        detail={"before": {"daily_limit": existing.daily_limit}},
    )
    db.session.delete(existing)
    db.session.flush()
    return student


# ------------------------------------------------------------- keep-apart groups


def keep_apart_groups(school: School) -> list[KeepApartGroup]:
    """The school's keep-apart groups, newest first."""
    return list(
        db.session.scalars(
            select(KeepApartGroup)
            .where(KeepApartGroup.school_id == school.id)
            .order_by(KeepApartGroup.created_at.desc(), KeepApartGroup.id.desc())
        )
    )


def get_group(school: School, group_id: int) -> KeepApartGroup:
    """A keep-apart group of this school (404 otherwise)."""
    group = db.session.get(KeepApartGroup, group_id)
    if group is None or group.school_id != school.id:
        raise NotFound("No such keep-apart group.")
    return group


def group_is_current(group: KeepApartGroup, today: date) -> bool:
    """True while the group applies (no end date, or it ends today or later)."""
    return group.ends_on is None or group.ends_on >= today


def create_keep_apart_group(
    school: School, user: User | None, form: dict, student_ids: list[int], *, today: date
) -> KeepApartGroup:
    """A group of two or more students who may not be out at once, with a staff note."""
    if len(student_ids) < 2:
        raise InvalidInput("Choose at least two students.", field="student_ids")
    if len(student_ids) > MAX_GROUP_SIZE:
        raise InvalidInput(f"A group holds at most {MAX_GROUP_SIZE} students.", field="student_ids")
    students = list(
        db.session.scalars(
            select(Student).where(Student.id.in_(student_ids), Student.school_id == school.id)
        )
    )
    if len(students) != len(student_ids) or not all(s.active for s in students):
        raise InvalidInput("Choose active students of this school.", field="student_ids")
    note = (form.get("note") or "").strip()
    if not note:
        raise InvalidInput("Note: say why (staff see it when a pass is refused).", field="note")
    if len(note) > MAX_NOTE:
        raise InvalidInput(f"Note: at most {MAX_NOTE} characters.", field="note")
    ends_on = parse_date(form.get("ends_on"), field="ends_on", label="End date")
    if ends_on is not None and ends_on < today:
        raise InvalidInput("End date: choose today or a later day.", field="ends_on")
    group = KeepApartGroup(
        school_id=school.id,
        note=note,
        ends_on=ends_on,
        created_by_id=user.id if user else None,
        members=sorted(students, key=lambda s: s.id),
    )
    db.session.add(group)
    db.session.flush()
    audit.record(
        "hallpass.keep_apart_create",
        school_id=school.id,
        target=group,
        detail={
            "student_ids": sorted(student_ids),
            "ends_on": ends_on.isoformat() if ends_on else None,
        },
    )
    return group


def end_keep_apart_group(school: School, group_id: int, *, today: date) -> KeepApartGroup:
    """End a group from today on (it stays listed, as ended, with its history)."""
    group = get_group(school, group_id)
    if not group_is_current(group, today):
        raise InvalidInput("This group has already ended.", field="group_id")
    before = group.ends_on.isoformat() if group.ends_on else None
    group.ends_on = today - timedelta(days=1)
    db.session.flush()
    audit.record(
        "hallpass.keep_apart_end",
        school_id=school.id,
        target=group,
        detail={"before": {"ends_on": before}, "after": {"ends_on": group.ends_on.isoformat()}},
    )
    return group


def delete_keep_apart_group(school: School, group_id: int) -> None:
    """Delete a group altogether (its members may be out at once from now on)."""
    group = get_group(school, group_id)
    audit.record(
        "hallpass.keep_apart_delete",
        school_id=school.id,
        target=group,
        detail={
            "student_ids": sorted(s.id for s in group.members),
            "ends_on": group.ends_on.isoformat() if group.ends_on else None,
        },
    )
    db.session.delete(group)
    db.session.flush()

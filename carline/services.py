"""Car line operations: hang tags, dismissal plans, and running a day's dismissal.

Plain functions taking the school, the actor (a staff `user` and/or a paired `device`)
and the objects they act on. They flush and never commit: the request commits once.
Every write is audited and bumps the school's "dismissal" live version; a broken rule
raises a `shared.errors.DomainError`.

Writers of one dismissal take turns on its row: PostgreSQL locks it
(`SELECT ... FOR NO KEY UPDATE`), and SQLite already holds the database write lock
from `BEGIN IMMEDIATE` (see `shared.database`), so call these in a writing request or
inside `write_intent()`. Under that lock "is this car already queued?" followed by
an insert is safe, queue positions come from an atomic counter without gaps, and
loading spots are handed out in arrival order.

How a student goes home on a day (`dismissal_mode`): absent, else the office's daily
change, else the weekday default, else "car" when the student is on an active
family's tag, else "unplanned". Unplanned students are never called: releasing a
child on foot or to a bus must be someone's explicit choice. They are listed among
the late pickups at the end of the day, so the office notices the missing plan.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, time
from typing import Any

from sqlalchemy import Select, and_, delete, false, or_, select, update
from sqlalchemy.exc import IntegrityError

from carline.models import (
    DISMISSAL_MODES,
    MAX_LANES,
    MAX_REQUEST_KEY_LENGTH,
    MAX_SPOTS_PER_LANE,
    ROUTE_LENGTH,
    Absence,
    CalledStudent,
    CurbRequest,
    DailyChange,
    Dismissal,
    DismissalDefault,
    QueueEntry,
    Tag,
)
from shared import audit, live
from shared.errors import Conflict, InvalidInput, NotFound
from shared.extensions import db
from shared.models import Device, Family, School, Student, User, family_students
from shared.timeutil import local, utcnow

TOPIC = "dismissal"
NOT_STARTED = "Dismissal has not started yet today. The office starts it."
#: Call statuses after which the student has left the school.
GONE = ("loaded", "released")


@dataclass(frozen=True)
class DayPlan:
    """How a student goes home on one day, and which rule said so."""

    #: "absent", one of DISMISSAL_MODES, or "unplanned".
    mode: str
    #: "absence", "change", "default", "family" or "none".
    source: str
    bus_route: str | None = None
    #: For a car rider: the one family taking the student today (None: any of theirs).
    family_id: int | None = None
    early_pickup: time | None = None
    note: str = ""


@dataclass(frozen=True)
class CurbStudent:
    """One of a car's students in a curb answer: their call, or why they were not called."""

    student: Student
    call: CalledStudent | None
    warning: str | None


@dataclass(frozen=True)
class CurbResult:
    """The answer to a curb entry: the car's queue entry, spot and students."""

    dismissal: Dismissal
    entry: QueueEntry
    tag_number: int
    #: True when this request queued the car; False for a repeat of a queued car.
    created: bool
    students: list[CurbStudent]

    @property
    def position(self) -> int:
        return self.entry.position

    @property
    def spot(self) -> str | None:
        return self.dismissal.spot_label(self.entry.spot)

    @property
    def warnings(self) -> list[CurbStudent]:
        return [s for s in self.students if s.warning is not None]


@dataclass(frozen=True)
class LatePickup:
    """A student still at school when the dismissal ended."""

    student: Student
    #: "called" (called, not loaded or released), "not_called" or "no_plan".
    reason: str
    call: CalledStudent | None


# Time and scoping helpers


def _own(school: School, school_id: int, what: str) -> None:
    if school_id != school.id:
        raise NotFound(f"No such {what}.")


def _record(
    action: str,
    school: School,
    target: Any,
    *,
    user: User | None,
    device: Device | None,
    **detail: Any,
) -> None:
    """Audit a car line write and announce it to the dismissal screens."""
    label = f"device: {device.label}" if device is not None and user is None else None
    audit.record(
        f"carline.{action}",
        school_id=school.id,
        target=target,
        detail=detail,
        actor_user=user,
        actor_label=label,
    )
    live.bump(school.id, TOPIC)


def _mode_and_route(mode: str, bus_route: str | None) -> str | None:
    """Check a dismissal mode; the bus route it needs (normalised), else None."""
    if mode not in DISMISSAL_MODES:
        raise InvalidInput("Choose car, bus, walker or after-care.", field="mode")
    if mode != "bus":
        return None
    return _route(bus_route)


def _route(bus_route: str | None) -> str:
    route = (bus_route or "").strip().upper()
    if not route or len(route) > ROUTE_LENGTH:
        raise InvalidInput("Enter the bus route (up to 16 characters).", field="bus_route")
    return route


# Hang tags


def issue_tag(school: School, family: Family, *, user: User | None = None) -> Tag:
    """Print a new hang tag for the family; its previous tag stops working."""
    _own(school, family.school_id, "family")
    db.session.scalar(
        select(Family.id).where(Family.id == family.id).with_for_update(key_share=True)
    )
    now = utcnow()
    revoked = db.session.execute(
        update(Tag)
        .where(Tag.family_id == family.id, Tag.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session="fetch")
    ).rowcount
    tag = Tag(family_id=family.id, created_at=now)
    db.session.add(tag)
    db.session.flush()
    _record(
        "tag_issue",
        school,
        tag,
        user=user,
        device=None,
        tag_number=family.tag_number,
        revoked=revoked,
    )
    return tag


def _family_for_tag(school: School, tag_number: int | None, token: str | None) -> Family:
    """The active family of a typed tag number or a scanned tag token."""
    if (tag_number is None) == (token is None):
        raise InvalidInput("Enter a tag number or scan a tag.")
    if token is not None:
        return _family_for_token(school, token.strip())
    if not isinstance(tag_number, int):
        raise InvalidInput("Tag numbers are whole numbers.", field="tag_number")
    if tag_number < 1:
        raise InvalidInput("Tag numbers start at 1.", field="tag_number")
    family = db.session.scalar(
        select(Family).where(Family.school_id == school.id, Family.tag_number == tag_number)
    )
    if family is None:
        raise NotFound(f"Tag {tag_number} is not a tag of this school.")
    if not family.active:
        raise InvalidInput(f"Tag {tag_number} is no longer in use.")
    return family


def _family_for_token(school: School, token: str) -> Family:
    row = db.session.execute(
        select(Tag, Family)
        .join(Family, Family.id == Tag.family_id)
        .where(Tag.token == token, Family.school_id == school.id)
    ).first()
    if row is None:
        raise NotFound("This QR code is not a hang tag of this school.")
    tag, family = row
    if tag.revoked_at is not None:
        raise InvalidInput(
            f"This hang tag was replaced by a newer one. Type the number {family.tag_number}."
        )
    if not family.active:
        raise InvalidInput(f"Tag {family.tag_number} is no longer in use.")
    return family


# Dismissal plans


def set_default(
    school: School,
    student: Student,
    weekday: int,
    mode: str,
    *,
    bus_route: str | None = None,
    user: User | None = None,
) -> DismissalDefault:
    """Set how the student goes home on a weekday (0 = Monday)."""
    _own(school, student.school_id, "student")
    if weekday not in range(7):
        raise InvalidInput("Choose a weekday.", field="weekday")
    route = _mode_and_route(mode, bus_route)
    default = db.session.scalar(
        select(DismissalDefault).where(
            DismissalDefault.student_id == student.id, DismissalDefault.weekday == weekday
        )
    )
    if default is None:
        default = DismissalDefault(student_id=student.id, weekday=weekday)
        db.session.add(default)
    default.mode, default.bus_route = mode, route
    db.session.flush()
    _record(
        "plan_default",
        school,
        student,
        user=user,
        device=None,
        weekday=weekday,
        mode=mode,
        bus_route=route,
    )
    return default


def set_daily_change(
    school: School,
    student: Student,
    day: date,
    mode: str,
    *,
    bus_route: str | None = None,
    family: Family | None = None,
    early_pickup: time | None = None,
    note: str = "",
    user: User | None = None,
) -> DailyChange:
    """Record (or replace) how the student goes home on one day."""
    _own(school, student.school_id, "student")
    route = _mode_and_route(mode, bus_route)
    if family is not None:
        _own(school, family.school_id, "family")
        if mode != "car":
            raise InvalidInput("Only a car rider goes home with a family.", field="family")
        if not family.active:
            raise InvalidInput(f"Tag {family.tag_number} is no longer in use.", field="family")
    change = db.session.scalar(
        select(DailyChange).where(DailyChange.student_id == student.id, DailyChange.day == day)
    )
    if change is None:
        change = DailyChange(student_id=student.id, day=day)
        db.session.add(change)
    change.mode, change.bus_route = mode, route
    change.family_id = family.id if family is not None else None
    change.early_pickup, change.note = early_pickup, note.strip()
    change.created_by_id, change.created_at = (user.id if user else None), utcnow()
    db.session.flush()
    _record(
        "plan_change",
        school,
        student,
        user=user,
        device=None,
        day=day.isoformat(),
        mode=mode,
        bus_route=route,
        family_id=change.family_id,
        early_pickup=early_pickup.isoformat() if early_pickup else None,
    )
    return change


def clear_daily_change(
    school: School, student: Student, day: date, *, user: User | None = None
) -> None:
    """Drop the student's change for the day: the weekday default applies again."""
    _own(school, student.school_id, "student")
    removed = db.session.execute(
        delete(DailyChange).where(DailyChange.student_id == student.id, DailyChange.day == day)
    ).rowcount
    if not removed:
        raise NotFound("There is no change for this student on that day.")
    _record("plan_change_clear", school, student, user=user, device=None, day=day.isoformat())


def mark_absent(
    school: School, student: Student, day: date, *, user: User | None = None
) -> Absence:
    """Mark the student absent on the day (they will not be called)."""
    _own(school, student.school_id, "student")
    absence = db.session.scalar(
        select(Absence).where(Absence.student_id == student.id, Absence.day == day)
    )
    if absence is not None:
        return absence
    absence = Absence(student_id=student.id, day=day, created_by_id=user.id if user else None)
    db.session.add(absence)
    db.session.flush()
    _record("absence", school, student, user=user, device=None, day=day.isoformat())
    return absence


def clear_absence(school: School, student: Student, day: date, *, user: User | None = None) -> None:
    """Take back an absence recorded by mistake."""
    _own(school, student.school_id, "student")
    removed = db.session.execute(
        delete(Absence).where(Absence.student_id == student.id, Absence.day == day)
    ).rowcount
    if not removed:
        raise NotFound("This student is not marked absent on that day.")
    _record("absence_clear", school, student, user=user, device=None, day=day.isoformat())


def _with_plans(students: Select, day: date) -> Select:
    """`students` (a query of students) with the columns of each one's plan for the day.

    One statement: at most one absence and one daily change per student and day, and one
    default per weekday, are joined in; `_plan` reads them back.
    """
    on_a_tag = (
        select(family_students.c.student_id)
        .join(Family, Family.id == family_students.c.family_id)
        .where(family_students.c.student_id == Student.id, Family.active.is_(True))
        .exists()
    )
    return (
        students.outerjoin(Absence, and_(Absence.student_id == Student.id, Absence.day == day))
        .outerjoin(DailyChange, and_(DailyChange.student_id == Student.id, DailyChange.day == day))
        .outerjoin(
            DismissalDefault,
            and_(
                DismissalDefault.student_id == Student.id,
                DismissalDefault.weekday == day.weekday(),
            ),
        )
        .add_columns(
            Absence.id.label("absence_id"),
            DailyChange.id.label("change_id"),
            DailyChange.mode.label("change_mode"),
            DailyChange.bus_route.label("change_bus_route"),
            DailyChange.family_id.label("change_family_id"),
            DailyChange.early_pickup.label("change_early_pickup"),
            DailyChange.note.label("change_note"),
            DismissalDefault.mode.label("default_mode"),
            DismissalDefault.bus_route.label("default_bus_route"),
            on_a_tag.label("on_a_tag"),
        )
    )


def _plan(row: Any) -> DayPlan:
    """The plan of one row of `_with_plans`: absence > daily change > default > tag."""
    if row.absence_id is not None:
        return DayPlan("absent", "absence")
    if row.change_id is not None:
        return DayPlan(
            row.change_mode,
            "change",
            bus_route=row.change_bus_route,
            family_id=row.change_family_id,
            early_pickup=row.change_early_pickup,
            note=row.change_note,
        )
    if row.default_mode is not None:
        return DayPlan(row.default_mode, "default", bus_route=row.default_bus_route)
    return DayPlan("car", "family") if row.on_a_tag else DayPlan("unplanned", "none")


def day_plans(
    school_id: int, day: date, student_ids: Iterable[int] | None = None
) -> dict[int, DayPlan]:
    """Each student's plan for the day (all active students of the school by default)."""
    students = select(Student.id).where(Student.school_id == school_id)
    if student_ids is None:
        students = students.where(Student.active.is_(True))
    else:
        students = students.where(Student.id.in_(set(student_ids)))
    return _plans_of(students, day)


def _plans_of(students: Select, day: date) -> dict[int, DayPlan]:
    """The day's plan of each student id that `students` (a query of Student.id) selects."""
    return {row.id: _plan(row) for row in db.session.execute(_with_plans(students, day))}


def dismissal_mode(student: Student, day: date) -> DayPlan:
    """How the student goes home on the day: absence > daily change > weekday default."""
    return day_plans(student.school_id, day, [student.id])[student.id]


# Starting and ending a dismissal


def start_dismissal(
    school: School, user: User | None, lanes: int, spots_per_lane: int, today: date
) -> Dismissal:
    """Start the school's car line for the day, with its lanes and loading spots."""
    if lanes not in range(1, MAX_LANES + 1):
        raise InvalidInput(f"Lanes: 1 to {MAX_LANES}.", field="lanes")
    if spots_per_lane not in range(1, MAX_SPOTS_PER_LANE + 1):
        raise InvalidInput(
            f"Loading spots per lane: 1 to {MAX_SPOTS_PER_LANE}.", field="spots_per_lane"
        )
    dismissal = Dismissal(
        school_id=school.id,
        day=today,
        lanes=lanes,
        spots_per_lane=spots_per_lane,
        last_position=0,
        started_by_id=user.id if user else None,
    )
    try:
        with db.session.begin_nested():
            db.session.add(dismissal)
    except IntegrityError:
        raise Conflict("Dismissal was already started today.") from None
    _record(
        "dismissal_start",
        school,
        dismissal,
        user=user,
        device=None,
        day=today.isoformat(),
        lanes=lanes,
        spots_per_lane=spots_per_lane,
    )
    return dismissal


def _lock_open(school: School, dismissal_id: int | None = None) -> Dismissal:
    """The school's dismissal (today's by default), fresh and locked until the transaction
    ends; it must be open."""
    query = select(Dismissal).where(Dismissal.school_id == school.id)
    if dismissal_id is None:
        query = query.where(Dismissal.day == local(utcnow(), school.timezone).date())
    else:
        query = query.where(Dismissal.id == dismissal_id)
    # PostgreSQL: one curb entry per dismissal at a time.
    query = query.with_for_update().execution_options(populate_existing=True)
    dismissal = db.session.scalar(query)
    if dismissal is None and dismissal_id is None:
        raise Conflict(NOT_STARTED)
    if dismissal is None:
        raise NotFound("No such dismissal.")
    if dismissal.ended_at is not None:
        raise Conflict("This dismissal has ended.")
    return dismissal


def end_dismissal(
    school: School, dismissal: Dismissal, *, user: User | None = None
) -> list[LatePickup]:
    """Close the day's dismissal; the students still at school (late pickups)."""
    dismissal = _lock_open(school, dismissal.id)
    dismissal.ended_at = utcnow()
    late = late_pickups(dismissal)
    db.session.flush()
    _record(
        "dismissal_end",
        school,
        dismissal,
        user=user,
        device=None,
        late_pickups=[p.student.id for p in late],
    )
    return late


def late_pickups(dismissal: Dismissal) -> list[LatePickup]:
    """Students present today who have not been loaded or released, by name."""
    plans = day_plans(dismissal.school_id, dismissal.day)
    calls = {
        c.student_id: c
        for c in db.session.scalars(
            select(CalledStudent).where(CalledStudent.dismissal_id == dismissal.id)
        )
    }
    late_ids: dict[int, tuple[str, CalledStudent | None]] = {}
    for sid, plan in plans.items():
        call = calls.get(sid)
        if call is not None:
            if call.status not in GONE:
                late_ids[sid] = ("called", call)
        elif plan.mode == "unplanned":
            late_ids[sid] = ("no_plan", None)
        elif plan.mode in ("car", "bus", "walker") and plan.early_pickup is None:
            late_ids[sid] = ("not_called", None)
    students = db.session.scalars(
        select(Student)
        .where(Student.id.in_(list(late_ids)))
        .order_by(Student.last_name, Student.first_name, Student.id)
    )
    return [LatePickup(s, *late_ids[s.id]) for s in students]


# The curb


def curb_entry(
    school: School,
    dismissal: Dismissal | None = None,
    *,
    tag_number: int | None = None,
    token: str | None = None,
    idempotency_key: str | None = None,
    device: Device | None = None,
    user: User | None = None,
) -> CurbResult:
    """Queue the car of a typed tag number or a scanned tag token; idempotent.

    A car already queued is not queued again: the repeat is counted and the answer
    repeated. A retried request (same `idempotency_key`) gets the first answer and
    changes nothing. `dismissal` is today's by default.
    """
    key = _request_key(idempotency_key)
    dismissal = _lock_open(school, dismissal.id if dismissal is not None else None)
    family = _family_for_tag(school, tag_number, token)
    entry, retried = _earlier(dismissal, family, key)
    if retried is not None:
        students = _curb_students(dismissal, entry, family, call_new=False)
        return CurbResult(dismissal, entry, family.tag_number, not retried.repeat, students)
    created = entry is None
    if entry is None:
        entry = _queue(dismissal, family, device=device, user=user)
    else:
        entry.repeat_count = QueueEntry.repeat_count + 1
    if key is not None:
        db.session.add(
            CurbRequest(
                dismissal_id=dismissal.id, key=key, queue_entry_id=entry.id, repeat=not created
            )
        )
    students = _curb_students(dismissal, entry, family, call_new=created)
    if created:
        _fill_spots(dismissal)
    db.session.flush()
    _record(
        "curb_entry" if created else "curb_repeat",
        school,
        entry,
        user=user,
        device=device,
        tag_number=family.tag_number,
        position=entry.position,
        spot=entry.spot,
        called=[s.student.id for s in students if s.warning is None],
        warned=[s.student.id for s in students if s.warning is not None],
    )
    return CurbResult(dismissal, entry, family.tag_number, created, students)


def _request_key(idempotency_key: str | None) -> str | None:
    if idempotency_key is None:
        return None
    key = idempotency_key.strip()
    if not key or len(key) > MAX_REQUEST_KEY_LENGTH:
        raise InvalidInput("The request id is malformed.", field="idempotency_key")
    return key


def _earlier(
    dismissal: Dismissal, family: Family, key: str | None
) -> tuple[QueueEntry | None, CurbRequest | None]:
    """The family's queue entry, and the first request with this key if this is a retry.

    One statement for both. A key first used for another family's car is refused.
    """
    same_key = (
        and_(CurbRequest.queue_entry_id == QueueEntry.id, CurbRequest.key == key)
        if key is not None
        else false()
    )
    rows = db.session.execute(
        select(QueueEntry, CurbRequest)
        .outerjoin(CurbRequest, same_key)
        .where(
            QueueEntry.dismissal_id == dismissal.id,
            or_(QueueEntry.family_id == family.id, CurbRequest.id.is_not(None)),
        )
        .execution_options(populate_existing=True)
    ).all()
    for entry, request in rows:
        if request is not None:
            if entry.family_id != family.id:
                raise Conflict("This request id was already used for another tag.")
            return entry, request
    return (rows[0].QueueEntry if rows else None), None


def _queue(
    dismissal: Dismissal, family: Family, *, device: Device | None, user: User | None
) -> QueueEntry:
    """A new queue entry at the next position (the counter rises atomically)."""
    position = db.session.execute(
        update(Dismissal)
        .where(Dismissal.id == dismissal.id)
        .values(last_position=Dismissal.last_position + 1)
        .returning(Dismissal.last_position)
    ).scalar_one()
    entry = QueueEntry(
        dismissal_id=dismissal.id,
        family_id=family.id,
        position=position,
        status="queued",
        repeat_count=0,
        entered_by_user_id=user.id if user else None,
        entered_by_device_id=device.id if device else None,
    )
    db.session.add(entry)
    db.session.flush()
    return entry


def _riders(
    dismissal: Dismissal, family: Family
) -> list[tuple[Student, DayPlan, CalledStudent | None]]:
    """The family's active students and those sent home with this family today, each with
    the day's plan and the call of this dismissal, if any (one statement)."""
    changed = select(DailyChange.student_id).where(
        DailyChange.day == dismissal.day, DailyChange.family_id == family.id
    )
    on_tag = select(family_students.c.student_id).where(family_students.c.family_id == family.id)
    students = (
        select(Student, CalledStudent)
        .outerjoin(
            CalledStudent,
            and_(
                CalledStudent.dismissal_id == dismissal.id,
                CalledStudent.student_id == Student.id,
            ),
        )
        .where(
            Student.school_id == dismissal.school_id,
            Student.active.is_(True),
            Student.id.in_(on_tag.union(changed)),
        )
        .order_by(Student.last_name, Student.first_name, Student.id)
    )
    rows = db.session.execute(
        _with_plans(students, dismissal.day).execution_options(populate_existing=True)
    )
    return [(row.Student, _plan(row), row.CalledStudent) for row in rows]


def _curb_students(
    dismissal: Dismissal, entry: QueueEntry, family: Family, *, call_new: bool
) -> list[CurbStudent]:
    """The car's students: those it picks up, and why the others are not called.

    With `call_new`, students riding with this car today who are not called yet are called.
    """
    result = []
    for student, plan, existing in _riders(dismissal, family):
        if existing is None and call_new and _rides_with(plan, family):
            existing = CalledStudent(
                dismissal_id=dismissal.id,
                queue_entry_id=entry.id,
                student_id=student.id,
                mode="car",
                status="called",
            )
            db.session.add(existing)
        if existing is not None and existing.queue_entry_id == entry.id:
            result.append(CurbStudent(student, existing, None))
        else:
            result.append(CurbStudent(student, None, _warning(plan, existing, family)))
    return result


def _rides_with(plan: DayPlan, family: Family) -> bool:
    return plan.mode == "car" and plan.early_pickup is None and plan.family_id in (None, family.id)


def _warning(plan: DayPlan, call: CalledStudent | None, family: Family) -> str:
    """Why a student of this car is not called by it."""
    if call is not None:
        return _called_elsewhere(call)
    if plan.mode == "absent":
        return "Absent today."
    if plan.early_pickup is not None:
        return f"Picked up early at {_clock(plan.early_pickup)}."
    if plan.mode == "car" and plan.family_id not in (None, family.id):
        other = db.session.get(Family, plan.family_id)
        return f"Goes home with tag {other.tag_number} today."
    return {
        "bus": f"Rides bus {plan.bus_route} today.",
        "walker": "Walks home today.",
        "aftercare": "Goes to after-care today.",
    }.get(plan.mode, "Has no dismissal plan today.")


def _called_elsewhere(call: CalledStudent) -> str:
    if call.mode == "car":
        tag = call.queue_entry.family.tag_number
        gone = "Already loaded" if call.status in GONE else "Already called"
        return f"{gone} with tag {tag}."
    way = f"bus {call.bus_route}" if call.mode == "bus" else "walkers"
    return f"Already released with {way}." if call.status in GONE else f"Already called with {way}."


def _clock(value: time) -> str:
    """A wall-clock time as a US school writes it: 1:30 PM."""
    return f"{value.hour % 12 or 12}:{value.minute:02d} {'AM' if value.hour < 12 else 'PM'}"


def _fill_spots(dismissal: Dismissal) -> list[QueueEntry]:
    """Move the first queued cars, in arrival order, into the free spots (lowest first)."""
    held = set(
        db.session.scalars(
            select(QueueEntry.spot).where(
                QueueEntry.dismissal_id == dismissal.id, QueueEntry.status == "at_spot"
            )
        )
    )
    free = [spot for spot in range(1, dismissal.spot_count + 1) if spot not in held]
    if not free:
        return []
    waiting = list(
        db.session.scalars(
            select(QueueEntry)
            .where(QueueEntry.dismissal_id == dismissal.id, QueueEntry.status == "queued")
            .order_by(QueueEntry.position)
            .limit(len(free))
        )
    )
    now = utcnow()
    for entry, spot in zip(waiting, free, strict=False):
        entry.status, entry.spot, entry.at_spot_at = "at_spot", spot, now
    return waiting


def mark_loaded(
    school: School,
    entry: QueueEntry,
    *,
    device: Device | None = None,
    user: User | None = None,
) -> QueueEntry:
    """The car is loaded and leaves: its spot goes to the next queued car."""
    dismissal = _lock_open(school, entry.dismissal_id)
    entry = db.session.get(QueueEntry, entry.id, populate_existing=True)
    if entry.status == "loaded":
        return entry
    now = utcnow()
    entry.status, entry.loaded_at = "loaded", now
    calls = db.session.scalars(
        select(CalledStudent)
        .where(CalledStudent.queue_entry_id == entry.id)
        .execution_options(populate_existing=True)
    )
    for call in calls:
        if call.status not in GONE:
            call.status, call.left_at = "loaded", now
    db.session.flush()  # the spot is free before the next car takes it
    moved = _fill_spots(dismissal)
    db.session.flush()
    _record(
        "loaded",
        school,
        entry,
        user=user,
        device=device,
        tag_number=entry.family.tag_number,
        spot=entry.spot,
        moved_up=[e.id for e in moved],
    )
    return entry


def mark_sent(
    school: School,
    call: CalledStudent,
    *,
    device: Device | None = None,
    user: User | None = None,
) -> CalledStudent:
    """The teacher sent the student out: to the car (sent) or to the bus or door (released)."""
    _lock_open(school, call.dismissal_id)
    call = db.session.get(CalledStudent, call.id, populate_existing=True)
    if call.status != "called":
        return call
    now = utcnow()
    call.sent_at = now
    if call.mode == "car":
        call.status = "sent"
    else:
        call.status, call.left_at = "released", now
    db.session.flush()
    _record(
        "sent",
        school,
        call,
        user=user,
        device=device,
        student_id=call.student_id,
        status=call.status,
    )
    return call


def call_bus(
    school: School,
    dismissal: Dismissal,
    route: str,
    *,
    device: Device | None = None,
    user: User | None = None,
) -> list[CalledStudent]:
    """The bus arrived: call its riders today who are not called yet."""
    route = _route(route)
    dismissal = _lock_open(school, dismissal.id)
    riders = [
        sid
        for sid, plan in day_plans(school.id, dismissal.day).items()
        if plan.mode == "bus" and plan.bus_route == route and plan.early_pickup is None
    ]
    if not riders:
        raise InvalidInput(f"No student rides bus {route} today.", field="route")
    calls = _call_all(dismissal, riders, mode="bus", bus_route=route)
    if calls:
        _record(
            "bus_call",
            school,
            dismissal,
            user=user,
            device=device,
            route=route,
            called=[c.student_id for c in calls],
        )
    return calls


def release_walkers(
    school: School,
    dismissal: Dismissal,
    grade: str | None = None,
    *,
    grades: Iterable[str] | None = None,
    door: str | None = None,
    device: Device | None = None,
    user: User | None = None,
) -> list[CalledStudent]:
    """Call today's walkers (of one grade, some grades, or all) who are not called yet.

    `grades` releases several grades at once (a door's grades); `door` names the door
    in the audit log.
    """
    if grade is not None and grades is not None:
        raise InvalidInput("Choose one grade or a door, not both.", field="grade")
    chosen = [grade] if grade is not None else None
    if grades is not None:
        chosen = sorted({g.strip() for g in grades if g and g.strip()})
        if not chosen:
            raise InvalidInput("This door has no grades to release.", field="grades")
    dismissal = _lock_open(school, dismissal.id)
    students = select(Student.id).where(Student.school_id == school.id, Student.active.is_(True))
    if chosen is not None:
        students = students.where(Student.grade.in_(chosen))
    walkers = [
        sid
        for sid, plan in _plans_of(students, dismissal.day).items()
        if plan.mode == "walker" and plan.early_pickup is None
    ]
    calls = _call_all(dismissal, walkers, mode="walker", bus_route=None)
    if calls:
        _record(
            "walkers_release",
            school,
            dismissal,
            user=user,
            device=device,
            grade=grade,
            grades=chosen,
            door=door,
            called=[c.student_id for c in calls],
        )
    return calls


def _call_all(
    dismissal: Dismissal, student_ids: list[int], *, mode: str, bus_route: str | None
) -> list[CalledStudent]:
    """Call these students (bus or walker) unless already called in this dismissal."""
    already = set(
        db.session.scalars(
            select(CalledStudent.student_id).where(
                CalledStudent.dismissal_id == dismissal.id,
                CalledStudent.student_id.in_(student_ids),
            )
        )
    )
    calls = [
        CalledStudent(
            dismissal_id=dismissal.id,
            student_id=sid,
            mode=mode,
            bus_route=bus_route,
            status="called",
        )
        for sid in sorted(set(student_ids) - already)
    ]
    db.session.add_all(calls)
    db.session.flush()
    return calls

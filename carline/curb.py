"""The curb: a car's tag typed or scanned, its students called, loading spots, "loaded".

A car at the curb is queued once per dismissal: a repeat scan is counted and answered
as before, and a retried request (same client key) gets the first answer and changes
nothing. Queue positions come from an atomic counter without gaps, and loading spots
are handed out in arrival order, lowest spot first. These writes take the dismissal's
lock (`carline.dismissal.lock_open`), so "is this car already queued?" followed by an
insert is safe on both databases.

Plain functions taking the school, the actor (`shared.audit.Actor`: a staff member
and/or a paired device) and what they act on; they flush and never commit, audit every
write and bump the dismissal screens (`carline.recording`).

One room for the curb's writes and answers because they share the dismissal's lock and
the queue's invariants; splitting the answer's reading from the writes is next when it grows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext
from sqlalchemy import and_, exists, false, or_, select, update

from carline.day_plans import DayPlan, plan_of, with_plans
from carline.dismissal import lock_open
from carline.models import (
    GONE_STATUSES,
    MAX_REQUEST_KEY_LENGTH,
    BlockedTagNumber,
    CalledStudent,
    CurbRequest,
    DailyChange,
    Dismissal,
    QueueEntry,
    Tag,
)
from carline.recording import record
from shared.access import of_school
from shared.audit import Actor
from shared.errors import Conflict, InvalidInput, NotFound
from shared.extensions import db
from shared.formats import format_time
from shared.models import Family, School, Student, family_students
from shared.timeutil import utcnow


@dataclass(frozen=True)
class CurbStudent:
    """One of a car's students in a curb answer: their call, or why they were not called."""

    student: Student
    call: CalledStudent | None
    warning: str | None


@dataclass(frozen=True)
class CurbResult:
    """The answer to a curb entry: the car's queue entry, spot and students.

    `entry` is None for a car with nobody to call (all absent, gone or going another
    way): it is warned and takes no loading spot.
    """

    dismissal: Dismissal
    entry: QueueEntry | None
    family: Family
    #: True when this request queued the car; False for a repeat (or nobody to call).
    created: bool
    students: list[CurbStudent]

    @property
    def tag_number(self) -> int:
        return self.family.tag_number

    @property
    def position(self) -> int | None:
        return self.entry.position if self.entry is not None else None

    @property
    def spot(self) -> str | None:
        return self.dismissal.spot_label(self.entry.spot) if self.entry is not None else None

    @property
    def nobody(self) -> bool:
        """No student of this car is called by it: no spot, only the warnings."""
        return all(s.call is None for s in self.students)

    @property
    def warnings(self) -> list[CurbStudent]:
        return [s for s in self.students if s.warning is not None]


def curb_entry(
    school: School,
    dismissal: Dismissal | None = None,
    *,
    tag_number: int | None = None,
    token: str | None = None,
    idempotency_key: str | None = None,
    actor: Actor,
    family: Family | None = None,
) -> CurbResult:
    """Queue the car of a typed tag number, a scanned tag token, or (`family`: "I'm here"
    on the family page, the actor a guardian of it) the family itself; idempotent.

    A car already queued is not queued again: the repeat is counted and the answer
    repeated. A retried request (same `idempotency_key`) gets the first answer and
    changes nothing. `dismissal` is today's by default.
    """
    key = _request_key(idempotency_key)
    dismissal = lock_open(school, dismissal.id if dismissal is not None else None)
    if family is not None:
        family = _announcing_family(school, family, actor)
    else:
        family = _family_for_tag(school, tag_number, token)
    entry, retried = _earlier(dismissal, family, key)
    if retried is not None:
        students = _curb_students(dismissal, entry, family, call_new=False)
        return CurbResult(dismissal, entry, family, not retried.repeat, students)
    created, riders = entry is None, None
    if entry is None:
        riders = _riders(dismissal, family)
        if not any(call is None and _rides_with(plan, family) for _, plan, call in riders):
            return _nobody_to_call(school, dismissal, family, riders, actor=actor)
        entry = _queue(dismissal, family, actor=actor)
        if actor.guardian is not None:
            entry.announced_by_guardian_id = actor.guardian.id
    else:
        entry.repeat_count = QueueEntry.repeat_count + 1
    if key is not None:
        db.session.add(
            CurbRequest(
                dismissal_id=dismissal.id, key=key, queue_entry_id=entry.id, repeat=not created
            )
        )
    students = _curb_students(
        dismissal, entry, family, call_new=created, riders=riders if created else None
    )
    if created:
        _fill_spots(dismissal)
    db.session.flush()
    record(
        "curb_entry" if created else "curb_repeat",
        school,
        entry,
        actor=actor,
        announced=actor.guardian is not None,
        tag_number=family.tag_number,
        position=entry.position,
        spot=entry.spot,
        called=[s.student.id for s in students if s.warning is None],
        warned=[s.student.id for s in students if s.warning is not None],
    )
    return CurbResult(dismissal, entry, family, created, students)


def _nobody_to_call(
    school: School,
    dismissal: Dismissal,
    family: Family,
    riders: list[tuple[Student, DayPlan, CalledStudent | None]],
    *,
    actor: Actor,
) -> CurbResult:
    """A car none of whose students it may take today: warned, not queued, no spot.

    Nothing is written but the audit entry, so a retry (or the car coming back after the
    office changed a plan) is simply looked at again.
    """
    students = [
        CurbStudent(student, None, _warning(plan, call, family)) for student, plan, call in riders
    ]
    record(
        "curb_nobody",
        school,
        family,
        actor=actor,
        tag_number=family.tag_number,
        warned=[s.student.id for s in students],
    )
    return CurbResult(dismissal, None, family, False, students)


def _request_key(idempotency_key: str | None) -> str | None:
    if idempotency_key is None:
        return None
    key = idempotency_key.strip()
    if not key or len(key) > MAX_REQUEST_KEY_LENGTH:
        raise InvalidInput(_("The request id is malformed."), field="idempotency_key")
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
                raise Conflict(_("This request id was already used for another tag."))
            return entry, request
    return (rows[0].QueueEntry if rows else None), None


def _queue(dismissal: Dismissal, family: Family, actor: Actor) -> QueueEntry:
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
        entered_by_user_id=actor.user.id if actor.user else None,
        entered_by_device_id=actor.device.id if actor.device else None,
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
        with_plans(students, dismissal.day).execution_options(populate_existing=True)
    )
    return [(row.Student, plan_of(row), row.CalledStudent) for row in rows]


def _curb_students(
    dismissal: Dismissal,
    entry: QueueEntry,
    family: Family,
    *,
    call_new: bool,
    riders: list[tuple[Student, DayPlan, CalledStudent | None]] | None = None,
) -> list[CurbStudent]:
    """The car's students: those it picks up, and why the others are not called.

    With `call_new`, students riding with this car today who are not called yet are called.
    """
    result = []
    for student, plan, existing in riders if riders is not None else _riders(dismissal, family):
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
        return _("Absent today.")
    if plan.early_pickup is not None:
        return _("Picked up early at %(time)s.", time=_clock(plan.early_pickup))
    if plan.mode == "car" and plan.family_id not in (None, family.id):
        other = db.session.get(Family, plan.family_id)
        return _("Goes home with tag %(number)s today.", number=other.tag_number)
    if plan.mode == "bus":
        return _("Rides bus %(route)s today.", route=plan.bus_route)
    if plan.mode == "walker":
        return _("Walks home today.")
    if plan.mode == "aftercare":
        return _("Goes to after-care today.")
    return _("Has no dismissal plan today.")


def _called_elsewhere(call: CalledStudent) -> str:
    if call.mode == "car":
        tag = call.queue_entry.family.tag_number
        if call.status in GONE_STATUSES:
            return _("Already loaded with tag %(number)s.", number=tag)
        return _("Already called with tag %(number)s.", number=tag)
    gone = call.status in GONE_STATUSES
    if call.mode == "bus":
        if gone:
            return _("Already released with bus %(route)s.", route=call.bus_route)
        return _("Already called with bus %(route)s.", route=call.bus_route)
    return (
        _("Already released with the walkers.") if gone else _("Already called with the walkers.")
    )


def _clock(value: time) -> str:
    """A wall-clock time in the request's convention (a US school's English: 1:30 PM)."""
    return format_time(value)


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
    actor: Actor,
) -> QueueEntry:
    """The car is loaded and leaves: its spot goes to the next queued car."""
    dismissal = lock_open(school, entry.dismissal_id)
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
        if call.status not in GONE_STATUSES:
            call.status, call.left_at = "loaded", now
    db.session.flush()  # the spot is free before the next car takes it
    moved = _fill_spots(dismissal)
    db.session.flush()
    record(
        "loaded",
        school,
        entry,
        actor=actor,
        tag_number=entry.family.tag_number,
        spot=entry.spot,
        moved_up=[e.id for e in moved],
    )
    return entry


def _announcing_family(school: School, family: Family, actor: Actor) -> Family:
    """The family announcing itself: only by one of its guardians, only while active and
    while its tag number is not blocked (a lost tag's family has a new number)."""
    if actor.guardian is None or actor.guardian.family_id != family.id:
        raise InvalidInput(_("Only a guardian of this family can say it is here."))
    of_school(family, school.id, _("No such family."))
    if not family.active:
        raise InvalidInput(_("Tag %(number)s is no longer in use.", number=family.tag_number))
    _refuse_blocked(school, family.tag_number)
    return family


def _family_for_tag(school: School, tag_number: int | None, token: str | None) -> Family:
    """The active family of a typed tag number or a scanned tag token."""
    if (tag_number is None) == (token is None):
        raise InvalidInput(_("Enter a tag number or scan a tag."))
    if token is not None:
        return _family_for_token(school, token.strip())
    if not isinstance(tag_number, int):
        raise InvalidInput(_("Tag numbers are whole numbers."), field="tag_number")
    if tag_number < 1:
        raise InvalidInput(_("Tag numbers start at 1."), field="tag_number")
    # One statement: the family holding the number, and whether the number is blocked.
    row = db.session.execute(
        select(Family, _is_blocked(school, Family.tag_number)).where(
            Family.school_id == school.id, Family.tag_number == tag_number
        )
    ).first()
    if row is None:
        _refuse_blocked(school, tag_number)  # a blocked number nobody holds any more
        raise NotFound(_("Tag %(number)s is not a tag of this school.", number=tag_number))
    family, blocked = row
    if blocked:
        raise InvalidInput(_blocked_message(tag_number))
    if not family.active:
        raise InvalidInput(_("Tag %(number)s is no longer in use.", number=tag_number))
    return family


def _family_for_token(school: School, token: str) -> Family:
    row = db.session.execute(
        select(Tag, Family, _is_blocked(school, Family.tag_number))
        .join(Family, Family.id == Tag.family_id)
        .where(Tag.token == token, Family.school_id == school.id)
    ).first()
    if row is None:
        raise NotFound(_("This QR code is not a hang tag of this school."))
    tag, family, blocked = row
    if tag.lost:
        raise InvalidInput(LOST_TAG)
    if tag.revoked_at is not None:
        raise InvalidInput(
            _(
                "This hang tag was replaced by a newer one. Type the number %(number)s.",
                number=family.tag_number,
            )
        )
    if blocked:
        raise InvalidInput(_blocked_message(family.tag_number))
    if not family.active:
        raise InvalidInput(_("Tag %(number)s is no longer in use.", number=family.tag_number))
    return family


#: The curb's answer to a lost hang tag (its QR code or its blocked number).
LOST_TAG = lazy_gettext(
    "This hang tag was reported lost and is blocked: call no one. "
    "Send the driver to the office with ID."
)


def _is_blocked(school: School, tag_number: Any) -> Any:
    """Whether the office blocked this tag number (a column expression, for one statement)."""
    return (
        exists()
        .where(BlockedTagNumber.school_id == school.id, BlockedTagNumber.tag_number == tag_number)
        .label("blocked")
    )


def _blocked_message(tag_number: int) -> str:
    return _(
        "Tag %(number)s is blocked (reported lost): call no one. "
        "Send the driver to the office with ID.",
        number=tag_number,
    )


def _refuse_blocked(school: School, tag_number: int) -> None:
    """A blocked number (a lost tag) calls nobody, even when no family holds it."""
    if db.session.scalar(select(_is_blocked(school, tag_number))):
        raise InvalidInput(_blocked_message(tag_number))

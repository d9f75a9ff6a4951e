"""A full destination's wait line: join it, move it on, close a place in it.

Positions come from a per-destination counter; one open request per student is held by
a partial unique index. When a place frees, it is handed straight to the head of the
line in the same transaction (status "ready": the place stays claimed, so nobody can take
it meanwhile) and the teacher taps Go; a held place nobody uses is given on after
`READY_HOLD_MINUTES`. The teacher taps Go rather than the pass starting by itself
because the student is still sitting in class: the timer, the hallway view and the
building count must start when the student actually leaves.

The wait line sits below both `passes` (a started pass closes the student's open
requests) and `pass_requests` (approving a request starts a pass), so neither of those
imports the other through here: closing a request, and moving the line it frees, live here.
"""

from __future__ import annotations

from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from hallpass import rules
from hallpass.models import (
    DESTINATION_FULL,
    Destination,
    PassRequest,
)
from shared import audit, live
from shared.access import school_record
from shared.audit import Actor
from shared.errors import Conflict, InvalidInput
from shared.extensions import db
from shared.models import School, Student, User
from shared.timeutil import utcnow

#: Minutes a place handed to the head of a wait line is held before it goes to the next.
READY_HOLD_MINUTES = 5
#: Minutes a request waits for the teacher (or in a wait line) before it expires.
REQUEST_OPEN_MINUTES = 30


def load_request(school: School, request_id: int) -> PassRequest:
    return school_record(PassRequest, request_id, school.id, _("No such request at this school."))


def bump_request_rooms(school: School, *room_ids: int | None) -> None:
    topics = [rules.room_topic(room_id) for room_id in room_ids if room_id is not None]
    if topics:
        live.bump(school.id, *topics)


def bump_line(school: School, destination_id: int) -> None:
    """Every room with a student in this destination's line sees positions move."""
    rooms = db.session.scalars(
        select(PassRequest.from_room_id)
        .where(
            PassRequest.destination_id == destination_id,
            PassRequest.status.in_(("waiting", "ready")),
        )
        .distinct()
    )
    bump_request_rooms(school, *rooms)


def insert_request(pass_request: PassRequest, student: Student) -> PassRequest:
    try:
        with db.session.begin_nested():
            db.session.add(pass_request)
            db.session.flush()
    except IntegrityError:
        raise Conflict(
            _(
                "%(name)s already asked for a pass. Wait for the teacher, "
                "or cancel that request first.",
                name=student.short_name,
            )
        ) from None
    return pass_request


def next_position(destination: Destination) -> int:
    """The next wait line position at the destination (an atomic counter, no read)."""
    return db.session.execute(
        update(Destination)
        .where(Destination.id == destination.id)
        .values(last_wait_position=Destination.last_wait_position + 1)
        .returning(Destination.last_wait_position)
        .execution_options(synchronize_session=False)
    ).scalar_one()


def join_wait_line(
    school: School,
    actor: Actor,
    *,
    student_id: int,
    destination_id: int,
    from_room_id: int | None,
    source: str,
    now: datetime | None = None,
) -> PassRequest:
    """Put the student at the end of the destination's wait line (once per student)."""
    now = now or utcnow()
    student = rules.load_student(school, student_id)
    destination = rules.load_destination(school, destination_id)
    rules.load_room(school, from_room_id)
    if destination.capacity is None:
        raise InvalidInput(
            _("%(destination)s has no limit: there is no wait line.", destination=destination.name)
        )
    rules.lock_school(school)  # before the destination's counter: the lock order
    rules.check_can_ask(school, student)
    pass_request = insert_request(
        PassRequest(
            school_id=school.id,
            student_id=student.id,
            destination_id=destination.id,
            from_room_id=from_room_id,
            source=source,
            status="waiting",
            position=next_position(destination),
            reason=DESTINATION_FULL,
            device_id=actor.device.id if actor.device else None,
            created_at=now,
        ),
        student,
    )
    audit.record(
        "hallpass.wait_line_join",
        school_id=school.id,
        actor=actor,
        target=pass_request,
        detail={"destination_id": destination.id, "position": pass_request.position},
    )
    bump_request_rooms(school, from_room_id)
    advance_wait_line(school, destination.id, now)
    return pass_request


def queue_request(
    school: School, actor: Actor, *, request_id: int, now: datetime | None = None
) -> PassRequest:
    """The teacher puts a pending request whose place is full into the wait line."""
    now = now or utcnow()
    pass_request = load_request(school, request_id)
    destination = rules.load_destination(school, pass_request.destination_id)
    if destination.capacity is None:
        raise InvalidInput(
            _("%(destination)s has no limit: there is no wait line.", destination=destination.name)
        )
    rules.lock_school(school)  # before the destination's counter: the lock order
    queued = db.session.execute(
        update(PassRequest)
        .where(PassRequest.id == pass_request.id, PassRequest.status == "pending")
        .values(status="waiting", position=next_position(destination))
        .execution_options(synchronize_session=False)
    )
    if queued.rowcount != 1:
        raise Conflict(_("This request has already been answered."))
    db.session.refresh(pass_request)
    audit.record(
        "hallpass.wait_line_join",
        school_id=school.id,
        actor=actor,
        target=pass_request,
        detail={"destination_id": destination.id, "position": pass_request.position},
    )
    bump_request_rooms(school, pass_request.from_room_id)
    advance_wait_line(school, destination.id, now)
    return pass_request


class _Taken(Exception):
    """Another transaction moved the head of the line first."""


def advance_wait_line(school: School, destination_id: int, now: datetime) -> int:
    """Hand free places at the destination to the head of its line; returns how many.

    Each handed place is claimed like a pass's (building and destination, conditional
    UPDATEs) and held by the request, now "ready", until the teacher taps Go. A student
    whose classroom has its limit out keeps their place in line, and the place goes to
    the next student (`advance_lines_of_room` hands it back when one returns). The caller
    holds the school's lock (`rules.lock_school`), taken before any request row.
    """
    destination = db.session.get(Destination, destination_id)
    handed = 0
    skipped: set[int] = set()
    while destination is not None and destination.capacity is not None:
        head = db.session.scalar(
            select(PassRequest)
            .where(
                PassRequest.destination_id == destination_id,
                PassRequest.status == "waiting",
                PassRequest.id.not_in(skipped or {0}),
            )
            .order_by(PassRequest.position)
            .limit(1)
        )
        if head is None:
            break
        try:
            rules.check_room_cap(school, head.from_room_id, enforce=True)
        except rules.RuleBlocked:
            skipped.add(head.id)
            continue
        try:
            with db.session.begin_nested():
                moved = db.session.execute(
                    update(PassRequest)
                    .where(PassRequest.id == head.id, PassRequest.status == "waiting")
                    .values(status="ready", ready_at=now)
                    .execution_options(synchronize_session=False)
                )
                if moved.rowcount != 1:
                    raise _Taken
                rules.claim_building_place(school, enforce=True)
                rules.claim_destination_place(destination, enforce=True)
        except _Taken:
            skipped.add(head.id)
            continue
        except rules.RuleBlocked:
            break
        db.session.refresh(head)
        handed += 1
        audit.record(
            "hallpass.wait_line_ready",
            school_id=school.id,
            target=head,
            detail={"destination_id": destination_id},
            actor_label="system",
        )
    if handed:
        bump_line(school, destination_id)
    return handed


def advance_lines_of_room(school: School, room_id: int | None, now: datetime) -> None:
    """A student is back in (or a held place of) a classroom with a limit: the lines its
    students wait in may now hand them a place. The caller holds the school's lock."""
    if room_id is None or rules.room_cap_of(school, room_id) is None:
        return
    waited_at = db.session.scalars(
        select(PassRequest.destination_id)
        .where(PassRequest.from_room_id == room_id, PassRequest.status == "waiting")
        .distinct()
        .order_by(PassRequest.destination_id)
    ).all()
    for destination_id in waited_at:
        advance_wait_line(school, destination_id, now)


def locked_request(pass_request: PassRequest) -> PassRequest:
    """The request re-read under a row lock (PostgreSQL; SQLite writers are serialised)."""
    return db.session.scalars(
        select(PassRequest)
        .where(PassRequest.id == pass_request.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def close_request(
    school: School,
    pass_request: PassRequest,
    status: str,
    *,
    now: datetime,
    user: User | None = None,
) -> str | None:
    """Move an open request to a final status; returns the status it had (None: not open).

    A place held for a "ready" request goes back, and on down the line. Takes the
    school's lock first (see `rules`), then the request's row.
    """
    rules.lock_school(school)
    pass_request = locked_request(pass_request)
    was = pass_request.status
    if was not in rules.OPEN:
        return None
    pass_request.status = status
    pass_request.decided_at = now
    pass_request.decided_by_id = user.id if user else None
    db.session.flush()
    if was == "ready":
        rules.release_places(school, pass_request)
    if was in ("waiting", "ready"):
        bump_line(school, pass_request.destination_id)
        advance_wait_line(school, pass_request.destination_id, now)
    if was == "ready":
        advance_lines_of_room(school, pass_request.from_room_id, now)
    bump_request_rooms(school, pass_request.from_room_id)
    return was


def line_rank(pass_request: PassRequest) -> int | None:
    """1 for the first waiting student at the destination; None when not waiting."""
    if pass_request.status != "waiting":
        return None
    ahead = db.session.scalar(
        select(func.count(PassRequest.id)).where(
            PassRequest.destination_id == pass_request.destination_id,
            PassRequest.status == "waiting",
            PassRequest.position < pass_request.position,
        )
    )
    return ahead + 1

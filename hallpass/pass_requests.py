"""Students' requests: ask, approve, deny, cancel, and what a teacher sees of them.

Students ask from the room kiosk or the room QR. A destination they may start themselves
starts at once when the rules pass; otherwise the ask becomes a `PassRequest` the teacher
approves (the pass starts) or denies. A full destination's wait line is `wait_line`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import case, select

from hallpass import passes, rules, wait_line
from hallpass.models import (
    ASKED_AFTER_A_REFUSAL,
    NEEDS_APPROVAL,
    Destination,
    HallPass,
    PassRequest,
)
from shared import audit
from shared.audit import Actor
from shared.errors import Conflict, Forbidden
from shared.extensions import db
from shared.models import School
from shared.schedule import school_day_bounds
from shared.timeutil import utcnow


def ask_for_pass(
    school: School,
    actor: Actor,
    *,
    student_id: int,
    destination_id: int,
    from_room_id: int | None,
    source: str,
    reason: str | None = None,
    now: datetime | None = None,
) -> PassRequest:
    """A pending request the teacher of `from_room_id` approves or denies."""
    now = now or utcnow()
    student = rules.load_student(school, student_id)
    destination = rules.load_destination(school, destination_id)
    rules.load_room(school, from_room_id)
    rules.check_can_ask(school, student)
    pass_request = wait_line.insert_request(
        PassRequest(
            school_id=school.id,
            student_id=student.id,
            destination_id=destination.id,
            from_room_id=from_room_id,
            source=source,
            status="pending",
            reason=reason,
            device_id=actor.device.id if actor.device else None,
            created_at=now,
        ),
        student,
    )
    audit.record(
        "hallpass.request",
        school_id=school.id,
        actor=actor,
        target=pass_request,
        detail={"destination_id": destination.id, "source": source},
    )
    wait_line.bump_request_rooms(school, from_room_id)
    return pass_request


def student_go(
    school: School,
    actor: Actor,
    *,
    student_id: int,
    destination_id: int,
    from_room_id: int,
    source: str,
    now: datetime | None = None,
) -> HallPass | PassRequest:
    """A student asks to go: a pass where they may start one themselves, else a request.

    A rule that refuses the pass raises `rules.RuleBlocked`; the student may then ask the
    teacher (who sees why and may override) or, when the place is full, join its line.
    """
    destination = rules.load_destination(school, destination_id)
    if destination.self_start:
        return passes.start_pass(
            school,
            actor,
            student_id=student_id,
            destination_id=destination.id,
            from_room_id=from_room_id,
            source=source,
            now=now,
        )
    return ask_for_pass(
        school,
        actor,
        student_id=student_id,
        destination_id=destination.id,
        from_room_id=from_room_id,
        source=source,
        reason=NEEDS_APPROVAL,
        now=now,
    )


def deny_request(
    school: School, actor: Actor, *, request_id: int, now: datetime | None = None
) -> PassRequest:
    """The teacher says no (to a request, a place in the line or a held place)."""
    now = now or utcnow()
    pass_request = wait_line.load_request(school, request_id)
    if wait_line.close_request(school, pass_request, "denied", now=now, user=actor.user) is None:
        raise Conflict(_("This request has already been answered."))
    audit.record("hallpass.request_deny", school_id=school.id, actor=actor, target=pass_request)
    return pass_request


def cancel_request(
    school: School,
    actor: Actor,
    *,
    request_id: int,
    student_id: int,
    now: datetime | None = None,
) -> PassRequest:
    """The student takes back their own open request (kiosk scan or the phone's cookie)."""
    now = now or utcnow()
    pass_request = wait_line.load_request(school, request_id)
    if pass_request.student_id != student_id:
        raise Forbidden(_("That is not your request."))
    if wait_line.close_request(school, pass_request, "cancelled", now=now) is None:
        raise Conflict(_("This request has already been answered."))
    audit.record("hallpass.request_cancel", school_id=school.id, actor=actor, target=pass_request)
    return pass_request


def approve_request(
    school: School,
    actor: Actor,
    *,
    request_id: int,
    override_reason: str | None = None,
    now: datetime | None = None,
) -> HallPass:
    """The teacher approves a pending request, or taps Go on a ready one: the pass starts.

    Every rule of `passes.start_pass` applies (a refusal raises `rules.RuleBlocked` and the caller's
    rollback leaves the request open); a ready request uses the place held for it.
    """
    now = now or utcnow()
    pass_request = wait_line.load_request(school, request_id)
    rules.lock_school(school)  # before the request's row: the lock order (see `rules`)
    pass_request = wait_line.locked_request(pass_request)
    if pass_request.status not in ("pending", "ready"):
        raise Conflict(
            "This student is still in the wait line."
            if pass_request.status == "waiting"
            else "This request has already been answered."
        )
    place_held = pass_request.status == "ready"
    pass_request.status = "approved"
    pass_request.decided_at = now
    pass_request.decided_by_id = actor.user.id if actor.user else None
    db.session.flush()
    hall_pass = passes.start_pass(
        school,
        actor,
        student_id=pass_request.student_id,
        destination_id=pass_request.destination_id,
        from_room_id=pass_request.from_room_id,
        source=pass_request.source,
        override_reason=override_reason,
        now=now,
        place_held=place_held,
    )
    pass_request.pass_id = hall_pass.id
    audit.record(
        "hallpass.request_approve",
        school_id=school.id,
        actor=actor,
        target=pass_request,
        detail={"pass_id": hall_pass.id, "from_wait_line": place_held},
    )
    if place_held:
        wait_line.bump_line(school, pass_request.destination_id)
    wait_line.bump_request_rooms(school, pass_request.from_room_id)
    return hall_pass


def expire_destination_requests(school: School, destination: Destination, now: datetime) -> int:
    """Expire every open request for a deactivated destination, giving back held places."""
    closed = 0
    order = case(
        (PassRequest.status == "waiting", 0), (PassRequest.status == "pending", 1), else_=2
    )
    while True:
        pass_request = db.session.scalar(
            select(PassRequest)
            .where(
                PassRequest.destination_id == destination.id,
                PassRequest.status.in_(rules.OPEN),
            )
            .order_by(order, PassRequest.id)
            .limit(1)
        )
        if pass_request is None:
            return closed
        if wait_line.close_request(school, pass_request, "expired", now=now) is not None:
            closed += 1
            audit.record(
                "hallpass.request_expire",
                school_id=school.id,
                target=pass_request,
                detail={"reason": "destination deactivated"},
            )


def open_request_for(school: School, student_id: int) -> PassRequest | None:
    """The student's open request, if any."""
    return db.session.scalar(
        select(PassRequest).where(
            PassRequest.school_id == school.id,
            PassRequest.student_id == student_id,
            PassRequest.status.in_(rules.OPEN),
        )
    )


@dataclass
class RoomRequests:
    """What a teacher sees of a room's requests: to decide, in line (with rank), ready."""

    pending: list[PassRequest]
    waiting: list[tuple[PassRequest, int]]
    ready: list[PassRequest]
    ended_by_system: list[HallPass]


def room_requests(school: School, room_id: int, now: datetime | None = None) -> RoomRequests:
    """The room's open requests with wait line ranks, and today's passes the system ended."""
    now = now or utcnow()
    rows = db.session.scalars(
        select(PassRequest)
        .where(
            PassRequest.school_id == school.id,
            PassRequest.from_room_id == room_id,
            PassRequest.status.in_(rules.OPEN),
        )
        .order_by(PassRequest.created_at, PassRequest.id)
    ).all()
    waiting = [r for r in rows if r.status == "waiting"]
    ranks: dict[int, int] = {}
    for destination_id in {r.destination_id for r in waiting}:
        line = db.session.scalars(
            select(PassRequest.id)
            .where(PassRequest.destination_id == destination_id, PassRequest.status == "waiting")
            .order_by(PassRequest.position)
        ).all()
        ranks.update({request_id: n for n, request_id in enumerate(line, start=1)})
    day_start, day_end = school_day_bounds(school, now)
    ended = db.session.scalars(
        select(HallPass)
        .where(
            HallPass.school_id == school.id,
            HallPass.from_room_id == room_id,
            HallPass.ended_by == "system",
            HallPass.ended_at >= day_start,
            HallPass.ended_at < day_end,
        )
        .order_by(HallPass.ended_at.desc())
    ).all()
    return RoomRequests(
        pending=[r for r in rows if r.status == "pending"],
        waiting=sorted(((r, ranks[r.id]) for r in waiting), key=lambda item: item[1]),
        ready=[r for r in rows if r.status == "ready"],
        ended_by_system=list(ended),
    )


def student_chose(school: School, actor: Actor, mode: str, args: dict) -> HallPass | PassRequest:
    """The student's choice: go (a pass, or a request), ask the teacher, or join the line."""
    if mode == "go":
        return student_go(school, actor, **args)
    if mode == "ask":
        return ask_for_pass(school, actor, reason=ASKED_AFTER_A_REFUSAL, **args)
    return wait_line.join_wait_line(school, actor, **args)

"""Hall pass rules and operations: start and end passes. Services flush; the request commits.

`start_pass` checks the rules a teacher may override (no-pass windows, daily limit,
cooldown) and then claims, atomically and in this order, a place under the building
cap, a place at the destination, and the slot of every keep-apart group the student
is in. Any claim that fails raises, and the caller's rollback undoes the others. The
partial unique index on active passes is the last guard: a student can never hold
two. An urgent nurse pass skips every rule but still counts, so the numbers stay true.

Students ask from the room kiosk or the room QR. A destination they may start themselves
starts at once when the rules pass; otherwise the ask becomes a `PassRequest` the teacher
approves or denies. When a destination is full the student (or teacher) can join its
wait line: positions come from a per-destination counter, one open request per student
is held by a partial unique index. When a place frees, the place is handed straight to
the head of the line in the same transaction (status "ready": the place stays claimed,
so nobody can take it meanwhile) and the teacher taps Go; a held place nobody uses is
given on after `READY_HOLD_MINUTES`. The teacher taps Go rather than the pass starting by
itself because the student is still sitting in class: the timer, the hallway view and
the building count must start when the student actually leaves.

`end_overrun_passes` (cron and the housekeeping thread) ends passes past their period's
end or the school's maximum duration, as "system".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer
from sqlalchemy import and_, case, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from hallpass.models import (
    Destination,
    HallPass,
    HallpassPolicy,
    KeepApartGroup,
    PassRequest,
    StudentPassLimit,
    keep_apart_members,
)
from shared import audit, live
from shared.database import upsert_insert
from shared.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from shared.extensions import db
from shared.models import BellPeriod, Device, Enrollment, Room, School, SchoolClass, Student, User
from shared.schedule import current_period
from shared.timeutil import local, utcnow

HALLWAY_TOPIC = "hallway"
#: Minutes a place handed to the head of a wait line is held before it goes to the next.
READY_HOLD_MINUTES = 5
#: Minutes a request waits for the teacher (or in a wait line) before it expires.
REQUEST_OPEN_MINUTES = 30
#: New policies end passes after this many minutes.
DEFAULT_MAX_PASS_MINUTES = 30


class RuleBlocked(Conflict):
    """A rule refused the pass; `rule` names it, and a teacher may override some."""

    def __init__(self, message: str, *, rule: str, overridable: bool):
        super().__init__(message)
        self.rule = rule
        self.overridable = overridable


@dataclass(frozen=True)
class Actor:
    """Who starts or ends a pass: a staff member, a paired device, or the system."""

    user: User | None = None
    device: Device | None = None


def room_topic(room_id: int | None) -> str:
    return f"room:{room_id}"


def policy_for(school: School) -> HallpassPolicy:
    """The school's pass policy, created with permissive defaults on first use."""
    policy = db.session.get(HallpassPolicy, school.id)
    if policy is None:
        insert = upsert_insert(db.session.get_bind().dialect.name)
        db.session.execute(
            insert(HallpassPolicy)
            .values(
                school_id=school.id,
                cooldown_minutes=0,
                no_pass_first_minutes=0,
                no_pass_last_minutes=0,
                no_pass_periods=[],
                max_pass_minutes=DEFAULT_MAX_PASS_MINUTES,
                out_now=0,
            )
            .on_conflict_do_nothing(index_elements=[HallpassPolicy.school_id])
        )
        policy = db.session.get(HallpassPolicy, school.id)
    return policy


def read_policy(school: School) -> HallpassPolicy:
    """The school's policy for reading (a GET writes nothing): unsaved defaults if none yet."""
    return db.session.get(HallpassPolicy, school.id) or HallpassPolicy(
        school_id=school.id,
        cooldown_minutes=0,
        no_pass_first_minutes=0,
        no_pass_last_minutes=0,
        no_pass_periods=[],
        max_pass_minutes=DEFAULT_MAX_PASS_MINUTES,
        out_now=0,
    )


def school_day_bounds(school: School, now: datetime) -> tuple[datetime, datetime]:
    """Start and end (UTC-aware) of the school's local calendar day containing `now`."""
    tz = ZoneInfo(school.timezone)
    day = now.astimezone(tz).date()
    start = datetime.combine(day, time(), tzinfo=tz)
    return start, start + timedelta(days=1)


@dataclass(frozen=True)
class _Going:
    """A student about to go out, and what the rules ask about them."""

    student: Student
    has_active_pass: bool
    has_open_request: bool
    own_limit: StudentPassLimit | None


def _going(school: School, student_id: int) -> _Going:
    """The student, an active pass, an open request and their own daily limit: one query."""
    active_pass = select(HallPass.id).where(
        HallPass.student_id == Student.id, HallPass.status == "active"
    )
    open_request = select(PassRequest.id).where(
        PassRequest.student_id == Student.id, PassRequest.status.in_(OPEN)
    )
    found = db.session.execute(
        select(Student, active_pass.exists(), open_request.exists(), StudentPassLimit)
        .outerjoin(StudentPassLimit, StudentPassLimit.student_id == Student.id)
        .where(Student.id == student_id)
    ).first()
    _check_student(school, found[0] if found is not None else None)
    return _Going(*found)


def _student(school: School, student_id: int) -> Student:
    student = db.session.get(Student, student_id)
    _check_student(school, student)
    return student


def _check_student(school: School, student: Student | None) -> None:
    """A student of this school, still on the roster."""
    if student is None or student.school_id != school.id:
        raise NotFound("No such student at this school.")
    if not student.active:
        raise InvalidInput("This student is no longer on the roster.")


def _destination(school: School, destination_id: int) -> Destination:
    destination = db.session.get(Destination, destination_id)
    _check_destination(school, destination)
    return destination


def _check_destination(school: School, destination: Destination | None) -> None:
    if destination is None or destination.school_id != school.id or not destination.active:
        raise NotFound("No such destination at this school.")


@dataclass(frozen=True)
class _Target:
    """Where a pass would go, and what the rules ask about it."""

    destination: Destination
    policy: HallpassPolicy | None  # None until the school's policy is first used
    has_wait_line: bool


def _target(school: School, destination_id: int) -> _Target:
    """The destination, the school's policy and whether the destination has a wait line:
    one query (a pass start's statements each wait their turn under load)."""
    waiting = exists().where(
        PassRequest.destination_id == Destination.id, PassRequest.status == "waiting"
    )
    found = db.session.execute(
        select(Destination, HallpassPolicy, waiting)
        .outerjoin(HallpassPolicy, HallpassPolicy.school_id == Destination.school_id)
        .where(Destination.id == destination_id)
    ).first()
    destination, policy, has_waiting = found if found is not None else (None, None, False)
    _check_destination(school, destination)
    return _Target(destination, policy, destination.capacity is not None and has_waiting)


def _check_no_pass_window(school: School, policy: HallpassPolicy, now: datetime) -> None:
    if not (policy.no_pass_periods or policy.no_pass_first_minutes or policy.no_pass_last_minutes):
        return  # no window set: no need to look up the period (a round trip per pass)
    period = current_period(school, now)
    if period is None:
        return
    if period.name in (policy.no_pass_periods or []):
        raise RuleBlocked(
            f"No passes during period {period.name}.", rule="no_pass_period", overridable=True
        )
    tz = ZoneInfo(school.timezone)
    local_day = now.astimezone(tz).date()
    start = datetime.combine(local_day, period.start_time, tzinfo=tz)
    end = datetime.combine(local_day, period.end_time, tzinfo=tz)
    if policy.no_pass_first_minutes and now < start + timedelta(
        minutes=policy.no_pass_first_minutes
    ):
        raise RuleBlocked(
            f"No passes in the first {policy.no_pass_first_minutes} minutes of a period.",
            rule="no_pass_window",
            overridable=True,
        )
    if policy.no_pass_last_minutes and now >= end - timedelta(minutes=policy.no_pass_last_minutes):
        raise RuleBlocked(
            f"No passes in the last {policy.no_pass_last_minutes} minutes of a period.",
            rule="no_pass_window",
            overridable=True,
        )


def _check_daily_limit(
    school: School,
    policy: HallpassPolicy,
    student: Student,
    own_limit: StudentPassLimit | None,
    now: datetime,
) -> None:
    limit = own_limit.daily_limit if own_limit is not None else policy.daily_limit
    if limit is None:
        return
    day_start, day_end = school_day_bounds(school, now)
    used = db.session.scalar(
        select(func.count(HallPass.id))
        .join(Destination, Destination.id == HallPass.destination_id)
        .where(
            HallPass.student_id == student.id,
            HallPass.started_at >= day_start,
            HallPass.started_at < day_end,
            Destination.counts_toward_limit.is_(True),
        )
    )
    if used >= limit:
        raise RuleBlocked(
            f"{student.display_name} has used all {limit} passes for today.",
            rule="daily_limit",
            overridable=True,
        )


def _check_cooldown(policy: HallpassPolicy, student: Student, now: datetime) -> None:
    if not policy.cooldown_minutes:
        return
    last_return = db.session.scalar(
        select(func.max(HallPass.ended_at)).where(HallPass.student_id == student.id)
    )
    if last_return is not None and now - last_return < timedelta(minutes=policy.cooldown_minutes):
        raise RuleBlocked(
            f"{student.display_name} came back less than {policy.cooldown_minutes} minutes ago.",
            rule="cooldown",
            overridable=True,
        )


def _claim_building_place(school: School, *, enforce: bool) -> None:
    statement = update(HallpassPolicy).where(HallpassPolicy.school_id == school.id)
    if enforce:
        statement = statement.where(
            or_(
                HallpassPolicy.building_cap.is_(None),
                HallpassPolicy.out_now < HallpassPolicy.building_cap,
            )
        )
    claimed = db.session.execute(
        statement.values(out_now=HallpassPolicy.out_now + 1).execution_options(
            synchronize_session=False
        )
    )
    if claimed.rowcount != 1:
        raise RuleBlocked(
            "The building is at its limit of students out of class. Try again shortly.",
            rule="building_cap",
            overridable=False,
        )


def _claim_destination_place(destination: Destination, *, enforce: bool) -> None:
    statement = update(Destination).where(Destination.id == destination.id)
    if enforce:
        statement = statement.where(
            or_(Destination.capacity.is_(None), Destination.out_now < Destination.capacity)
        )
    claimed = db.session.execute(
        statement.values(out_now=Destination.out_now + 1).execution_options(
            synchronize_session=False
        )
    )
    if claimed.rowcount != 1:
        raise RuleBlocked(
            f"{destination.name} is full right now.", rule="capacity", overridable=False
        )


def _keep_apart_groups(school: School, student: Student, today: date) -> list[int]:
    return list(
        db.session.scalars(
            select(KeepApartGroup.id)
            .join(keep_apart_members, keep_apart_members.c.group_id == KeepApartGroup.id)
            .where(
                KeepApartGroup.school_id == school.id,
                keep_apart_members.c.student_id == student.id,
                or_(KeepApartGroup.ends_on.is_(None), KeepApartGroup.ends_on >= today),
            )
            .order_by(KeepApartGroup.id)  # one order for everyone: no deadlocks
        )
    )


def _claim_keep_apart_slots(group_ids: list[int], student: Student, *, enforce: bool) -> None:
    for group_id in group_ids:
        claimed = db.session.execute(
            update(KeepApartGroup)
            .where(
                KeepApartGroup.id == group_id,
                or_(
                    KeepApartGroup.out_student_id.is_(None),
                    KeepApartGroup.out_student_id == student.id,
                ),
            )
            .values(out_student_id=student.id)
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1 and enforce:  # an urgent pass goes, but takes no slot
            raise RuleBlocked(
                "Another student who must not be out at the same time is out now. "
                "Wait until they are back.",
                rule="keep_apart",
                overridable=False,
            )


def start_pass(
    school: School,
    actor: Actor,
    *,
    student_id: int,
    destination_id: int,
    from_room_id: int | None,
    source: str,
    urgent: bool = False,
    override_reason: str | None = None,
    now: datetime | None = None,
    place_held: bool = False,
) -> HallPass:
    """Start a pass now, if every rule allows it (see the module docstring).

    `place_held` is for a wait line's "ready" request only: its building and
    destination places were claimed when it became ready, so they are not claimed again.
    """
    now = now or utcnow()
    going = _going(school, student_id)
    student = going.student
    target = _target(school, destination_id)
    destination = target.destination
    if from_room_id is not None:
        room = db.session.get(Room, from_room_id)
        if room is None or room.school_id != school.id:
            raise NotFound("No such room at this school.")
    policy = target.policy or policy_for(school)
    if policy.sweep_started_at is not None:
        raise RuleBlocked(
            "An emergency sweep is in progress: no passes until it is over.",
            rule="sweep",
            overridable=False,
        )
    if urgent and not destination.is_nurse:
        raise InvalidInput("Only a nurse pass can be marked urgent.")
    override_reason = (override_reason or "").strip() or None
    if override_reason is not None and actor.user is None:
        raise InvalidInput("Only staff can override a limit.")
    if going.has_active_pass:
        raise Conflict(f"{student.display_name} already has an active pass.")
    if not urgent and override_reason is None:
        _check_no_pass_window(school, policy, now)
        if destination.counts_toward_limit:
            _check_daily_limit(school, policy, student, going.own_limit, now)
        _check_cooldown(policy, student, now)
    if not urgent and not place_held and target.has_wait_line:
        raise RuleBlocked(
            f"{destination.name} is full right now and has a wait line.",
            rule="capacity",
            overridable=False,
        )
    today = local(now, school.timezone).date()
    hall_pass = HallPass(
        school_id=school.id,
        student_id=student.id,
        destination_id=destination.id,
        from_room_id=from_room_id,
        source=source,
        issued_by_id=actor.user.id if actor.user else None,
        issued_by_device_id=actor.device.id if actor.device else None,
        status="active",
        started_at=now,
        time_limit_minutes=destination.time_limit_minutes,
        urgent=urgent,
        override_reason=override_reason,
    )
    try:
        with db.session.begin_nested():  # a refused claim undoes the claims before it
            enforce = not urgent
            if not place_held:
                _claim_building_place(school, enforce=enforce)
                _claim_destination_place(destination, enforce=enforce)
            groups = _keep_apart_groups(school, student, today)
            _claim_keep_apart_slots(groups, student, enforce=enforce)
            db.session.add(hall_pass)
            db.session.flush()
    except IntegrityError:
        raise Conflict(f"{student.display_name} already has an active pass.") from None
    audit.record(
        "hallpass.start",
        school_id=school.id,
        target=hall_pass,
        detail={
            "destination_id": destination.id,
            "source": source,
            "urgent": urgent,
            "override_reason": override_reason,
        },
    )
    live.bump(school.id, HALLWAY_TOPIC, room_topic(from_room_id))
    if going.has_open_request:
        _close_open_requests(school, student.id, now)
    return hall_pass


def end_pass(
    school: School, actor: Actor, *, pass_id: int, ended_by: str, now: datetime | None = None
) -> HallPass:
    """End an active pass and give back its places; ending twice is refused."""
    now = now or utcnow()
    hall_pass = db.session.get(HallPass, pass_id)
    if hall_pass is None or hall_pass.school_id != school.id:
        raise NotFound("No such pass at this school.")
    ended = db.session.execute(
        update(HallPass)
        .where(HallPass.id == hall_pass.id, HallPass.status == "active")
        .values(status="ended", ended_at=now, ended_by=ended_by)
        .execution_options(synchronize_session=False)
    )
    if ended.rowcount != 1:
        raise Conflict("This pass has already ended.")
    db.session.refresh(hall_pass)
    _after_end(school, hall_pass, now)
    audit.record(
        "hallpass.end", school_id=school.id, target=hall_pass, detail={"ended_by": ended_by}
    )
    return hall_pass


def _after_end(school: School, hall_pass: HallPass, now: datetime) -> None:
    """A pass has ended: give back its places, move its destination's wait line on."""
    _release_places(school, hall_pass)
    _release_keep_apart(hall_pass.student_id)
    advance_wait_line(school, hall_pass.destination_id, now)
    live.bump(school.id, HALLWAY_TOPIC, room_topic(hall_pass.from_room_id))


def _release_places(school: School, hall_pass: HallPass | PassRequest) -> None:
    """Give back a building place and a destination place (a pass's, or a held one)."""
    for model, key in (
        (HallpassPolicy, HallpassPolicy.school_id == school.id),
        (Destination, Destination.id == hall_pass.destination_id),
    ):
        db.session.execute(
            update(model)
            .where(and_(key, model.out_now > 0))
            .values(out_now=model.out_now - 1)
            .execution_options(synchronize_session=False)
        )


def _release_keep_apart(student_id: int) -> None:
    db.session.execute(
        update(KeepApartGroup)
        .where(KeepApartGroup.out_student_id == student_id)
        .values(out_student_id=None)
        .execution_options(synchronize_session=False)
    )


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


def is_overdue(hall_pass: HallPass, now: datetime) -> bool:
    """Out longer than the pass's time limit."""
    return now - hall_pass.started_at > timedelta(minutes=hall_pass.time_limit_minutes)


def students_out(school: School) -> int:
    """How many students of the school are out of class now."""
    return db.session.scalar(
        select(func.count(HallPass.id)).where(
            HallPass.school_id == school.id, HallPass.status == "active"
        )
    )


def start_sweep(school: School, actor: Actor, *, now: datetime | None = None) -> int:
    """Emergency: stop new passes school-wide; returns how many students are out."""
    now = now or utcnow()
    policy_for(school)
    started = db.session.execute(
        update(HallpassPolicy)
        .where(HallpassPolicy.school_id == school.id, HallpassPolicy.sweep_started_at.is_(None))
        .values(sweep_started_at=now)
        .execution_options(synchronize_session=False)
    )
    if started.rowcount != 1:
        raise Conflict("A sweep is already in progress.")
    out = students_out(school)
    audit.record("hallpass.sweep_start", school_id=school.id, detail={"students_out": out})
    live.bump(school.id, HALLWAY_TOPIC)
    return out


def account_for(
    school: School, actor: Actor, *, pass_id: int, now: datetime | None = None
) -> HallPass:
    """During a sweep: a student out of class has been found; their pass ends."""
    now = now or utcnow()
    if policy_for(school).sweep_started_at is None:
        raise Conflict("There is no sweep in progress.")
    hall_pass = end_pass(school, actor, pass_id=pass_id, ended_by="sweep", now=now)
    hall_pass.accounted_at = now
    audit.record("hallpass.accounted_for", school_id=school.id, target=hall_pass)
    return hall_pass


def end_sweep(school: School, actor: Actor) -> int:
    """Back to normal; returns how many students were still not accounted for."""
    ended = db.session.execute(
        update(HallpassPolicy)
        .where(HallpassPolicy.school_id == school.id, HallpassPolicy.sweep_started_at.is_not(None))
        .values(sweep_started_at=None)
        .execution_options(synchronize_session=False)
    )
    if ended.rowcount != 1:
        raise Conflict("There is no sweep in progress.")
    still_out = students_out(school)
    audit.record("hallpass.sweep_end", school_id=school.id, detail={"not_accounted_for": still_out})
    live.bump(school.id, HALLWAY_TOPIC)
    return still_out


# ------------------------------------------------------------- requests and wait lines


class TokenExpired(DomainError):
    """A signed value was genuine but is too old (a room QR, a kiosk step)."""

    status_code = 410


#: What a student is told when a rule refuses their own pass (no names, no staff notes).
STUDENT_MESSAGES = {
    "sweep": "Passes are paused right now. Stay in class.",
    "no_pass_period": "No passes during this period. Ask your teacher if it is urgent.",
    "no_pass_window": "No passes right now (start or end of the period). Ask your teacher.",
    "daily_limit": "You have used all your passes for today. Ask your teacher.",
    "cooldown": "You came back a short while ago. Ask your teacher.",
    "building_cap": "Too many students are out of class right now. Try again shortly.",
    "capacity": "That place is full right now. You can join the wait line.",
    "keep_apart": "You cannot go right now. Ask your teacher.",
}


def student_message(blocked: RuleBlocked) -> str:
    """The refusal as a student may read it (rule messages can name the student)."""
    return STUDENT_MESSAGES.get(blocked.rule, "You cannot go right now. Ask your teacher.")


def _room(school: School, room_id: int | None) -> Room | None:
    if room_id is None:
        return None
    room = db.session.get(Room, room_id)
    if room is None or room.school_id != school.id:
        raise NotFound("No such room at this school.")
    return room


def _request(school: School, request_id: int) -> PassRequest:
    pass_request = db.session.get(PassRequest, request_id)
    if pass_request is None or pass_request.school_id != school.id:
        raise NotFound("No such request at this school.")
    return pass_request


def _check_can_ask(school: School, student: Student) -> None:
    if policy_for(school).sweep_started_at is not None:
        raise RuleBlocked(
            "An emergency sweep is in progress: no passes until it is over.",
            rule="sweep",
            overridable=False,
        )
    if db.session.scalar(
        select(HallPass.id).where(HallPass.student_id == student.id, HallPass.status == "active")
    ):
        raise Conflict(f"{student.display_name} already has an active pass.")


def _bump_request_rooms(school: School, *room_ids: int | None) -> None:
    topics = [room_topic(room_id) for room_id in room_ids if room_id is not None]
    if topics:
        live.bump(school.id, *topics)


def _bump_line(school: School, destination_id: int) -> None:
    """Every room with a student in this destination's line sees positions move."""
    rooms = db.session.scalars(
        select(PassRequest.from_room_id)
        .where(
            PassRequest.destination_id == destination_id,
            PassRequest.status.in_(("waiting", "ready")),
        )
        .distinct()
    )
    _bump_request_rooms(school, *rooms)


def _insert_request(pass_request: PassRequest, student: Student) -> PassRequest:
    try:
        with db.session.begin_nested():
            db.session.add(pass_request)
            db.session.flush()
    except IntegrityError:
        raise Conflict(
            f"{student.short_name} already asked for a pass. Wait for the teacher, "
            "or cancel that request first."
        ) from None
    return pass_request


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
    student = _student(school, student_id)
    destination = _destination(school, destination_id)
    _room(school, from_room_id)
    _check_can_ask(school, student)
    pass_request = _insert_request(
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
        target=pass_request,
        detail={"destination_id": destination.id, "source": source},
    )
    _bump_request_rooms(school, from_room_id)
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

    A rule that refuses the pass raises `RuleBlocked`; the student may then ask the
    teacher (who sees why and may override) or, when the place is full, join its line.
    """
    destination = _destination(school, destination_id)
    if destination.self_start:
        return start_pass(
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
        reason="Needs the teacher's approval.",
        now=now,
    )


def _next_position(destination: Destination) -> int:
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
    student = _student(school, student_id)
    destination = _destination(school, destination_id)
    _room(school, from_room_id)
    if destination.capacity is None:
        raise InvalidInput(f"{destination.name} has no limit: there is no wait line.")
    _check_can_ask(school, student)
    pass_request = _insert_request(
        PassRequest(
            school_id=school.id,
            student_id=student.id,
            destination_id=destination.id,
            from_room_id=from_room_id,
            source=source,
            status="waiting",
            position=_next_position(destination),
            reason=f"{destination.name} was full.",
            device_id=actor.device.id if actor.device else None,
            created_at=now,
        ),
        student,
    )
    audit.record(
        "hallpass.wait_line_join",
        school_id=school.id,
        target=pass_request,
        detail={"destination_id": destination.id, "position": pass_request.position},
    )
    _bump_request_rooms(school, from_room_id)
    advance_wait_line(school, destination.id, now)
    return pass_request


def queue_request(
    school: School, actor: Actor, *, request_id: int, now: datetime | None = None
) -> PassRequest:
    """The teacher puts a pending request whose place is full into the wait line."""
    now = now or utcnow()
    pass_request = _request(school, request_id)
    destination = _destination(school, pass_request.destination_id)
    if destination.capacity is None:
        raise InvalidInput(f"{destination.name} has no limit: there is no wait line.")
    queued = db.session.execute(
        update(PassRequest)
        .where(PassRequest.id == pass_request.id, PassRequest.status == "pending")
        .values(status="waiting", position=_next_position(destination))
        .execution_options(synchronize_session=False)
    )
    if queued.rowcount != 1:
        raise Conflict("This request has already been answered.")
    db.session.refresh(pass_request)
    audit.record(
        "hallpass.wait_line_join",
        school_id=school.id,
        target=pass_request,
        detail={"destination_id": destination.id, "position": pass_request.position},
    )
    _bump_request_rooms(school, pass_request.from_room_id)
    advance_wait_line(school, destination.id, now)
    return pass_request


class _Taken(Exception):
    """Another transaction moved the head of the line first."""


def advance_wait_line(school: School, destination_id: int, now: datetime) -> int:
    """Hand free places at the destination to the head of its line; returns how many.

    Each handed place is claimed like a pass's (building and destination, conditional
    UPDATEs) and held by the request, now "ready", until the teacher taps Go.
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
            with db.session.begin_nested():
                moved = db.session.execute(
                    update(PassRequest)
                    .where(PassRequest.id == head.id, PassRequest.status == "waiting")
                    .values(status="ready", ready_at=now)
                    .execution_options(synchronize_session=False)
                )
                if moved.rowcount != 1:
                    raise _Taken
                _claim_building_place(school, enforce=True)
                _claim_destination_place(destination, enforce=True)
        except _Taken:
            skipped.add(head.id)
            continue
        except RuleBlocked:
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
        _bump_line(school, destination_id)
    return handed


OPEN = ("pending", "waiting", "ready")


def _locked(pass_request: PassRequest) -> PassRequest:
    """The request re-read under a row lock (PostgreSQL; SQLite writers are serialised)."""
    return db.session.scalars(
        select(PassRequest)
        .where(PassRequest.id == pass_request.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def _close(
    school: School,
    pass_request: PassRequest,
    status: str,
    *,
    now: datetime,
    user: User | None = None,
) -> str | None:
    """Move an open request to a final status; returns the status it had (None: not open).

    A place held for a "ready" request goes back, and on down the line.
    """
    pass_request = _locked(pass_request)
    was = pass_request.status
    if was not in OPEN:
        return None
    pass_request.status = status
    pass_request.decided_at = now
    pass_request.decided_by_id = user.id if user else None
    db.session.flush()
    if was == "ready":
        _release_places(school, pass_request)
    if was in ("waiting", "ready"):
        _bump_line(school, pass_request.destination_id)
        advance_wait_line(school, pass_request.destination_id, now)
    _bump_request_rooms(school, pass_request.from_room_id)
    return was


def deny_request(
    school: School, actor: Actor, *, request_id: int, now: datetime | None = None
) -> PassRequest:
    """The teacher says no (to a request, a place in the line or a held place)."""
    now = now or utcnow()
    pass_request = _request(school, request_id)
    if _close(school, pass_request, "denied", now=now, user=actor.user) is None:
        raise Conflict("This request has already been answered.")
    audit.record("hallpass.request_deny", school_id=school.id, target=pass_request)
    return pass_request


def cancel_request(
    school: School, actor: Actor, *, request_id: int, student_id: int, now: datetime | None = None
) -> PassRequest:
    """The student takes back their own open request (kiosk scan or the phone's cookie)."""
    now = now or utcnow()
    pass_request = _request(school, request_id)
    if pass_request.student_id != student_id:
        raise Forbidden("That is not your request.")
    if _close(school, pass_request, "cancelled", now=now) is None:
        raise Conflict("This request has already been answered.")
    audit.record("hallpass.request_cancel", school_id=school.id, target=pass_request)
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

    Every rule of `start_pass` applies (a refusal raises `RuleBlocked` and the caller's
    rollback leaves the request open); a ready request uses the place held for it.
    """
    now = now or utcnow()
    pass_request = _locked(_request(school, request_id))
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
    hall_pass = start_pass(
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
        target=pass_request,
        detail={"pass_id": hall_pass.id, "from_wait_line": place_held},
    )
    if place_held:
        _bump_line(school, pass_request.destination_id)
    _bump_request_rooms(school, pass_request.from_room_id)
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
                PassRequest.status.in_(OPEN),
            )
            .order_by(order, PassRequest.id)
            .limit(1)
        )
        if pass_request is None:
            return closed
        if _close(school, pass_request, "expired", now=now) is not None:
            closed += 1
            audit.record(
                "hallpass.request_expire",
                school_id=school.id,
                target=pass_request,
                detail={"reason": "destination deactivated"},
            )


def _close_open_requests(school: School, student_id: int, now: datetime) -> None:
    """A student who just went out has no request left open (a held place goes on)."""
    for pass_request in db.session.scalars(
        select(PassRequest).where(
            PassRequest.student_id == student_id, PassRequest.status.in_(OPEN)
        )
    ).all():
        if _close(school, pass_request, "cancelled", now=now):
            audit.record(
                "hallpass.request_cancel",
                school_id=school.id,
                target=pass_request,
                detail={"why": "a pass started"},
            )


def open_request_for(school: School, student_id: int) -> PassRequest | None:
    """The student's open request, if any."""
    return db.session.scalar(
        select(PassRequest).where(
            PassRequest.school_id == school.id,
            PassRequest.student_id == student_id,
            PassRequest.status.in_(OPEN),
        )
    )


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
            PassRequest.status.in_(OPEN),
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


def expire_requests(now: datetime | None = None, *, school_id: int | None = None) -> int:
    """Housekeeping: held places nobody used go on; unanswered requests expire.

    Also hands free places to wait lines that did not move (a capacity raised, the
    building cap freed elsewhere). Idempotent; safe from several processes at once.
    """
    now = now or utcnow()
    query = select(PassRequest).where(
        or_(
            and_(
                PassRequest.status == "ready",
                PassRequest.ready_at < now - timedelta(minutes=READY_HOLD_MINUTES),
            ),
            and_(
                PassRequest.status.in_(("pending", "waiting")),
                PassRequest.created_at < now - timedelta(minutes=REQUEST_OPEN_MINUTES),
            ),
        )
    )
    if school_id is not None:
        query = query.where(PassRequest.school_id == school_id)
    changed = 0
    schools: dict[int, School] = {}

    def school_of(sid: int) -> School:
        if sid not in schools:
            schools[sid] = db.session.get(School, sid)
        return schools[sid]

    for pass_request in db.session.scalars(query.order_by(PassRequest.id)).all():
        school = school_of(pass_request.school_id)
        if _close(school, pass_request, "expired", now=now):
            changed += 1
            audit.record(
                "hallpass.request_expire",
                school_id=school.id,
                target=pass_request,
                actor_label="system",
            )
    lines = select(PassRequest.school_id, PassRequest.destination_id).where(
        PassRequest.status == "waiting"
    )
    if school_id is not None:
        lines = lines.where(PassRequest.school_id == school_id)
    for line_school_id, destination_id in db.session.execute(lines.distinct()).all():
        changed += advance_wait_line(school_of(line_school_id), destination_id, now)
    return changed


# ------------------------------------------------------------------- automatic end


def _period_end(school: School, periods: list[BellPeriod], started_at: datetime) -> datetime | None:
    """End (UTC-aware) of the bell period a pass started in, if it started in one."""
    tz = ZoneInfo(school.timezone)
    started = started_at.astimezone(tz)
    wall = started.time().replace(tzinfo=None)
    for period in periods:
        if period.weekday == started.weekday() and period.start_time <= wall < period.end_time:
            return datetime.combine(started.date(), period.end_time, tzinfo=tz)
    return None


def overrun_reason(
    school: School,
    policy: HallpassPolicy | None,
    periods: list[BellPeriod],
    hall_pass: HallPass,
    now: datetime,
) -> str | None:
    """Why the system should end this pass now: "period_end", "max_duration", "day_end"."""
    period_end = _period_end(school, periods, hall_pass.started_at)
    if period_end is not None and now >= period_end:
        return "period_end"
    limit = policy.max_pass_minutes if policy is not None else None
    if limit and now - hall_pass.started_at >= timedelta(minutes=limit):
        return "max_duration"
    tz = ZoneInfo(school.timezone)
    if hall_pass.started_at.astimezone(tz).date() < now.astimezone(tz).date():
        return "day_end"
    return None


def end_overrun_passes(now: datetime | None = None, *, school_id: int | None = None) -> int:
    """End active passes past their period's end or the maximum duration, as "system".

    Places are released exactly as `end_pass` does, wait lines move on, each end is
    audited (actor "system") and the live topics bumped. The passes are claimed by one
    conditional UPDATE (`status = 'active'`), so runs from several processes at once end
    each pass once. A pass that started on an earlier school day always ends. Returns
    how many passes this call ended.
    """
    now = now or utcnow()
    query = select(HallPass).where(HallPass.status == "active")
    if school_id is not None:
        query = query.where(HallPass.school_id == school_id)
    reasons: dict[int, str] = {}
    schools: dict[int, tuple[School, HallpassPolicy | None, list[BellPeriod]]] = {}
    for hall_pass in db.session.scalars(query.order_by(HallPass.id)).all():
        if hall_pass.school_id not in schools:
            school = db.session.get(School, hall_pass.school_id)
            periods = list(
                db.session.scalars(select(BellPeriod).where(BellPeriod.school_id == school.id))
            )
            schools[school.id] = (school, db.session.get(HallpassPolicy, school.id), periods)
        school, policy, periods = schools[hall_pass.school_id]
        reason = overrun_reason(school, policy, periods, hall_pass, now)
        if reason is not None:
            reasons[hall_pass.id] = reason
    if not reasons:
        return 0
    ended_ids = (
        db.session.execute(
            update(HallPass)
            .where(HallPass.id.in_(sorted(reasons)), HallPass.status == "active")
            .values(status="ended", ended_at=now, ended_by="system")
            .returning(HallPass.id)
            .execution_options(synchronize_session=False)
        )
        .scalars()
        .all()
    )
    for pass_id in sorted(ended_ids):
        hall_pass = db.session.get(HallPass, pass_id)
        db.session.refresh(hall_pass)
        school = schools[hall_pass.school_id][0]
        _after_end(school, hall_pass, now)
        audit.record(
            "hallpass.end",
            school_id=school.id,
            target=hall_pass,
            detail={"ended_by": "system", "reason": reasons[pass_id]},
            actor_label="system",
        )
    return len(ended_ids)


# --------------------------------------------------------------- arrival check-in


def check_in(
    school: School, actor: Actor, *, token: str, room_id: int | None, now: datetime | None = None
) -> HallPass:
    """The destination's kiosk scanned a pass QR: record when the student arrived."""
    now = now or utcnow()
    hall_pass = pass_by_token(token)
    if hall_pass is None or hall_pass.school_id != school.id:
        raise NotFound("That is not a pass of this school.")
    if hall_pass.status != "active":
        raise Conflict("This pass has already ended.")
    if room_id is None or hall_pass.destination.room_id != room_id:
        raise InvalidInput(f"This pass is for {hall_pass.destination.name}, not this room.")
    arrived = db.session.execute(
        update(HallPass)
        .where(HallPass.id == hall_pass.id, HallPass.arrived_at.is_(None))
        .values(arrived_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(hall_pass)
    if arrived.rowcount == 1:
        audit.record(
            "hallpass.arrive",
            school_id=school.id,
            target=hall_pass,
            detail={"destination_id": hall_pass.destination_id},
        )
        live.bump(school.id, HALLWAY_TOPIC, room_topic(hall_pass.from_room_id))
    return hall_pass


# ------------------------------------------------------------------ signed values

#: Rotation of the room QR code; the current and the previous step are accepted.
ROOM_QR_STEP_SECONDS = 60
#: How long a kiosk remembers the student who scanned, between two taps.
KIOSK_STUDENT_SECONDS = 60
#: How long a phone remembers its room visit (the pass or the request it made).
ROOM_VISIT_SECONDS = 4 * 3600


def _serializer(salt: str) -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=salt)


def _timed_serializer(salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=salt)


def qr_step(now: datetime) -> int:
    """The room QR time step containing `now`."""
    return int(now.timestamp()) // ROOM_QR_STEP_SECONDS


def room_qr_token(room: Room, now: datetime | None = None) -> str:
    """The room QR token for the current step: signed, bound to the room and the step."""
    step = qr_step(now or utcnow())
    return _serializer("hallpass.room-qr").dumps([room.school_id, room.id, step])


def room_from_qr_token(token: str, now: datetime | None = None) -> Room:
    """The room a QR token names, if genuine and from the current or the previous step."""
    try:
        school_id, room_id, step = _serializer("hallpass.room-qr").loads(token)
    except (BadSignature, ValueError, TypeError):
        raise NotFound(
            "This is not a valid room code. Scan the code on the classroom screen."
        ) from None
    current = qr_step(now or utcnow())
    if step not in (current, current - 1):
        raise TokenExpired("This room code has expired. Scan the code on the classroom screen.")
    room = db.session.get(Room, room_id)
    if room is None or room.school_id != school_id or not room.active:
        raise NotFound("This room no longer exists.")
    return room


def kiosk_student_token(device: Device, student: Student) -> str:
    """A short-lived signed value naming the student who just scanned at this kiosk."""
    return _timed_serializer("hallpass.kiosk-student").dumps([device.id, student.id])


def student_from_kiosk_token(school: School, device: Device, token: str) -> Student:
    """The student a kiosk token names: only on the kiosk that made it, within a minute."""
    try:
        device_id, student_id = _timed_serializer("hallpass.kiosk-student").loads(
            token, max_age=KIOSK_STUDENT_SECONDS
        )
    except SignatureExpired:
        raise TokenExpired("That took too long. Scan your ID again.") from None
    except (BadSignature, ValueError, TypeError):
        raise InvalidInput("Scan your ID again.") from None
    if device_id != device.id:
        raise InvalidInput("Scan your ID again.")
    return _student(school, student_id)


def room_visit_value(
    room: Room, *, pass_id: int | None = None, request_id: int | None = None
) -> str:
    """The signed cookie value a phone keeps: its room, and the pass or request it made."""
    return _timed_serializer("hallpass.room-visit").dumps(
        {"s": room.school_id, "r": room.id, "p": pass_id, "q": request_id}
    )


def read_room_visit(value: str | None) -> dict | None:
    """The phone's room visit from its cookie, or None (missing, forged or too old)."""
    if not value:
        return None
    try:
        visit = _timed_serializer("hallpass.room-visit").loads(value, max_age=ROOM_VISIT_SECONDS)
    except (BadSignature, ValueError, TypeError):
        return None
    return visit if isinstance(visit, dict) and {"s", "r", "p", "q"} <= set(visit) else None


def class_in_room(school: School, room: Room, now: datetime | None = None) -> list[Student]:
    """Students of the class (or classes) meeting in the room in the current period."""
    period = current_period(school, now or utcnow())
    if period is None:
        return []
    return list(
        db.session.scalars(
            select(Student)
            .join(Enrollment, Enrollment.student_id == Student.id)
            .join(SchoolClass, SchoolClass.id == Enrollment.class_id)
            .where(
                SchoolClass.school_id == school.id,
                SchoolClass.room_id == room.id,
                SchoolClass.period == period.name,
                SchoolClass.active.is_(True),
                Student.active.is_(True),
            )
            .distinct()
            .order_by(Student.first_name, Student.last_name)
        )
    )


def student_by_number(school: School, number: str) -> Student:
    """The active student of this school with this ID card number."""
    number = (number or "").strip()
    if not number or len(number) > 64:
        raise InvalidInput("Scan or type your student ID number.")
    student = db.session.scalar(
        select(Student).where(Student.school_id == school.id, Student.student_number == number)
    )
    if student is None or not student.active:
        raise NotFound("That ID number is not known here. Ask your teacher.")
    return student


def pass_by_token(token: str) -> HallPass | None:
    """The pass a QR token names (any school), or None."""
    if not token or len(token) > 64:
        return None
    return db.session.scalar(select(HallPass).where(HallPass.token == token))

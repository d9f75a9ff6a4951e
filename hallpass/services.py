"""Hall pass rules and operations: start and end passes. Services flush; the request commits.

`start_pass` checks the rules a teacher may override (no-pass windows, daily limit,
cooldown) and then claims, atomically and in this order, a place under the building
cap, a place at the destination, and the slot of every keep-apart group the student
is in. Any claim that fails raises, and the caller's rollback undoes the others. The
partial unique index on active passes is the last guard: a student can never hold
two. An urgent nurse pass skips every rule but still counts, so the numbers stay true.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from hallpass.models import (
    Destination,
    HallPass,
    HallpassPolicy,
    KeepApartGroup,
    StudentPassLimit,
    keep_apart_members,
)
from shared import audit, live
from shared.database import upsert_insert
from shared.errors import Conflict, InvalidInput, NotFound
from shared.extensions import db
from shared.models import Device, Room, School, Student, User
from shared.schedule import current_period
from shared.timeutil import local, utcnow

HALLWAY_TOPIC = "hallway"


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
                out_now=0,
            )
            .on_conflict_do_nothing(index_elements=[HallpassPolicy.school_id])
        )
        policy = db.session.get(HallpassPolicy, school.id)
    return policy


def school_day_bounds(school: School, now: datetime) -> tuple[datetime, datetime]:
    """Start and end (UTC-aware) of the school's local calendar day containing `now`."""
    tz = ZoneInfo(school.timezone)
    day = now.astimezone(tz).date()
    start = datetime.combine(day, time(), tzinfo=tz)
    return start, start + timedelta(days=1)


def _student(school: School, student_id: int) -> Student:
    student = db.session.get(Student, student_id)
    if student is None or student.school_id != school.id:
        raise NotFound("No such student at this school.")
    if not student.active:
        raise InvalidInput("This student is no longer on the roster.")
    return student


def _destination(school: School, destination_id: int) -> Destination:
    destination = db.session.get(Destination, destination_id)
    if destination is None or destination.school_id != school.id or not destination.active:
        raise NotFound("No such destination at this school.")
    return destination


def _check_no_pass_window(school: School, policy: HallpassPolicy, now: datetime) -> None:
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


def _daily_limit(policy: HallpassPolicy, student: Student) -> int | None:
    override = db.session.get(StudentPassLimit, student.id)
    return override.daily_limit if override is not None else policy.daily_limit


def _check_daily_limit(
    school: School, policy: HallpassPolicy, student: Student, now: datetime
) -> None:
    limit = _daily_limit(policy, student)
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
) -> HallPass:
    """Start a pass now, if every rule allows it (see the module docstring)."""
    now = now or utcnow()
    student = _student(school, student_id)
    destination = _destination(school, destination_id)
    if from_room_id is not None:
        room = db.session.get(Room, from_room_id)
        if room is None or room.school_id != school.id:
            raise NotFound("No such room at this school.")
    policy = policy_for(school)
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
    if db.session.scalar(
        select(HallPass.id).where(HallPass.student_id == student.id, HallPass.status == "active")
    ):
        raise Conflict(f"{student.display_name} already has an active pass.")
    if not urgent and override_reason is None:
        _check_no_pass_window(school, policy, now)
        if destination.counts_toward_limit:
            _check_daily_limit(school, policy, student, now)
        _check_cooldown(policy, student, now)
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
    live.bump(school.id, HALLWAY_TOPIC)
    live.bump(school.id, room_topic(from_room_id))
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
    _release_places(school, hall_pass)
    audit.record(
        "hallpass.end", school_id=school.id, target=hall_pass, detail={"ended_by": ended_by}
    )
    live.bump(school.id, HALLWAY_TOPIC)
    live.bump(school.id, room_topic(hall_pass.from_room_id))
    return hall_pass


def _release_places(school: School, hall_pass: HallPass) -> None:
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
    db.session.execute(
        update(KeepApartGroup)
        .where(KeepApartGroup.out_student_id == hall_pass.student_id)
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

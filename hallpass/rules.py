"""The rules a hall pass obeys, and the places it claims: one home for both.

Every path that starts a pass or moves a wait line asks these functions: the checks a
teacher may override (no-pass windows, daily limit, cooldown), and the claims, made
atomically by conditional UPDATEs (a place under the building cap, which staff may
override with a reason, a place at the destination and the slot of every keep-apart
group the student is in, which nobody overrides). A
claim that fails raises `RuleBlocked`, and the caller's rollback undoes the claims before
it. The partial unique index on active passes is the last guard: a student can never
hold two. The classroom limit is counted under the school's lock rather than claimed
(`check_room_cap`). An urgent nurse pass skips every rule but still counts, so the
numbers stay true. A call to the office's pass (`office_calls`, `start_pass(called=True)`)
skips what a teacher may override and every cap and capacity, and still counts; a
sweep and keep-apart groups refuse it.

This module sits at the bottom of the hall pass services (above `policy`): the wait line,
passes and requests build on it, and it imports none of them.

The lock order. On PostgreSQL two transactions that lock the same rows in opposite orders
deadlock, and one of them is killed (a 500, and its write is lost). Every hall pass write
therefore locks, in this order and never the other way round:

1. the school's `hallpass_policies` row (the school's hall pass lock): taken first by a
   pass start's building claim (`claim_building_place`, an UPDATE) or, on every other
   path, by `lock_school` before anything else is written (ending a pass, joining or
   leaving a wait line, queueing, approving, denying, cancelling, expiring, changing a
   destination); jobs that touch several schools lock them in ascending id;
2. the destination's row (its place claim, its wait line counter);
3. the keep-apart groups' rows, in ascending id;
4. the pass and request rows themselves, then the audit and live version rows.

Holding the school's lock first also makes the emergency sweep exact: `start_sweep`
updates that row, so a pass start either committed before the sweep counted the students
out (and is counted) or sees the sweep under the lock and is refused
(`claim_building_place` re-checks `sweep_started_at` in its UPDATE).

Why one module: every rule a pass start or a wait line asks, and the lock order they
share, must be read together to see that the invariants hold; splitting it would
scatter the lock order across files.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from flask_babel import lazy_gettext, ngettext
from sqlalchemy import and_, exists, func, or_, select, update

from hallpass.models import (
    Destination,
    HallPass,
    HallpassPolicy,
    KeepApartGroup,
    PassRequest,
    StudentPassLimit,
    keep_apart_members,
)
from hallpass.policy import policy_for
from shared.access import of_school, school_record
from shared.errors import Conflict, InvalidInput, NotFound
from shared.extensions import db
from shared.models import Room, School, Student
from shared.schedule import current_period, school_day_bounds

HALLWAY_TOPIC = "hallway"
#: The schedulers' lists of today's appointments (hallpass/appointments.py).
APPOINTMENTS_TOPIC = "appointments"
SWEEP_MESSAGE = lazy_gettext("An emergency sweep is in progress: no passes until it is over.")


class RuleBlocked(Conflict):
    """A rule refused the pass; `rule` names it, and a teacher may override some."""

    def __init__(self, message: str, *, rule: str, overridable: bool):
        super().__init__(message)
        self.rule = rule
        self.overridable = overridable


def room_topic(room_id: int | None) -> str:
    return f"room:{room_id}"


@dataclass(frozen=True)
class GoingOut:
    """A student about to go out, and what the rules ask about them."""

    student: Student
    has_active_pass: bool
    has_open_request: bool
    own_limit: StudentPassLimit | None


def going_out(school: School, student_id: int) -> GoingOut:
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
    check_student(school, found[0] if found is not None else None)
    return GoingOut(*found)


def load_student(school: School, student_id: int) -> Student:
    student = school_record(Student, student_id, school.id, _("No such student at this school."))
    check_student(school, student)
    return student


def check_student(school: School, student: Student | None) -> None:
    """A student of this school, still on the roster."""
    of_school(student, school.id, _("No such student at this school."))
    if not student.active:
        raise InvalidInput(_("This student is no longer on the roster."))


def load_destination(school: School, destination_id: int) -> Destination:
    destination = db.session.get(Destination, destination_id)
    check_destination(school, destination)
    return destination


def check_destination(school: School, destination: Destination | None) -> None:
    of_school(destination, school.id, _("No such destination at this school."))
    if not destination.active:
        raise NotFound(_("No such destination at this school."))


@dataclass(frozen=True)
class PassTarget:
    """Where a pass would go, and what the rules ask about it."""

    destination: Destination
    policy: HallpassPolicy | None  # None until the school's policy is first used
    has_wait_line: bool


def pass_target(school: School, destination_id: int) -> PassTarget:
    """The destination, the school's policy and whether the destination has a wait line,
    in one query (each statement is a round trip: see docs/performance.md)."""
    waiting = exists().where(
        PassRequest.destination_id == Destination.id, PassRequest.status == "waiting"
    )
    found = db.session.execute(
        select(Destination, HallpassPolicy, waiting)
        .outerjoin(HallpassPolicy, HallpassPolicy.school_id == Destination.school_id)
        .where(Destination.id == destination_id)
    ).first()
    destination, policy, has_waiting = found if found is not None else (None, None, False)
    check_destination(school, destination)
    return PassTarget(destination, policy, destination.capacity is not None and has_waiting)


def check_no_pass_window(school: School, policy: HallpassPolicy, now: datetime) -> None:
    if not (policy.no_pass_periods or policy.no_pass_first_minutes or policy.no_pass_last_minutes):
        return  # no window set: no need to look up the period
    period = current_period(school, now)
    if period is None:
        return
    if period.name in (policy.no_pass_periods or []):
        raise RuleBlocked(
            _("No passes during period %(period)s.", period=period.name),
            rule="no_pass_period",
            overridable=True,
        )
    tz = ZoneInfo(school.timezone)
    local_day = now.astimezone(tz).date()
    start = datetime.combine(local_day, period.start_time, tzinfo=tz)
    end = datetime.combine(local_day, period.end_time, tzinfo=tz)
    if policy.no_pass_first_minutes and now < start + timedelta(
        minutes=policy.no_pass_first_minutes
    ):
        raise RuleBlocked(
            ngettext(
                "No passes in the first minute of a period.",
                "No passes in the first %(num)d minutes of a period.",
                policy.no_pass_first_minutes,
            ),
            rule="no_pass_window",
            overridable=True,
        )
    if policy.no_pass_last_minutes and now >= end - timedelta(minutes=policy.no_pass_last_minutes):
        raise RuleBlocked(
            ngettext(
                "No passes in the last minute of a period.",
                "No passes in the last %(num)d minutes of a period.",
                policy.no_pass_last_minutes,
            ),
            rule="no_pass_window",
            overridable=True,
        )


def check_daily_limit(
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
            ngettext(
                "%(name)s has used their %(num)d pass for today.",
                "%(name)s has used all %(num)d passes for today.",
                limit,
                name=student.display_name,
            ),
            rule="daily_limit",
            overridable=True,
        )


def check_cooldown(policy: HallpassPolicy, student: Student, now: datetime) -> None:
    if not policy.cooldown_minutes:
        return
    last_return = db.session.scalar(
        select(func.max(HallPass.ended_at)).where(HallPass.student_id == student.id)
    )
    if last_return is not None and now - last_return < timedelta(minutes=policy.cooldown_minutes):
        raise RuleBlocked(
            ngettext(
                "%(name)s came back less than %(num)d minute ago.",
                "%(name)s came back less than %(num)d minutes ago.",
                policy.cooldown_minutes,
                name=student.display_name,
            ),
            rule="cooldown",
            overridable=True,
        )


def lock_school(school: School) -> HallpassPolicy:
    """Take the school's hall pass lock (its policy row, FOR UPDATE): see the lock order.

    The policy comes back as it is under the lock, so its sweep state is the truth for
    the rest of the transaction. On SQLite writers are serialised and this is a read.
    """

    def locked() -> HallpassPolicy | None:
        return db.session.scalars(
            select(HallpassPolicy)
            .where(HallpassPolicy.school_id == school.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).one_or_none()

    policy = locked()
    if policy is None:
        policy_for(school)  # the school's first hall pass write creates its policy
        policy = locked()
    # Kept for the session: its identity map holds objects weakly, and the rest of the
    # transaction reads the locked row (`room_cap_of`) without another statement.
    db.session.info.setdefault("hallpass_locked_policies", {})[school.id] = policy
    return policy


def claim_building_place(school: School, *, enforce: bool, refuse_in_sweep: bool = False) -> None:
    """Claim a place under the building cap (the school's lock, taken here if not held).

    `refuse_in_sweep` is for a pass start: the UPDATE itself checks that no sweep has
    begun, so a sweep that committed while this transaction waited for the lock is seen.
    """
    statement = update(HallpassPolicy).where(HallpassPolicy.school_id == school.id)
    if refuse_in_sweep:
        statement = statement.where(HallpassPolicy.sweep_started_at.is_(None))
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
        if refuse_in_sweep and db.session.scalar(
            select(HallpassPolicy.sweep_started_at).where(HallpassPolicy.school_id == school.id)
        ):
            raise RuleBlocked(SWEEP_MESSAGE, rule="sweep", overridable=False)
        raise RuleBlocked(
            _("The building is at its limit of students out of class. Try again shortly."),
            rule="building_cap",
            overridable=True,
        )


def room_cap_of(school: School, room_id: int | None = None) -> int | None:
    """The limit of students out at once from this classroom: its own, else the school's
    (None: no limit).

    From the room and the policy the request has already read (a pass start checks its
    room and reads its target; the school's lock), so asking costs no statement on the
    tablet's paths.
    """
    room = db.session.get(Room, room_id) if room_id is not None else None
    if room is not None and room.pass_cap is not None:
        return room.pass_cap
    policy = db.session.get(HallpassPolicy, school.id)
    return policy.room_cap if policy is not None else None


def check_room_cap(school: School, room_id: int | None, *, enforce: bool) -> None:
    """Refuse a pass from a classroom that already has its limit of students out.

    Counted, not claimed: the passes out from the room and the places held for its
    students at the head of a wait line ("ready"). The caller holds the school's lock
    (`claim_building_place` or `lock_school` ran first), so no other pass start or wait
    line of the school counts at the same time, and the count is exact.
    """
    if not enforce or room_id is None:
        return
    cap = room_cap_of(school, room_id)
    if cap is None:
        return
    out = db.session.scalar(
        select(func.count(HallPass.id)).where(
            HallPass.from_room_id == room_id, HallPass.status == "active"
        )
    ) + db.session.scalar(
        select(func.count(PassRequest.id)).where(
            PassRequest.from_room_id == room_id, PassRequest.status == "ready"
        )
    )
    if out >= cap:
        raise RuleBlocked(
            ngettext(
                "%(num)d student is already out of this classroom, its limit.",
                "%(num)d students are already out of this classroom, its limit.",
                out,
            ),
            rule="room_cap",
            overridable=True,
        )


def claim_destination_place(destination: Destination, *, enforce: bool) -> None:
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
            _("%(destination)s is full right now.", destination=destination.name),
            rule="capacity",
            overridable=False,
        )


def keep_apart_groups_of(school: School, student: Student, today: date) -> list[int]:
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


def claim_keep_apart_slots(group_ids: list[int], student: Student, *, enforce: bool) -> None:
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
                _(
                    "Another student who must not be out at the same time is out now. "
                    "Wait until they are back."
                ),
                rule="keep_apart",
                overridable=False,
            )


def release_places(school: School, hall_pass: HallPass | PassRequest) -> None:
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


def release_keep_apart(student_id: int) -> None:
    db.session.execute(
        update(KeepApartGroup)
        .where(KeepApartGroup.out_student_id == student_id)
        .values(out_student_id=None)
        .execution_options(synchronize_session=False)
    )


#: What a student is told when a rule refuses their own pass (no names, no staff notes).
STUDENT_MESSAGES = {
    "sweep": lazy_gettext("Passes are paused right now. Stay in class."),
    "no_pass_period": lazy_gettext(
        "No passes during this period. Ask your teacher if it is urgent."
    ),
    "no_pass_window": lazy_gettext(
        "No passes right now (start or end of the period). Ask your teacher."
    ),
    "daily_limit": lazy_gettext("You have used all your passes for today. Ask your teacher."),
    "cooldown": lazy_gettext("You came back a short while ago. Ask your teacher."),
    "building_cap": lazy_gettext(
        "Too many students are out of class right now. Try again shortly."
    ),
    "room_cap": lazy_gettext(
        "Too many students are out of this classroom right now. Wait until one is back."
    ),
    "capacity": lazy_gettext("That place is full right now. You can join the wait line."),
    "keep_apart": lazy_gettext("You cannot go right now. Ask your teacher."),
}


def student_message(blocked: RuleBlocked) -> str:
    """The refusal as a student may read it (rule messages can name the student)."""
    found = STUDENT_MESSAGES.get(blocked.rule)
    return str(found) if found else _("You cannot go right now. Ask your teacher.")


def load_room(school: School, room_id: int | None) -> Room | None:
    if room_id is None:
        return None
    return school_record(Room, room_id, school.id, _("No such room at this school."))


def check_no_sweep(policy: HallpassPolicy) -> None:
    """No pass starts, and nobody asks for one, while an emergency sweep is in progress."""
    if policy.sweep_started_at is not None:
        raise RuleBlocked(SWEEP_MESSAGE, rule="sweep", overridable=False)


def check_can_ask(school: School, student: Student) -> None:
    check_no_sweep(policy_for(school))
    if db.session.scalar(
        select(HallPass.id).where(HallPass.student_id == student.id, HallPass.status == "active")
    ):
        raise Conflict(_("%(name)s already has an active pass.", name=student.display_name))


OPEN = ("pending", "waiting", "ready")

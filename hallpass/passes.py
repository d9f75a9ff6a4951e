"""A pass's own life: start it, end it, check it in at its destination, and sweeps.

`start_pass` checks the rules (`rules`) and claims its places; ending a pass gives them
back and moves the destination's wait line on. During an emergency sweep no pass starts
and the office marks each student out as accounted for.
"""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from hallpass import office_calls, rules, tokens, wait_line
from hallpass.models import (
    EndedBy,
    HallPass,
    HallpassPolicy,
    PassRequest,
    PassSource,
)
from hallpass.policy import policy_for
from shared import audit, emergencies, live
from shared.access import of_school, school_record
from shared.audit import Actor
from shared.errors import Conflict, InvalidInput
from shared.extensions import db
from shared.models import Room, School
from shared.timeutil import local, utcnow


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
    called: bool = False,
    skip_limits: bool = False,
) -> HallPass:
    """Start a pass now, if every rule allows it (see the module docstring).

    `called` is for a call to the office (`office_calls`): the office asked for the
    student, so the rules a teacher may override (no-pass windows, daily limit, cooldown),
    the building and classroom caps, the destination's capacity and its wait line do not
    refuse it (the pass still counts everywhere); a sweep and keep-apart groups do.

    `place_held` is for a wait line's "ready" request only: its building and
    destination places were claimed when it became ready, so they are not claimed again,
    and the caller (`approve_request`) holds the school's lock, so the sweep state read
    here is the truth. Otherwise the building claim takes that lock (see `rules`).

    `skip_limits` is for an appointment released to a destination that allows it
    (`hallpass.appointments`): the no-pass windows and the daily limit are not checked.
    Every other rule, the sweep first, still is.
    """
    now = now or utcnow()
    going = rules.going_out(school, student_id)
    student = going.student
    target = rules.pass_target(school, destination_id)
    destination = target.destination
    if from_room_id is not None:
        school_record(Room, from_room_id, school.id, _("No such room at this school."))
    policy = target.policy or policy_for(school)
    rules.check_no_sweep(policy)  # checked again under the lock by the building claim
    if urgent and not destination.is_nurse:
        raise InvalidInput(_("Only a nurse pass can be marked urgent."))
    override_reason = (override_reason or "").strip() or None
    if override_reason is not None and actor.user is None:
        raise InvalidInput(_("Only staff can override a limit."))
    if going.has_active_pass:
        raise Conflict(_("%(name)s already has an active pass.", name=student.display_name))
    if not urgent and not called and override_reason is None:
        if not skip_limits:
            rules.check_no_pass_window(school, policy, now)
        if destination.counts_toward_limit and not skip_limits:
            rules.check_daily_limit(school, policy, student, going.own_limit, now)
        rules.check_cooldown(policy, student, now)
    if not urgent and not called and not place_held and target.has_wait_line:
        raise rules.RuleBlocked(
            _(
                "%(destination)s is full right now and has a wait line.",
                destination=destination.name,
            ),
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
        substitute_id=actor.substitute.id if actor.substitute else None,
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
                # Staff may override the building and classroom caps with a reason;
                # never a sweep. The office's call is not refused by any cap.
                cap = enforce and not called and override_reason is None
                rules.claim_building_place(school, enforce=cap, refuse_in_sweep=True)
                rules.check_room_cap(school, from_room_id, enforce=cap)
                rules.claim_destination_place(destination, enforce=enforce and not called)
            groups = rules.keep_apart_groups_of(school, student, today)
            rules.claim_keep_apart_slots(groups, student, enforce=enforce)
            db.session.add(hall_pass)
            db.session.flush()
    except IntegrityError:
        raise Conflict(
            _("%(name)s already has an active pass.", name=student.display_name)
        ) from None
    audit.record(
        "hallpass.start",
        school_id=school.id,
        actor=actor,
        target=hall_pass,
        detail={
            "destination_id": destination.id,
            "source": source,
            "urgent": urgent,
            "override_reason": override_reason,
        },
    )
    live.bump(school.id, rules.HALLWAY_TOPIC, rules.room_topic(from_room_id))
    if going.has_open_request:
        _close_open_requests(school, actor, student.id, now)
    return hall_pass


def end_pass(
    school: School, actor: Actor, *, pass_id: int, ended_by: str, now: datetime | None = None
) -> HallPass:
    """End an active pass and give back its places; ending twice is refused."""
    now = now or utcnow()
    hall_pass = school_record(HallPass, pass_id, school.id, _("No such pass at this school."))
    rules.lock_school(school)  # before the pass's row: the lock order (see `rules`)
    ended = db.session.scalars(  # the ended pass comes back with the UPDATE (no re-read)
        update(HallPass)
        .where(HallPass.id == hall_pass.id, HallPass.status == "active")
        .values(status="ended", ended_at=now, ended_by=ended_by)
        .returning(HallPass),
        execution_options={"synchronize_session": False, "populate_existing": True},
    ).one_or_none()
    if ended is None:
        raise Conflict(_("This pass has already ended."))
    after_end(school, hall_pass, now)
    audit.record(
        "hallpass.end",
        school_id=school.id,
        actor=actor,
        target=hall_pass,
        detail={"ended_by": ended_by},
    )
    return hall_pass


def after_end(school: School, hall_pass: HallPass, now: datetime) -> None:
    """A pass has ended: give back its places, move its destination's wait line on."""
    rules.release_places(school, hall_pass)
    rules.release_keep_apart(hall_pass.student_id)
    wait_line.advance_wait_line(school, hall_pass.destination_id, now)
    wait_line.advance_lines_of_room(school, hall_pass.from_room_id, now)
    # The office's list of calls shows when a call's pass ended: announced with the
    # hallway in the same upsert (no statement to find out whether a call started it).
    live.bump(
        school.id,
        rules.HALLWAY_TOPIC,
        rules.room_topic(hall_pass.from_room_id),
        office_calls.OFFICE_TOPIC,
    )


def is_overdue(hall_pass: HallPass, now: datetime) -> bool:
    """Out longer than the pass's time limit."""
    return now > hall_pass.due_at


def out_of_class(
    school_id: int,
    *,
    destination_id: int | None = None,
    overdue_only: bool = False,
    now: datetime | None = None,
) -> list[tuple[HallPass, bool]]:
    """Every active pass of the school with whether it is overdue, overdue first.

    The student, the room and the destination come in the same statement: the hallway
    screens poll this, and 70 students out must not mean 200 lazy loads.
    """
    now = now or utcnow()
    query = (
        select(HallPass)
        .where(HallPass.school_id == school_id, HallPass.status == "active")
        .options(
            joinedload(HallPass.student),
            joinedload(HallPass.from_room),
            joinedload(HallPass.destination),
        )
    )
    if destination_id:
        query = query.where(HallPass.destination_id == destination_id)
    passes = [(p, is_overdue(p, now)) for p in db.session.scalars(query)]
    if overdue_only:
        passes = [(p, overdue) for p, overdue in passes if overdue]
    passes.sort(key=lambda item: (not item[1], item[0].started_at))
    return passes


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
        raise Conflict(_("A sweep is already in progress."))
    out = students_out(school)
    audit.record(
        "hallpass.sweep_start", school_id=school.id, actor=actor, detail={"students_out": out}
    )
    live.bump(school.id, rules.HALLWAY_TOPIC)
    return out


def account_for(
    school: School, actor: Actor, *, pass_id: int, now: datetime | None = None
) -> HallPass:
    """During a sweep: a student out of class has been found; their pass ends."""
    now = now or utcnow()
    if policy_for(school).sweep_started_at is None:
        raise Conflict(_("There is no sweep in progress."))
    hall_pass = end_pass(school, actor, pass_id=pass_id, ended_by="sweep", now=now)
    hall_pass.accounted_at = now
    audit.record("hallpass.accounted_for", school_id=school.id, actor=actor, target=hall_pass)
    return hall_pass


def end_sweep(school: School, actor: Actor, *, for_emergency: bool = False) -> int:
    """Back to normal; returns how many students were still not accounted for.

    While an emergency event runs its sweep stays on: only the event's end ends it.
    """
    if not for_emergency and emergencies.running_event(school) is not None:
        raise Conflict(_("An emergency event is running: passes stay stopped until it ends."))
    ended = db.session.execute(
        update(HallpassPolicy)
        .where(HallpassPolicy.school_id == school.id, HallpassPolicy.sweep_started_at.is_not(None))
        .values(sweep_started_at=None)
        .execution_options(synchronize_session=False)
    )
    if ended.rowcount != 1:
        raise Conflict(_("There is no sweep in progress."))
    still_out = students_out(school)
    audit.record(
        "hallpass.sweep_end",
        school_id=school.id,
        actor=actor,
        detail={"not_accounted_for": still_out},
    )
    live.bump(school.id, rules.HALLWAY_TOPIC)
    return still_out


def start_for_emergency(school: School, actor: Actor, now: datetime) -> list[int]:
    """An emergency event started: no pass starts (the sweep) and every pass ends.

    Returns the students who were out, for their teachers' roll lists. The sweep's own
    path stops new passes (an already running sweep simply goes on), and each pass ends
    as `end_pass` ends one, giving back its places.
    """
    with suppress(Conflict):  # a sweep already on: passes are stopped already
        start_sweep(school, actor, now=now)
    out = []
    for hall_pass in _active(school):
        end_pass(school, actor, pass_id=hall_pass.id, ended_by=EndedBy.SWEEP, now=now)
        out.append(hall_pass.student_id)
    return out


def end_for_emergency(school: School, actor: Actor) -> None:
    """The emergency event ended: passes work again (its sweep ends)."""
    with suppress(Conflict):  # no sweep left on
        end_sweep(school, actor, for_emergency=True)


def _active(school: School) -> list[HallPass]:
    return list(
        db.session.scalars(
            select(HallPass)
            .where(HallPass.school_id == school.id, HallPass.status == "active")
            .order_by(HallPass.id)
        )
    )


def _close_open_requests(school: School, actor: Actor, student_id: int, now: datetime) -> None:
    """A student who just went out has no request left open (a held place goes on)."""
    for pass_request in db.session.scalars(
        select(PassRequest).where(
            PassRequest.student_id == student_id, PassRequest.status.in_(rules.OPEN)
        )
    ).all():
        if wait_line.close_request(school, pass_request, "cancelled", now=now):
            audit.record(
                "hallpass.request_cancel",
                school_id=school.id,
                actor=actor,
                target=pass_request,
                detail={"why": "a pass started"},
            )


# --------------------------------------------------------------- arrival check-in


def check_in(
    school: School,
    actor: Actor,
    *,
    token: str,
    room_id: int | None,
    now: datetime | None = None,
) -> HallPass:
    """The destination's kiosk scanned a pass QR: record when the student arrived."""
    now = now or utcnow()
    hall_pass = of_school(
        tokens.pass_by_token(token), school.id, _("That is not a pass of this school.")
    )
    if hall_pass.status != "active":
        raise Conflict(_("This pass has already ended."))
    if room_id is None or hall_pass.destination.room_id != room_id:
        raise InvalidInput(
            _(
                "This pass is for %(destination)s, not this room.",
                destination=hall_pass.destination.name,
            )
        )
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
            actor=actor,
            target=hall_pass,
            detail={"destination_id": hall_pass.destination_id},
        )
        topics = [rules.room_topic(hall_pass.from_room_id)]
        if hall_pass.source == PassSource.APPOINTMENT:
            topics.append(rules.APPOINTMENTS_TOPIC)  # the scheduler's list shows "arrived"
        live.bump(school.id, rules.HALLWAY_TOPIC, *topics)
        office_calls.pass_arrived(school, actor, hall_pass, now)
    return hall_pass

"""A day's dismissal: starting and ending it, the classroom's "sent", buses and walkers.

Plain functions taking the school, the actor (`shared.audit.Actor`: a staff member
and/or a paired device) and the objects they act on. They flush and never commit: the
request commits once.
Every write is audited and bumps the school's "dismissal" live version
(`carline.recording`); a broken rule raises a `shared.errors.DomainError`.

Writers of one dismissal take turns on its row (`lock_open`): PostgreSQL locks it
(`SELECT ... FOR NO KEY UPDATE`), and SQLite already holds the database write lock
from `BEGIN IMMEDIATE` (see `shared.database`), so call these (and the curb's writes,
`carline.curb`) in a writing request or inside `write_intent()`. Under that lock "is
this student already called?" followed by an insert is safe. Taking back calls and
sending a group at once ("send all", its undo) are in `carline.sending`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from flask_babel import gettext as _
from flask_babel import lazy_gettext
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from carline.day_plans import check_route, day_plans, plans_of
from carline.models import GONE_STATUSES, MAX_LANES, MAX_SPOTS_PER_LANE, CalledStudent, Dismissal
from carline.recording import record
from shared.audit import Actor
from shared.errors import Conflict, InvalidInput, NotFound
from shared.extensions import db
from shared.models import School, Student
from shared.schedule import school_today
from shared.timeutil import utcnow

NOT_STARTED = lazy_gettext("Dismissal has not started yet today. The office starts it.")
#: How long after a bus call, a walker release or a "send all" the office or teacher may undo it.
UNDO_WINDOW = timedelta(minutes=1)
#: The reasons a student is a late pickup (`LatePickup.reason`), in the order they are counted.
LATE_REASONS = ("called", "not_called", "no_plan")


@dataclass(frozen=True)
class LatePickup:
    """A student still at school when the dismissal ended."""

    student: Student
    #: "called" (called, not loaded or released), "not_called" or "no_plan".
    reason: str
    call: CalledStudent | None


def todays_dismissal(school: School) -> Dismissal | None:
    """The school's dismissal of today (running or ended), if it was started."""
    return db.session.scalar(
        select(Dismissal).where(
            Dismissal.school_id == school.id, Dismissal.day == school_today(school)
        )
    )


def start_dismissal(
    school: School, actor: Actor, lanes: int, spots_per_lane: int, today: date
) -> Dismissal:
    """Start the school's car line for the day, with its lanes and loading spots."""
    if lanes not in range(1, MAX_LANES + 1):
        raise InvalidInput(_("Lanes: 1 to %(max)d.", max=MAX_LANES), field="lanes")
    if spots_per_lane not in range(1, MAX_SPOTS_PER_LANE + 1):
        raise InvalidInput(
            _("Loading spots per lane: 1 to %(max)d.", max=MAX_SPOTS_PER_LANE),
            field="spots_per_lane",
        )
    dismissal = Dismissal(
        school_id=school.id,
        day=today,
        lanes=lanes,
        spots_per_lane=spots_per_lane,
        last_position=0,
        started_by_id=actor.user.id if actor.user else None,
    )
    try:
        with db.session.begin_nested():
            db.session.add(dismissal)
    except IntegrityError:
        raise Conflict(_("Dismissal was already started today.")) from None
    record(
        "dismissal_start",
        school,
        dismissal,
        actor=actor,
        day=today.isoformat(),
        lanes=lanes,
        spots_per_lane=spots_per_lane,
    )
    return dismissal


def lock_open(school: School, dismissal_id: int | None = None) -> Dismissal:
    """The school's dismissal (today's by default), fresh and locked until the transaction
    ends; it must be open."""
    query = select(Dismissal).where(Dismissal.school_id == school.id)
    if dismissal_id is None:
        query = query.where(Dismissal.day == school_today(school))
    else:
        query = query.where(Dismissal.id == dismissal_id)
    # PostgreSQL: one curb entry per dismissal at a time.
    query = query.with_for_update().execution_options(populate_existing=True)
    dismissal = db.session.scalar(query)
    if dismissal is None and dismissal_id is None:
        raise Conflict(NOT_STARTED)
    if dismissal is None:
        raise NotFound(_("No such dismissal."))
    if dismissal.ended_at is not None:
        raise Conflict(_("This dismissal has ended."))
    return dismissal


def end_dismissal(school: School, dismissal: Dismissal, *, actor: Actor) -> list[LatePickup]:
    """Close the day's dismissal; the students still at school (late pickups).

    The audit entry holds the counts, and so does the dismissal (what the reports show of
    the day, whatever changes later); who they are stays readable from the day's records
    (`late_pickups`, the office's list and the dismissal's CSV).
    """
    dismissal = lock_open(school, dismissal.id)
    dismissal.ended_at = utcnow()
    late = late_pickups(dismissal)
    by_reason = Counter(p.reason for p in late)
    dismissal.late_pickups = len(late)
    dismissal.late_by_reason = {reason: by_reason[reason] for reason in LATE_REASONS}
    db.session.flush()
    record(
        "dismissal_end",
        school,
        dismissal,
        actor=actor,
        late_pickups=len(late),
        **{f"late_{reason}": by_reason[reason] for reason in LATE_REASONS},
    )
    return late


def reopen_dismissal(school: School, dismissal: Dismissal, *, actor: Actor) -> Dismissal:
    """Reopen today's ended dismissal: the curb takes entries again (never another day's)."""
    dismissal = db.session.scalar(
        select(Dismissal)
        .where(Dismissal.school_id == school.id, Dismissal.id == dismissal.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if dismissal is None:
        raise NotFound(_("No such dismissal."))
    if dismissal.ended_at is None:
        raise Conflict(_("This dismissal is still running."))
    if dismissal.day != school_today(school):
        raise Conflict(_("Only today's dismissal can be reopened."))
    ended_at, dismissal.ended_at = dismissal.ended_at, None
    dismissal.late_pickups = dismissal.late_by_reason = None  # counted again at the next end
    db.session.flush()
    record("dismissal_reopen", school, dismissal, actor=actor, ended_at=ended_at.isoformat())
    return dismissal


def late_pickups(dismissal: Dismissal) -> list[LatePickup]:
    """Students present today who have not been loaded or released, by name.

    The one definition of a late pickup: the office's end-of-day list and the reports'
    "not picked up" (`carline.reports`) both count it. A late pickup is a student of the
    school, not absent, who is neither loaded nor released in this dismissal and is not
    signed out early or sent to after-care: called and not gone ("called"), never called
    though riding a car, a bus or walking ("not_called"), or without a plan ("no_plan").
    """
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
            if call.status not in GONE_STATUSES:
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


def mark_sent(
    school: School,
    call: CalledStudent,
    *,
    actor: Actor,
) -> CalledStudent:
    """The teacher sent the student out: to the car (sent) or to the bus or door (released)."""
    lock_open(school, call.dismissal_id)
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
    record(
        "sent",
        school,
        call,
        actor=actor,
        student_id=call.student_id,
        status=call.status,
    )
    return call


def call_bus(
    school: School,
    dismissal: Dismissal,
    route: str,
    *,
    actor: Actor,
) -> list[CalledStudent]:
    """The bus arrived: call its riders today who are not called yet."""
    route = check_route(route)
    dismissal = lock_open(school, dismissal.id)
    riders = [
        sid
        for sid, plan in day_plans(school.id, dismissal.day).items()
        if plan.mode == "bus" and plan.bus_route == route and plan.early_pickup is None
    ]
    if not riders:
        raise InvalidInput(_("No student rides bus %(route)s today.", route=route), field="route")
    calls = _call_all(dismissal, riders, mode="bus", bus_route=route)
    if calls:
        record(
            "bus_call",
            school,
            dismissal,
            actor=actor,
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
    actor: Actor,
) -> list[CalledStudent]:
    """Call today's walkers (of one grade, some grades, or all) who are not called yet.

    `grades` releases several grades at once (a door's grades); `door` names the door
    in the audit log.
    """
    if grade is not None and grades is not None:
        raise InvalidInput(_("Choose one grade or a door, not both."), field="grade")
    chosen = [grade] if grade is not None else None
    if grades is not None:
        chosen = sorted({g.strip() for g in grades if g and g.strip()})
        if not chosen:
            raise InvalidInput(_("This door has no grades to release."), field="grades")
    dismissal = lock_open(school, dismissal.id)
    students = select(Student.id).where(Student.school_id == school.id, Student.active.is_(True))
    if chosen is not None:
        students = students.where(Student.grade.in_(chosen))
    walkers = [
        sid
        for sid, plan in plans_of(students, dismissal.day).items()
        if plan.mode == "walker" and plan.early_pickup is None
    ]
    calls = _call_all(dismissal, walkers, mode="walker", bus_route=None)
    if calls:
        record(
            "walkers_release",
            school,
            dismissal,
            actor=actor,
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
    now = utcnow()  # one time for the whole group: it is undone as one (`undo_calls`)
    calls = [
        CalledStudent(
            dismissal_id=dismissal.id,
            student_id=sid,
            mode=mode,
            bus_route=bus_route,
            status="called",
            called_at=now,
        )
        for sid in sorted(set(student_ids) - already)
    ]
    db.session.add_all(calls)
    db.session.flush()
    return calls

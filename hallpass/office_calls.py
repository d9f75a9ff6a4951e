"""Calls to the office: the office calls a student out of class, the class teacher sends them.

Schools call students down ("come to the office now"), sometimes to go home early
("bring your things"). Paper and the PA do it today; here the call goes to the tablet of
the room where the bell schedule says the student is now (`student_class_now`), the
teacher sends the student with one tap (the pass starts) or answers "not in class", the
hallway view shows the student on the way, and the office sees them arrive. A student
with no class now: the call waits at the office as "no class now", and the office tries
their class again later.

A call is its own record (`OfficeCall`), not a student's request: the office, not the
student, asks, and the call's life (who called, the note, "bring your things", the
teacher's answer, the arrival) is the office's. The pass a Send starts is the teacher's
(source "teacher", issued by them) and the call names it.

The rules. The office asked, so a call's pass is not refused by the rules a teacher may
override (no-pass windows, the daily limit, the cooldown), nor by the building cap, the
classroom cap or the office destination's capacity or wait line: it still counts in all
of them, so the numbers stay true. An emergency sweep refuses both the call and the
Send, and a keep-apart group still keeps its students apart (a safety rule nobody
overrides but an urgent nurse pass). See `passes.start_pass(called=True)`.

"Bring your things" is recorded in the car line's plans when the call is made (the
car line contributes `early_pickups`: today's plan says picked up early at that time);
cancelling the call leaves that plan as it is, for the office to change on the
student's plan page if the pickup is off.

Every write takes the school's hall pass lock first (`rules.lock_school`, the lock
order of `rules`), so a Send, a "not in class" and a cancel of one call are serialised
and only the first one counts; each is audited and bumps the live topics that show it:
the office's list (`OFFICE_TOPIC`), the class's room and, through the pass, the hallway.
"""

from __future__ import annotations

from datetime import datetime

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from hallpass import passes, rules
from hallpass.models import CallStatus, Destination, HallPass, OfficeCall
from shared import audit, live
from shared.access import school_record
from shared.audit import Actor
from shared.contributions import contributions
from shared.errors import Conflict, InvalidInput
from shared.extensions import db
from shared.models import Room, School
from shared.schedule import school_day_bounds, student_class_now
from shared.timeutil import utcnow

#: The live topic of the office's list of today's calls.
OFFICE_TOPIC = "office_calls"
NOTE_LENGTH = 300


def office_destinations(school_id: int) -> list[Destination]:
    """The school's active destinations that are an office room: where a call may send."""
    return list(
        db.session.scalars(
            select(Destination)
            .join(Room, Room.id == Destination.room_id)
            .where(
                Destination.school_id == school_id,
                Destination.active.is_(True),
                Room.kind == "office",
            )
            .order_by(Destination.name)
        )
    )


def _office_destination(school: School, destination_id: int | None) -> Destination:
    found = next((d for d in office_destinations(school.id) if d.id == destination_id), None)
    if found is None:
        raise InvalidInput(_("Choose which office the student comes to."), field="destination_id")
    return found


def _bump(school: School, call: OfficeCall) -> None:
    """Announce a change of the call: the office's list, and its room's tablet."""
    topics = [OFFICE_TOPIC]
    if call.from_room_id is not None:
        topics.append(rules.room_topic(call.from_room_id))
    live.bump(school.id, *topics)


def call_student(
    school: School,
    actor: Actor,
    *,
    student_id: int,
    destination_id: int | None,
    note: str = "",
    bring_things: bool = False,
    now: datetime | None = None,
) -> OfficeCall:
    """The office calls a student to one of its destinations; their class's tablet shows it."""
    now = now or utcnow()
    student = rules.load_student(school, student_id)
    destination = _office_destination(school, destination_id)
    note = " ".join((note or "").split())
    if len(note) > NOTE_LENGTH:
        raise InvalidInput(
            ngettext(
                "Note: at most %(num)d character.", "Note: at most %(num)d characters.", NOTE_LENGTH
            ),
            field="note",
        )
    rules.check_no_sweep(rules.lock_school(school))
    section = student_class_now(school, student.id, now)
    call = OfficeCall(
        school_id=school.id,
        student_id=student.id,
        destination_id=destination.id,
        from_room_id=section.room_id if section else None,
        status=CallStatus.CALLED.value,
        bring_things=bring_things,
        note=note,
        called_by_id=actor.user.id if actor.user else None,
        created_at=now,
    )
    try:
        with db.session.begin_nested():
            db.session.add(call)
            db.session.flush()
    except IntegrityError:
        raise Conflict(
            _("%(name)s has already been called and is waiting.", name=student.display_name)
        ) from None
    audit.record(
        "hallpass.office_call",
        school_id=school.id,
        actor=actor,
        target=call,
        detail={
            "student_id": student.id,
            "destination_id": destination.id,
            "from_room_id": call.from_room_id,
            "bring_things": bring_things,
        },
    )
    if bring_things:
        for record_early_pickup in contributions().early_pickups:
            record_early_pickup(school, actor, student, now)
    _bump(school, call)
    return call


def load_call(school: School, call_id: int) -> OfficeCall:
    """A call of this school (404 otherwise)."""
    return school_record(OfficeCall, call_id, school.id, _("No such call at this school."))


def _locked_waiting(school: School, call_id: int) -> OfficeCall:
    """The call, read again under the school's lock, still waiting for an answer."""
    call = load_call(school, call_id)
    rules.lock_school(school)
    db.session.refresh(call)
    if call.status != CallStatus.CALLED:
        raise Conflict(_("This call has already been answered."))
    return call


def _answered(call: OfficeCall, status: CallStatus, actor: Actor, now: datetime) -> None:
    call.status = status.value
    call.answered_by_id = actor.user.id if actor.user else None
    call.answered_at = now
    db.session.flush()


def send(school: School, actor: Actor, *, call_id: int, now: datetime | None = None) -> HallPass:
    """The class teacher taps Send: the pass to the office starts (see the module's rules).

    A refusal (a sweep, a keep-apart group, a pass already out) raises and the caller's
    rollback leaves the call waiting.
    """
    now = now or utcnow()
    call = _locked_waiting(school, call_id)
    if call.from_room_id is None:
        raise Conflict(_("This student has no class now: the call waits at the office."))
    hall_pass = passes.start_pass(
        school,
        actor,
        student_id=call.student_id,
        destination_id=call.destination_id,
        from_room_id=call.from_room_id,
        source="teacher",
        now=now,
        called=True,
    )
    _answered(call, CallStatus.SENT, actor, now)
    call.pass_id = hall_pass.id
    db.session.flush()
    audit.record(
        "hallpass.office_call_send",
        school_id=school.id,
        actor=actor,
        target=call,
        detail={"pass_id": hall_pass.id},
    )
    _bump(school, call)
    return hall_pass


def not_in_class(
    school: School, actor: Actor, *, call_id: int, now: datetime | None = None
) -> OfficeCall:
    """The class teacher answers that the student is not in class (absent, not here)."""
    now = now or utcnow()
    call = _locked_waiting(school, call_id)
    _answered(call, CallStatus.NOT_HERE, actor, now)
    audit.record("hallpass.office_call_not_here", school_id=school.id, actor=actor, target=call)
    _bump(school, call)
    return call


def cancel(
    school: School, actor: Actor, *, call_id: int, now: datetime | None = None
) -> OfficeCall:
    """The office takes back a call not yet sent (a sent student is already on the way)."""
    now = now or utcnow()
    call = _locked_waiting(school, call_id)
    _answered(call, CallStatus.CANCELLED, actor, now)
    audit.record("hallpass.office_call_cancel", school_id=school.id, actor=actor, target=call)
    _bump(school, call)
    return call


def try_class_again(
    school: School, actor: Actor, *, call_id: int, now: datetime | None = None
) -> OfficeCall:
    """A call that waits as "no class now" goes to the class the student has now."""
    now = now or utcnow()
    call = _locked_waiting(school, call_id)
    section = student_class_now(school, call.student_id, now)
    room_id = section.room_id if section else None
    if room_id is None:
        raise Conflict(_("This student still has no class now."))
    old_room_id, call.from_room_id = call.from_room_id, room_id
    db.session.flush()
    audit.record(
        "hallpass.office_call_route",
        school_id=school.id,
        actor=actor,
        target=call,
        detail={"from_room_id": room_id},
    )
    if old_room_id and old_room_id != room_id:
        live.bump(school.id, rules.room_topic(old_room_id))
    _bump(school, call)
    return call


def _arrived(school: School, actor: Actor, call: OfficeCall, now: datetime) -> bool:
    """Mark a sent call arrived (once: a conditional UPDATE); audited and announced."""
    changed = db.session.execute(
        update(OfficeCall)
        .where(OfficeCall.id == call.id, OfficeCall.status == CallStatus.SENT)
        .values(status=CallStatus.ARRIVED.value, arrived_at=now)
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:
        return False
    db.session.refresh(call)
    audit.record("hallpass.office_call_arrive", school_id=school.id, actor=actor, target=call)
    _bump(school, call)
    return True


def mark_arrived(
    school: School, actor: Actor, *, call_id: int, now: datetime | None = None
) -> OfficeCall:
    """The office sees the student arrive: the call and its pass say so."""
    now = now or utcnow()
    call = load_call(school, call_id)
    rules.lock_school(school)
    if not _arrived(school, actor, call, now):
        db.session.refresh(call)
        raise Conflict(
            _("This student has already arrived.")
            if call.status == CallStatus.ARRIVED
            else _("This student has not been sent yet.")
        )
    if call.pass_id is not None:
        recorded = db.session.execute(
            update(HallPass)
            .where(HallPass.id == call.pass_id, HallPass.arrived_at.is_(None))
            .values(arrived_at=now)
            .execution_options(synchronize_session=False)
        )
        if recorded.rowcount:
            live.bump(school.id, rules.HALLWAY_TOPIC)
    return call


def pass_arrived(school: School, actor: Actor, hall_pass: HallPass, now: datetime) -> None:
    """The office's kiosk checked the pass in (`passes.check_in`): its call has arrived."""
    call = db.session.scalar(
        select(OfficeCall).where(
            OfficeCall.pass_id == hall_pass.id, OfficeCall.status == CallStatus.SENT
        )
    )
    if call is not None:
        _arrived(school, actor, call, now)


def end_call_pass(school: School, actor: Actor, *, call_id: int) -> HallPass:
    """The office ends the pass of a call (the student went home, or back to class)."""
    call = load_call(school, call_id)
    if call.pass_id is None:
        raise Conflict(_("This call has no pass."))
    hall_pass = passes.end_pass(school, actor, pass_id=call.pass_id, ended_by="staff")
    live.bump(school.id, OFFICE_TOPIC)
    return hall_pass


def calls_today(school: School, now: datetime | None = None) -> list[OfficeCall]:
    """Today's calls of the school, the newest first, with what the list shows of each."""
    day_start, day_end = school_day_bounds(school, now or utcnow())
    return list(
        db.session.scalars(
            select(OfficeCall)
            .where(
                OfficeCall.school_id == school.id,
                OfficeCall.created_at >= day_start,
                OfficeCall.created_at < day_end,
            )
            .options(
                joinedload(OfficeCall.student),
                joinedload(OfficeCall.destination),
                joinedload(OfficeCall.from_room),
                joinedload(OfficeCall.answered_by),
                joinedload(OfficeCall.hall_pass),
            )
            .order_by(OfficeCall.created_at.desc(), OfficeCall.id.desc())
        )
    )


def room_calls(school: School, room_id: int) -> list[OfficeCall]:
    """The calls waiting for this room's Send, the oldest first."""
    return list(
        db.session.scalars(
            select(OfficeCall)
            .where(
                OfficeCall.school_id == school.id,
                OfficeCall.from_room_id == room_id,
                OfficeCall.status == CallStatus.CALLED,
            )
            .options(joinedload(OfficeCall.student), joinedload(OfficeCall.destination))
            .order_by(OfficeCall.created_at, OfficeCall.id)
        )
    )


def call_passes(school_id: int, pass_ids: list[int]) -> dict[int, OfficeCall]:
    """Which of these passes a call to the office started (the hallway marks them)."""
    if not pass_ids:
        return {}
    calls = db.session.scalars(
        select(OfficeCall).where(
            OfficeCall.school_id == school_id, OfficeCall.pass_id.in_(pass_ids)
        )
    )
    return {call.pass_id: call for call in calls}

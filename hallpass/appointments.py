"""Appointments: passes staff schedule ahead (a counselor at 10:15, a make-up test in the
library), which the student's class teacher at that time releases on the tablet.

Scheduling checks each occurrence (a weekly repeat makes one row per week) and refuses
the whole set on the first conflict: the time is outside the bell schedule, the student
has no class then (no tablet would see it), has another appointment that overlaps, or is
away that day (absent, or picked up early before then: the blueprints' `students_away`).

Which tablet sees an appointment is found when read, not stored: the class the student
is enrolled in for the appointment's bell period, and that class's room. Release starts a
pass through `passes.start_pass` (source "appointment", so every rule of a pass applies,
the sweep first); a destination may let its appointments skip the daily limit and the
no-pass windows (`Destination.appointments_skip_limits`). The status leaves `scheduled`
only by a conditional UPDATE, after the pass start took the school's lock (the lock order
in `rules`), so two taps on Release start one pass. An appointment nobody released
within NO_SHOW_MINUTES of its time reads as a no-show at once and is marked so by
housekeeping (`mark_no_shows`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlalchemy import and_, select, update
from sqlalchemy.orm import joinedload

from hallpass import rules
from hallpass.models import Appointment, AppointmentStatus, Destination, PassSource
from hallpass.passes import start_pass
from shared import audit, live
from shared.access import school_record
from shared.audit import Actor
from shared.contributions import contributions
from shared.errors import Conflict, Forbidden, InvalidInput
from shared.extensions import db
from shared.formats import format_date
from shared.models import BellPeriod, Enrollment, School, SchoolClass, Student
from shared.schedule import current_period, taught_room_ids
from shared.timeutil import utcnow

#: The tablet may release an appointment this many minutes before its time.
RELEASE_EARLY_MINUTES = 10
#: Not released this many minutes after its time: a no-show.
NO_SHOW_MINUTES = 15
#: A weekly repeat makes at most this many occurrences (a school year is ~36 weeks).
MAX_OCCURRENCES = 40
NOTE_LENGTH = 500
REASON_LENGTH = 300
#: Who may schedule to any destination; others only as `check_may_schedule` says.
SCHEDULE_ANYWHERE_ROLES = ("admin", "office")
#: Non-teaching staff (counselor, nurse): any destination that is not a classroom.
SUPPORT_STAFF_ROLES = ("staff",)


@dataclass(frozen=True)
class When:
    """What the scheduler asked for: a day and a time, or a day and a bell period."""

    day: date
    at: time | None = None
    period: str | None = None
    #: Repeat weekly on the same weekday until this day (inclusive); None = once.
    repeat_until: date | None = None


def check_may_schedule(principal, destination: Destination) -> None:
    """Admins and the office: anywhere. Support staff (counselor, nurse): any destination
    that is not a classroom. A teacher: a destination in a room where they teach."""
    if principal.has_role(*SCHEDULE_ANYWHERE_ROLES):
        return
    room = destination.room
    if principal.has_role(*SUPPORT_STAFF_ROLES) and (room is None or room.kind != "classroom"):
        return
    if (
        room is not None
        and principal.user is not None
        and db.session.scalar(
            select(
                taught_room_ids(principal.user.id).where(SchoolClass.room_id == room.id).exists()
            )
        )
    ):
        return
    raise Forbidden(_("You may schedule appointments only to your own room."))


def _occurrences(school: School, when: When) -> list[tuple[datetime, str]]:
    """Each occurrence's start (aware, on the school's wall clock; stored in UTC) and bell
    period, checked against the bell schedule."""
    days = [when.day]
    if when.repeat_until is not None:
        if when.repeat_until < when.day:
            raise InvalidInput(_("Repeat until: choose a day after the first."), field="until")
        while days[-1] + timedelta(days=7) <= when.repeat_until:
            days.append(days[-1] + timedelta(days=7))
            if len(days) > MAX_OCCURRENCES:
                raise InvalidInput(
                    _("A repeat makes at most %(num)d appointments.", num=MAX_OCCURRENCES),
                    field="until",
                )
    if not when.period and when.at is None:
        raise InvalidInput(_("Choose a time or a period."), field="time")
    tz = ZoneInfo(school.timezone)
    found = []
    for day in days:
        if when.period:
            period = db.session.scalar(
                select(BellPeriod).where(
                    BellPeriod.school_id == school.id,
                    BellPeriod.weekday == day.weekday(),
                    BellPeriod.name == when.period,
                )
            )
            starts = datetime.combine(day, period.start_time, tzinfo=tz) if period else None
        else:
            starts = datetime.combine(day, when.at, tzinfo=tz)
            period = current_period(school, starts)
        if period is None:
            raise InvalidInput(
                _("%(day)s: that time is outside the bell schedule.", day=_day(day)),
                field="time",
            )
        found.append((starts, period.name))
    return found


def _day(day: date) -> str:
    return format_date(day)


def class_room_id(school: School, student_id: int, period: str) -> int | None:
    """The room of the student's class in this bell period (whose tablet releases them)."""
    return db.session.scalar(
        select(SchoolClass.room_id)
        .join(Enrollment, Enrollment.class_id == SchoolClass.id)
        .where(
            Enrollment.student_id == student_id,
            SchoolClass.school_id == school.id,
            SchoolClass.period == period,
            SchoolClass.active.is_(True),
            SchoolClass.room_id.is_not(None),
        )
        .order_by(SchoolClass.id)
        .limit(1)
    )


def _check_conflicts(
    school: School, student: Student, destination: Destination, starts: datetime, period: str
) -> None:
    """Refuse an occurrence the student cannot keep (see the module docstring)."""
    name, day = student.display_name, _day(starts.date())
    if class_room_id(school, student.id, period) is None:
        raise InvalidInput(
            _(
                "%(day)s: %(name)s has no class in period %(period)s to be sent from.",
                day=day,
                name=name,
                period=period,
            )
        )
    for why in (away(school, starts) for away in contributions().students_away):
        if student.id in why:
            raise InvalidInput(
                _("%(day)s: %(name)s is away: %(why)s.", day=day, name=name, why=why[student.id])
            )
    ends = starts + timedelta(minutes=destination.time_limit_minutes)
    for other in db.session.scalars(
        select(Appointment)
        .where(
            Appointment.student_id == student.id,
            Appointment.day == starts.date(),
            Appointment.status.in_((AppointmentStatus.SCHEDULED, AppointmentStatus.RELEASED)),
        )
        .options(joinedload(Appointment.destination))
    ):
        other_ends = other.starts_at + timedelta(minutes=other.destination.time_limit_minutes)
        if other.starts_at < ends and starts < other_ends:
            raise InvalidInput(
                _(
                    "%(day)s: %(name)s already has an appointment then (%(destination)s).",
                    day=day,
                    name=name,
                    destination=other.destination.name,
                )
            )


def schedule(
    school: School,
    actor: Actor,
    principal,
    *,
    student_id: int,
    destination_id: int,
    when: When,
    note: str = "",
    now: datetime | None = None,
) -> list[Appointment]:
    """Schedule an appointment (or a weekly series): all occurrences, or none."""
    now = now or utcnow()
    student = rules.load_student(school, student_id)
    destination = rules.load_destination(school, destination_id)
    check_may_schedule(principal, destination)
    note = (note or "").strip()
    if len(note) > NOTE_LENGTH:
        raise InvalidInput(_("Note: at most %(num)d characters.", num=NOTE_LENGTH), field="note")
    occurrences = _occurrences(school, when)
    if occurrences[0][0] < now:
        raise InvalidInput(_("That time has already passed."), field="time")
    for starts, period in occurrences:
        _check_conflicts(school, student, destination, starts, period)
    series = secrets.token_hex(8) if len(occurrences) > 1 else None
    made = [
        Appointment(
            school_id=school.id,
            student_id=student.id,
            destination_id=destination.id,
            scheduled_by_id=actor.user.id if actor.user else None,
            starts_at=starts,
            day=starts.date(),
            period=period,
            note=note,
            status=AppointmentStatus.SCHEDULED,
            series=series,
        )
        for starts, period in occurrences
    ]
    db.session.add_all(made)
    db.session.flush()
    for appointment in made:
        audit.record(
            "hallpass.appointment_schedule",
            school_id=school.id,
            actor=actor,
            target=appointment,
            detail={"destination_id": destination.id, "series": series},
        )
    _bump(school, made[0])
    return made


def _bump(school: School, appointment: Appointment) -> None:
    """The schedulers' lists, and the tablet of the student's class, change."""
    room_id = class_room_id(school, appointment.student_id, appointment.period)
    live.bump(school.id, rules.APPOINTMENTS_TOPIC, rules.room_topic(room_id))


def get_appointment(school: School, appointment_id: int) -> Appointment:
    return school_record(
        Appointment, appointment_id, school.id, _("No such appointment at this school.")
    )


def is_no_show(appointment: Appointment, now: datetime) -> bool:
    """Scheduled, and its time is more than NO_SHOW_MINUTES past."""
    return appointment.status == AppointmentStatus.NO_SHOW or (
        appointment.status == AppointmentStatus.SCHEDULED
        and now > appointment.starts_at + timedelta(minutes=NO_SHOW_MINUTES)
    )


def is_due(appointment: Appointment, now: datetime) -> bool:
    """The tablet may release it now."""
    return (
        appointment.status == AppointmentStatus.SCHEDULED
        and appointment.starts_at - timedelta(minutes=RELEASE_EARLY_MINUTES) <= now
        and not is_no_show(appointment, now)
    )


def shown_status(appointment: Appointment, now: datetime) -> str:
    """What the scheduler's list says: a status, "no_show" when read late, or "arrived"."""
    if is_no_show(appointment, now):
        return AppointmentStatus.NO_SHOW
    if appointment.hall_pass is not None and appointment.hall_pass.arrived_at is not None:
        return "arrived"
    return appointment.status


def _move(appointment: Appointment, actor: Actor, now: datetime, status: str, **values) -> bool:
    """Move a scheduled appointment on, if nobody did first (one conditional UPDATE)."""
    moved = db.session.execute(
        update(Appointment)
        .where(Appointment.id == appointment.id, Appointment.status == AppointmentStatus.SCHEDULED)
        .values(
            status=status,
            decided_by_id=actor.user.id if actor.user else None,
            decided_at=now,
            **values,
        )
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(appointment)
    return moved.rowcount == 1


def _check_open(appointment: Appointment, now: datetime) -> None:
    if is_no_show(appointment, now):
        raise Conflict(_("This appointment's time has passed: it is a no-show."))
    if appointment.status != AppointmentStatus.SCHEDULED:
        raise Conflict(_("This appointment was already released, declined or cancelled."))


def release(
    school: School,
    actor: Actor,
    *,
    appointment_id: int,
    override_reason: str | None = None,
    now: datetime | None = None,
):
    """The class teacher lets the student go: a pass starts (see the module docstring)."""
    now = now or utcnow()
    appointment = get_appointment(school, appointment_id)
    _check_open(appointment, now)
    if not is_due(appointment, now):
        raise Conflict(
            _(
                "Not yet: this appointment can be released from %(num)d minutes before its time.",
                num=RELEASE_EARLY_MINUTES,
            )
        )
    destination = appointment.destination
    hall_pass = start_pass(
        school,
        actor,
        student_id=appointment.student_id,
        destination_id=destination.id,
        from_room_id=class_room_id(school, appointment.student_id, appointment.period),
        source=PassSource.APPOINTMENT,
        override_reason=override_reason,
        now=now,
        skip_limits=destination.appointments_skip_limits,
    )
    # After the pass start took the school's lock: a second tap waits for it, then finds
    # the status moved (or the student's active pass), and its transaction rolls back.
    if not _move(appointment, actor, now, AppointmentStatus.RELEASED, pass_id=hall_pass.id):
        raise Conflict(_("This appointment was already released, declined or cancelled."))
    audit.record(
        "hallpass.appointment_release",
        school_id=school.id,
        actor=actor,
        target=appointment,
        detail={"pass_id": hall_pass.id},
    )
    live.bump(school.id, rules.APPOINTMENTS_TOPIC)
    return hall_pass


def decline(
    school: School, actor: Actor, *, appointment_id: int, reason: str, now: datetime | None = None
) -> Appointment:
    """The class teacher keeps the student in class, saying why (the scheduler reads it)."""
    now = now or utcnow()
    reason = " ".join((reason or "").split())
    if not reason or len(reason) > REASON_LENGTH:
        raise InvalidInput(
            _("Reason: enter 1 to %(num)d characters.", num=REASON_LENGTH), field="reason"
        )
    appointment = get_appointment(school, appointment_id)
    rules.lock_school(school)  # the lock order: the school's lock before any row
    _check_open(appointment, now)
    if not _move(appointment, actor, now, AppointmentStatus.DECLINED, decline_reason=reason):
        raise Conflict(_("This appointment was already released, declined or cancelled."))
    audit.record(
        "hallpass.appointment_decline",
        school_id=school.id,
        actor=actor,
        target=appointment,
        detail={"reason": reason},
    )
    _bump(school, appointment)
    return appointment


def cancel(
    school: School, actor: Actor, principal, *, appointment_id: int, now: datetime | None = None
) -> Appointment:
    """The scheduler (or the office, an admin) calls an appointment off."""
    now = now or utcnow()
    appointment = get_appointment(school, appointment_id)
    if not principal.has_role(*SCHEDULE_ANYWHERE_ROLES) and (
        principal.user is None or appointment.scheduled_by_id != principal.user.id
    ):
        raise Forbidden(_("Only whoever scheduled it, the office or an admin can cancel it."))
    rules.lock_school(school)
    if appointment.status != AppointmentStatus.SCHEDULED:
        raise Conflict(_("This appointment was already released, declined or cancelled."))
    if not _move(appointment, actor, now, AppointmentStatus.CANCELLED):
        raise Conflict(_("This appointment was already released, declined or cancelled."))
    audit.record(
        "hallpass.appointment_cancel", school_id=school.id, actor=actor, target=appointment
    )
    _bump(school, appointment)
    return appointment


def mark_no_shows(now: datetime | None = None, *, school_id: int | None = None) -> int:
    """Housekeeping: appointments nobody released in time become no-shows (as "system").

    One conditional UPDATE per school, after its lock (ascending ids), so runs from
    several processes at once mark each appointment once.
    """
    now = now or utcnow()
    late = and_(
        Appointment.status == AppointmentStatus.SCHEDULED,
        Appointment.starts_at < now - timedelta(minutes=NO_SHOW_MINUTES),
    )
    query = select(Appointment.school_id).where(late).distinct()
    if school_id is not None:
        query = query.where(Appointment.school_id == school_id)
    marked = 0
    for sid in sorted(db.session.scalars(query).all()):
        school = db.session.get(School, sid)
        rules.lock_school(school)
        ids = (
            db.session.execute(
                update(Appointment)
                .where(late, Appointment.school_id == sid)
                .values(status=AppointmentStatus.NO_SHOW)
                .returning(Appointment.id)
                .execution_options(synchronize_session=False)
            )
            .scalars()
            .all()
        )
        for appointment_id in sorted(ids):
            audit.record(
                "hallpass.appointment_no_show",
                school_id=sid,
                target=db.session.get(Appointment, appointment_id),
                actor_label="system",
            )
        if ids:
            live.bump(sid, rules.APPOINTMENTS_TOPIC)
        marked += len(ids)
    return marked

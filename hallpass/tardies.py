"""Late arrivals: the one service behind the office's kiosk and the office's own screen.

`record_late_arrival` records that a student reached school late, with the reason, and
tells the tablet of the student's class teacher (a live region per class). The rules:

- Which period: the period in session at the arrival; in the passing time between two
  periods, the next one (the class the student walks into). Before the day's first
  period starts nobody is late (refused: "go to class"); after the last one ends the
  school day is over (refused). A weekday without a bell schedule records the arrival
  with no period, no class and no minutes.
- Minutes late: whole minutes from the start of that period to the arrival, in the
  school's time zone (0 in the passing time: late to school, on time for the class).
- The class: the student's active class that meets in that period, if any.
- One arrival a day: a second scan (or a second try at the office) the same school day
  records nothing and answers with the day's record; only the office says "another
  arrival" (the student left and came back late again), which records arrival 2, 3...
  The database holds it (unique student, day, arrival), so two kiosks racing record one.
- Reasons are codes of a short list; "other" needs a note (at most NOTE_LENGTH).

Every tardy is audited (`hallpass.tardy`) and bumps its class's live topic in the same
transaction. Services flush, never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from hallpass.rules import load_student
from hallpass.tardy_models import TARDY_REASONS, Tardy, TardyReason, TardySource
from shared import audit, live
from shared.errors import Conflict, InvalidInput
from shared.extensions import db
from shared.formats import format_time
from shared.models import BellPeriod, Enrollment, School, SchoolClass
from shared.schedule import school_now
from shared.timeutil import utcnow

#: Longest note a tardy keeps.
NOTE_LENGTH = 200


def class_topic(class_id: int) -> str:
    """The live topic of one class's late arrivals (the teacher's tablet region)."""
    return f"tardies:class:{class_id}"


@dataclass(frozen=True)
class Placement:
    """Where an arrival falls in the bell schedule: the period and the minutes late."""

    period: BellPeriod | None
    minutes_late: int | None


def place_arrival(school: School, at: datetime) -> Placement:
    """The period an arrival at `at` (aware) belongs to and its minutes late (see above)."""
    local = school_now(school, at)
    periods = list(
        db.session.scalars(
            select(BellPeriod)
            .where(BellPeriod.school_id == school.id, BellPeriod.weekday == local.weekday())
            .order_by(BellPeriod.start_time, BellPeriod.id)
        )
    )
    if not periods:
        return Placement(None, None)
    wall = local.time().replace(tzinfo=None)
    if wall < periods[0].start_time:
        raise Conflict(
            _(
                "Not late: the first period starts at %(time)s. Go to class.",
                time=format_time(periods[0].start_time),
            )
        )
    for period in periods:
        if period.start_time <= wall < period.end_time:
            start = datetime.combine(local.date(), period.start_time, tzinfo=local.tzinfo)
            return Placement(period, int((local - start).total_seconds() // 60))
    following = next((p for p in periods if p.start_time > wall), None)
    if following is None:
        raise Conflict(_("The school day is over: there is no class to send the student to."))
    return Placement(following, 0)


def class_of_student(school: School, student_id: int, period: str) -> SchoolClass | None:
    """The student's active class meeting in `period` (the first by id if the roster
    lists two)."""
    return db.session.scalar(
        select(SchoolClass)
        .join(Enrollment, Enrollment.class_id == SchoolClass.id)
        .where(
            SchoolClass.school_id == school.id,
            SchoolClass.active.is_(True),
            SchoolClass.period == period,
            Enrollment.student_id == student_id,
        )
        .order_by(SchoolClass.id)
        .limit(1)
    )


def todays_record(school: School, student_id: int, day) -> Tardy | None:
    """The student's latest late arrival of that school day, if any."""
    return db.session.scalar(
        select(Tardy)
        .where(Tardy.school_id == school.id, Tardy.student_id == student_id, Tardy.day == day)
        .order_by(Tardy.arrival.desc())
        .limit(1)
    )


def clean_reason(reason: str | None, note: str | None) -> tuple[str, str]:
    """The reason code and the note, checked (`InvalidInput` on the field at fault)."""
    reason = (reason or "").strip()
    if reason not in TARDY_REASONS:
        raise InvalidInput(_("Choose why the student is late."), field="reason")
    note = " ".join((note or "").split())
    if len(note) > NOTE_LENGTH:
        raise InvalidInput(_("Keep the note to %(num)d characters.", num=NOTE_LENGTH), field="note")
    if reason == TardyReason.OTHER and not note:
        raise InvalidInput(_("Say in a few words why the student is late."), field="note")
    return reason, note


def record_late_arrival(
    school: School,
    actor: audit.Actor,
    *,
    student_id: int,
    reason: str | None,
    note: str | None = None,
    source: str,
    room_id: int | None = None,
    another: bool = False,
    now: datetime | None = None,
) -> tuple[Tardy, bool]:
    """Record a late arrival; returns (the tardy, True) or, when the student already has
    one today and `another` is not asked, (that record, False) with nothing written."""
    student = load_student(school, student_id)
    now = now or utcnow()
    day = school_now(school, now).date()
    existing = todays_record(school, student.id, day)
    if existing is not None and not another:
        return existing, False
    reason, note = clean_reason(reason, note)
    if source not in tuple(TardySource):
        raise InvalidInput(_("Unknown place of arrival."))
    placement = place_arrival(school, now)
    period = placement.period.name if placement.period is not None else None
    section = class_of_student(school, student.id, period) if period is not None else None
    arrival = 1
    if existing is not None:
        arrival = 1 + db.session.scalar(
            select(func.max(Tardy.arrival)).where(Tardy.student_id == student.id, Tardy.day == day)
        )
    tardy = Tardy(
        school_id=school.id,
        student_id=student.id,
        day=day,
        arrival=arrival,
        arrived_at=now,
        period=period,
        class_id=section.id if section else None,
        minutes_late=placement.minutes_late,
        reason=reason,
        note=note,
        source=source,
        room_id=room_id,
        device_id=actor.device.id if actor.device is not None else None,
        recorded_by_id=actor.user.id if actor.user is not None else None,
    )
    try:
        with db.session.begin_nested():
            db.session.add(tardy)
            db.session.flush()
    except IntegrityError:
        # Another kiosk or screen recorded this arrival a moment ago: answer with it.
        raced = todays_record(school, student.id, day)
        if raced is None or another:
            raise Conflict(_("This arrival was just recorded elsewhere. Try again.")) from None
        return raced, False
    audit.record(
        "hallpass.tardy",
        school_id=school.id,
        target=tardy,
        actor=actor,
        detail={
            "student_id": student.id,
            "reason": reason,
            "period": period,
            "minutes_late": placement.minutes_late,
            "arrival": arrival,
            "source": source,
        },
    )
    if section is not None:
        live.bump(school.id, class_topic(section.id))
    return tardy, True


def class_tardies_today(school: School, class_id: int, now: datetime | None = None) -> list[Tardy]:
    """Today's late arrivals into one class, earliest first (the tablet's region)."""
    day = school_now(school, now).date()
    return list(
        db.session.scalars(
            select(Tardy)
            .where(Tardy.school_id == school.id, Tardy.class_id == class_id, Tardy.day == day)
            .order_by(Tardy.arrived_at)
        )
    )


def school_tardies_today(school: School, now: datetime | None = None) -> list[Tardy]:
    """Today's late arrivals at the school, latest first (the office's screen)."""
    day = school_now(school, now).date()
    return list(
        db.session.scalars(
            select(Tardy)
            .where(Tardy.school_id == school.id, Tardy.day == day)
            .order_by(Tardy.arrived_at.desc())
        )
    )

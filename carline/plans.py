"""Dismissal plans, the writes: weekday defaults, daily changes, absences.

One function for each write, each with the office's rules folded in. The daily change
cutoff: a change (or taking one back) for today after the school's cutoff time needs an
explicit office override with a reason, audited on its own. Changes for a past day are
refused; absences are marked for today or a later day and have no cutoff. How the
plans are read back (which rule wins on a day) is `carline.day_plans`.

Plain functions taking the school, the actor (`shared.audit.Actor`) and the student: they flush and
never commit, audit every write, bump the dismissal screens and raise
`shared.errors.DomainError` on a broken rule.
"""

from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy import delete, select

from carline.day_plans import check_mode_and_route
from carline.models import Absence, DailyChange, DismissalDefault
from carline.recording import record
from carline.settings import carline_settings
from shared import audit
from shared.access import of_school
from shared.audit import Actor
from shared.errors import Forbidden, InvalidInput, NotFound
from shared.extensions import db
from shared.models import Family, School, Student
from shared.schedule import school_now, school_today
from shared.timeutil import utcnow

NOTE_LENGTH = 500
REASON_LENGTH = 300


def set_weekday_defaults(
    school: School,
    actor: Actor,
    student: Student,
    weekdays: list[int],
    mode: str,
    bus_route: str | None = None,
) -> list[DismissalDefault]:
    """Set how the student goes home on each of these weekdays (0 = Monday) at once."""
    of_school(student, school.id, "No such student.")
    if not weekdays or any(w not in range(7) for w in weekdays):
        raise InvalidInput("Choose at least one weekday.", field="weekday")
    route = check_mode_and_route(mode, bus_route)
    existing = {
        d.weekday: d
        for d in db.session.scalars(
            select(DismissalDefault).where(DismissalDefault.student_id == student.id)
        )
    }
    saved = []
    for weekday in sorted(set(weekdays)):
        default = existing.get(weekday)
        if default is None:
            default = DismissalDefault(student_id=student.id, weekday=weekday)
            db.session.add(default)
        default.mode, default.bus_route = mode, route
        db.session.flush()
        record(
            "plan_default",
            school,
            student,
            actor=actor,
            weekday=weekday,
            mode=mode,
            bus_route=route,
        )
        saved.append(default)
    return saved


def record_change(
    school: School,
    actor: Actor,
    student: Student,
    day: date,
    *,
    mode: str,
    bus_route: str | None = None,
    family: Family | None = None,
    early_pickup: time | None = None,
    note: str = "",
    override: bool = False,
    reason: str | None = None,
    now: datetime | None = None,
) -> DailyChange:
    """Record (or replace) how the student goes home on one day, honouring the cutoff."""
    of_school(student, school.id, "No such student.")
    note = (note or "").strip()
    if len(note) > NOTE_LENGTH:
        raise InvalidInput(f"Note: at most {NOTE_LENGTH} characters.", field="note")
    overridden = _check_cutoff(school, day, now, override, reason, actor)
    route = check_mode_and_route(mode, bus_route)
    if family is not None:
        of_school(family, school.id, "No such family.")
        if mode != "car":
            raise InvalidInput("Only a car rider goes home with a family.", field="family")
        if not family.active:
            raise InvalidInput(f"Tag {family.tag_number} is no longer in use.", field="family")
    change = db.session.scalar(
        select(DailyChange).where(DailyChange.student_id == student.id, DailyChange.day == day)
    )
    if change is None:
        change = DailyChange(student_id=student.id, day=day)
        db.session.add(change)
    change.mode, change.bus_route = mode, route
    change.family_id = family.id if family is not None else None
    change.early_pickup, change.note = early_pickup, note
    change.created_by_id, change.created_at = (actor.user.id if actor.user else None), utcnow()
    change.created_by_guardian_id = actor.guardian.id if actor.guardian else None
    db.session.flush()
    record(
        "plan_change",
        school,
        student,
        actor=actor,
        day=day.isoformat(),
        mode=mode,
        bus_route=route,
        family_id=change.family_id,
        early_pickup=early_pickup.isoformat() if early_pickup else None,
    )
    if overridden:
        _audit_override(school, actor, student, day, overridden, "set")
    return change


def take_back_change(
    school: School,
    actor: Actor,
    student: Student,
    day: date,
    *,
    override: bool = False,
    reason: str | None = None,
    now: datetime | None = None,
) -> None:
    """Drop the student's change for the day (the weekday default applies again),
    honouring the cutoff like a new change."""
    of_school(student, school.id, "No such student.")
    overridden = _check_cutoff(school, day, now, override, reason, actor)
    removed = db.session.execute(
        delete(DailyChange).where(DailyChange.student_id == student.id, DailyChange.day == day)
    ).rowcount
    if not removed:
        raise NotFound("There is no change for this student on that day.")
    record("plan_change_clear", school, student, actor=actor, day=day.isoformat())
    if overridden:
        _audit_override(school, actor, student, day, overridden, "clear")


def mark_absent(
    school: School,
    actor: Actor,
    student: Student,
    day: date,
    *,
    note: str = "",
    now: datetime | None = None,
) -> Absence:
    """Mark the student absent for a day (today or later): they will not be called."""
    of_school(student, school.id, "No such student.")
    if day < school_today(school, now):
        raise InvalidInput("Absences are marked for today or a later day.", field="day")
    note = (note or "").strip()
    if len(note) > NOTE_LENGTH:
        raise InvalidInput(f"Note: at most {NOTE_LENGTH} characters.", field="note")
    absence = db.session.scalar(
        select(Absence).where(Absence.student_id == student.id, Absence.day == day)
    )
    if absence is not None:
        return absence
    absence = Absence(
        student_id=student.id,
        day=day,
        note=note,
        created_by_id=actor.user.id if actor.user else None,
        created_by_guardian_id=actor.guardian.id if actor.guardian else None,
    )
    db.session.add(absence)
    db.session.flush()
    record("absence", school, student, actor=actor, day=day.isoformat())
    return absence


def clear_absence(school: School, actor: Actor, student: Student, day: date) -> None:
    """Take back an absence marked by mistake."""
    of_school(student, school.id, "No such student.")
    removed = db.session.execute(
        delete(Absence).where(Absence.student_id == student.id, Absence.day == day)
    ).rowcount
    if not removed:
        raise NotFound("This student is not marked absent on that day.")
    record("absence_clear", school, student, actor=actor, day=day.isoformat())


def _check_cutoff(
    school: School,
    day: date,
    now: datetime | None,
    override: bool,
    reason: str | None,
    actor: Actor,
) -> str | None:
    """Refuse a change for a past day, or for today after the cutoff without an override
    (a guardian has none: after the cutoff they call the office).

    Returns the override reason when the override was needed (to be audited).
    """
    local_now = school_now(school, now)
    today = local_now.date()
    if day < today:
        raise InvalidInput("That day is over: changes are for today or a later day.", field="day")
    settings = carline_settings(school)
    cutoff = settings.cutoff
    if day > today or cutoff is None or local_now.time() < cutoff:
        return None
    if actor.guardian is not None:
        phone = f" at {settings.office_phone}" if settings.office_phone else ""
        raise Forbidden(
            f"Changes for today closed at {cutoff.strftime('%H:%M')}: please call the "
            f"office{phone}.",
            field="day",
        )
    reason = " ".join((reason or "").split())
    if not override:
        raise Forbidden(
            f"It is after today's {cutoff.strftime('%H:%M')} cutoff: tick the office "
            "override and give a reason.",
            field="override",
        )
    if not reason or len(reason) > REASON_LENGTH:
        raise InvalidInput(
            f"Give the reason for the override (up to {REASON_LENGTH} characters).",
            field="reason",
        )
    return reason


def _audit_override(
    school: School, actor: Actor, student: Student, day: date, reason: str, what: str
) -> None:
    audit.record(
        "carline.cutoff_override",
        school_id=school.id,
        target=student,
        detail={"day": day.isoformat(), "reason": reason, "change": what},
        actor=actor,
    )

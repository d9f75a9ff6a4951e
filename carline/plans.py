"""Dismissal plans, the writes: weekday defaults, daily changes, absences.

One function for each write, each with the office's rules folded in. The daily change
cutoff: a change (or taking one back) for today after the school's cutoff time needs an
explicit office override with a reason, audited on its own. A change is for one day, or
repeated on chosen weekdays until a date (`repeat_days`, `record_changes`: every day by
the one-day rule, all or nothing). A change sending a car rider home with a family
other than their own needs an active carpool agreement (`carline.carpools`). Changes for
a past day are refused; absences are marked for today or a later day and have no cutoff. How the
plans are read back (which rule wins on a day) is `carline.day_plans`.

Plain functions taking the school, the actor (`shared.audit.Actor`) and the student: they flush and
never commit, audit every write, bump the dismissal screens and raise
`shared.errors.DomainError` on a broken rule.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import delete, select

from carline.carpools import check_ride, may_ride
from carline.day_plans import check_mode_and_route, dismissal_mode
from carline.family_notices import (
    CHANGED,
    REFUSED,
    REMOVED,
    guardian_change,
    reported_absence,
    tell_family,
)
from carline.models import DISMISSAL_MODES, Absence, DailyChange, DismissalDefault
from carline.recording import record
from carline.settings import carline_settings
from shared import audit
from shared.access import of_school
from shared.audit import Actor
from shared.errors import Forbidden, InvalidInput, NotFound
from shared.extensions import db
from shared.formats import format_time
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
    of_school(student, school.id, _("No such student."))
    if not weekdays or any(w not in range(7) for w in weekdays):
        raise InvalidInput(_("Choose at least one weekday."), field="weekday")
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
    of_school(student, school.id, _("No such student."))
    note = (note or "").strip()
    if len(note) > NOTE_LENGTH:
        raise InvalidInput(_note_too_long(), field="note")
    overridden = _check_cutoff(school, day, now, override, reason, actor)
    route = check_mode_and_route(mode, bus_route)
    if family is not None:
        of_school(family, school.id, _("No such family."))
        if mode != "car":
            raise InvalidInput(_("Only a car rider goes home with a family."), field="family")
        if not family.active:
            raise InvalidInput(
                _("Tag %(number)s is no longer in use.", number=family.tag_number), field="family"
            )
        check_ride(student, family, actor)  # its own family, or one it carpools with
    change = db.session.scalar(
        select(DailyChange).where(DailyChange.student_id == student.id, DailyChange.day == day)
    )
    before = guardian_change(change) if actor.guardian is None else None
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
    if before is not None:  # the office changed a guardian's change: the family is told
        why = overridden or (note if note != before.note else "")
        tell_family(school, actor, student, before, CHANGED, why)
    return change


def repeat_days(first: date, until: date | None, weekdays: Iterable[int] = ()) -> list[date]:
    """The days a change is for: `first` alone (once, `until` None), or each day from
    `first` to `until` (both included) that falls on one of `weekdays` (0 = Monday)."""
    if until is None:
        return [first]
    if until < first:
        raise InvalidInput(_("The last day comes before the first one."), field="until")
    chosen = set(weekdays)
    if not chosen or chosen - set(range(7)):
        raise InvalidInput(_("Choose at least one weekday."), field="weekday")
    days = [
        first + timedelta(days=n)
        for n in range((until - first).days + 1)
        if (first + timedelta(days=n)).weekday() in chosen
    ]
    if not days:
        raise InvalidInput(
            _("None of the chosen weekdays falls between these two days."), field="weekday"
        )
    return days


def record_changes(
    school: School, actor: Actor, student: Student, days: Iterable[date], **change
) -> list[DailyChange]:
    """The same change (`record_change`'s keywords) on each of these days, all or nothing:
    the first refusal (the cutoff for today, say) raises and the request writes none."""
    return [record_change(school, actor, student, day, **change) for day in days]


#: The override reason audited when an early pickup from a call to the office comes after
#: the day's cutoff (the office itself made the call; stored in English, like the log).
CALLED_TO_GO_HOME = "Called to the office to go home early."


def record_early_pickup(
    school: School, actor: Actor, student: Student, at: datetime
) -> DailyChange:
    """The office called the student to the office with their things (a call to the
    office): today's plan says picked up early at that time, so the car line, the buses
    and the walkers do not call them. How they would have gone home is kept (a car
    rider's family too), and a note already on today's change stays. After the cutoff
    this is the office's own override, audited as any other."""
    day = school_today(school, at)
    plan = dismissal_mode(student, day)
    mode = plan.mode if plan.mode in DISMISSAL_MODES else "car"
    family = db.session.get(Family, plan.family_id) if plan.family_id else None
    wall = school_now(school, at).time().replace(second=0, microsecond=0, tzinfo=None)
    return record_change(
        school,
        actor,
        student,
        day,
        mode=mode,
        bus_route=plan.bus_route if mode == "bus" else None,
        family=family
        if family is not None and family.active and may_ride(student, family, actor)
        else None,
        early_pickup=wall,
        note=plan.note,
        override=True,
        reason=CALLED_TO_GO_HOME,
        now=at,
    )


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
    honouring the cutoff like a new change. A guardian's change taken back by the
    office is told to the family by mail."""
    before, overridden = _drop_change(school, actor, student, day, override, reason, now)
    record("plan_change_clear", school, student, actor=actor, day=day.isoformat())
    if overridden:
        _audit_override(school, actor, student, day, overridden, "clear")
    if before is not None:
        tell_family(school, actor, student, before, REMOVED, overridden or "")


def refuse_change(
    school: School,
    actor: Actor,
    student: Student,
    day: date,
    *,
    reason: str,
    now: datetime | None = None,
) -> None:
    """The office refuses a guardian's change of a day, with a reason: the change is
    undone (the weekday default applies again), the reason recorded and mailed to the
    family. After today's cutoff the refusal is itself the office's override (its
    reason, audited as one)."""
    of_school(student, school.id, _("No such student."))
    if actor.guardian is not None:
        raise Forbidden(_("Only the office refuses a change."))
    reason = " ".join((reason or "").split())
    if not reason or len(reason) > REASON_LENGTH:
        raise InvalidInput(
            ngettext(
                "Say why the change is refused (up to %(num)d character).",
                "Say why the change is refused (up to %(num)d characters).",
                REASON_LENGTH,
            ),
            field="refuse_reason",
        )
    change = db.session.scalar(
        select(DailyChange).where(DailyChange.student_id == student.id, DailyChange.day == day)
    )
    if change is not None and guardian_change(change) is None:
        raise InvalidInput(
            _("Only a guardian's change can be refused: take this one back instead."),
            field="refuse_reason",
        )
    before, overridden = _drop_change(school, actor, student, day, True, reason, now)
    record(
        "plan_change_refused",
        school,
        student,
        actor=actor,
        day=day.isoformat(),
        reason=reason,
        mode=before.mode if before else None,
    )
    if overridden:
        _audit_override(school, actor, student, day, overridden, "refuse")
    if before is not None:
        tell_family(school, actor, student, before, REFUSED, reason)


def _drop_change(school, actor, student, day, override, reason, now):
    """Delete the day's change by the cutoff rule; (the guardian's change it was, if
    the office dropped one, and the override reason when one was needed)."""
    of_school(student, school.id, _("No such student."))
    overridden = _check_cutoff(school, day, now, override, reason, actor)
    change = db.session.scalar(
        select(DailyChange).where(DailyChange.student_id == student.id, DailyChange.day == day)
    )
    if change is None:
        raise NotFound(_("There is no change for this student on that day."))
    before = guardian_change(change) if actor.guardian is None else None
    db.session.delete(change)
    db.session.flush()
    return before, overridden


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
    of_school(student, school.id, _("No such student."))
    if day < school_today(school, now):
        raise InvalidInput(_("Absences are marked for today or a later day."), field="day")
    note = (note or "").strip()
    if len(note) > NOTE_LENGTH:
        raise InvalidInput(_note_too_long(), field="note")
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
    """Take back an absence marked by mistake; when a guardian reported it and the office
    takes it back, the family is told by mail (`carline.family_notices`)."""
    of_school(student, school.id, _("No such student."))
    absence = db.session.scalar(
        select(Absence).where(Absence.student_id == student.id, Absence.day == day)
    )
    before = reported_absence(absence) if actor.guardian is None else None
    removed = db.session.execute(
        delete(Absence).where(Absence.student_id == student.id, Absence.day == day)
    ).rowcount
    if not removed:
        raise NotFound(_("This student is not marked absent on that day."))
    record("absence_clear", school, student, actor=actor, day=day.isoformat())
    if before is not None:
        tell_family(school, actor, student, before, REMOVED)


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
        raise InvalidInput(
            _("That day is over: changes are for today or a later day."), field="day"
        )
    settings = carline_settings(school)
    cutoff = settings.cutoff
    if day > today or cutoff is None or local_now.time() < cutoff:
        return None
    if actor.guardian is not None:
        if settings.office_phone:
            message = _(
                "Changes for today closed at %(time)s: please call the office at %(phone)s.",
                time=format_time(cutoff),
                phone=settings.office_phone,
            )
        else:
            message = _(
                "Changes for today closed at %(time)s: please call the office.",
                time=format_time(cutoff),
            )
        raise Forbidden(message, field="day")
    reason = " ".join((reason or "").split())
    if not override:
        raise Forbidden(
            _(
                "It is after today's %(time)s cutoff: tick the office override and give a reason.",
                time=format_time(cutoff),
            ),
            field="override",
        )
    if not reason or len(reason) > REASON_LENGTH:
        raise InvalidInput(
            ngettext(
                "Give the reason for the override (up to %(num)d character).",
                "Give the reason for the override (up to %(num)d characters).",
                REASON_LENGTH,
            ),
            field="reason",
        )
    return reason


def _note_too_long() -> str:
    return ngettext(
        "Note: at most %(num)d character.", "Note: at most %(num)d characters.", NOTE_LENGTH
    )


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

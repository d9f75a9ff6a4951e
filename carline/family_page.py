"""The family page's services: what a guardian sees of their children, and what they change.

A guardian (shared.models.Guardian, signed in by shared/family_sign_in.py) sees only the
students on their family's tag: how each goes home today (`carline.day_plans`, the one
rule), any change already made, and whether dismissal has started. They change a day's
plan and report an absence through the office's own services (`carline.plans`), so the
cutoff, the past-day rule and the modes are the office's rules, with three more for
guardians: only the ways home the school offers on the family page
(`CarlineSettings.family_modes`), only bus routes the school runs (the routes of its
students' weekday plans), and no override after the cutoff. "I'm here" enters the
family's car through the curb's own service (`carline.curb.curb_entry`).

Every read of a child's plan and every change is audited with the guardian as the actor;
an accepted change or absence is confirmed by mail in the guardian's language.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select

from carline.curb import CurbResult, curb_entry
from carline.day_plans import MODE_LABELS, DayPlan, day_plans
from carline.dismissal import todays_dismissal
from carline.models import CalledStudent, DailyChange, Dismissal, DismissalDefault, QueueEntry
from carline.plans import mark_absent, record_change
from carline.progress import queue_rank
from carline.settings import CarlineSettings, carline_settings
from shared import audit, mail
from shared.audit import Actor
from shared.errors import Conflict, InvalidInput, NotFound
from shared.extensions import db
from shared.models import Family, Guardian, School, Student, family_students
from shared.schedule import school_now

#: How far ahead a guardian may plan a change or an absence.
MAX_DAYS_AHEAD = 120


@dataclass(frozen=True)
class Child:
    """One child on the family page: today's plan and, during dismissal, their call."""

    student: Student
    plan: DayPlan
    call: CalledStudent | None

    @property
    def way_home(self) -> str:
        label = MODE_LABELS.get(self.plan.mode, self.plan.mode)
        if self.plan.mode == "bus" and self.plan.bus_route:
            return f"{label} {self.plan.bus_route}"
        if self.plan.mode == "car":
            return "Car, with your family" if self.plan.family_id is None else "Car"
        return label


@dataclass(frozen=True)
class FamilyToday:
    """What the family page shows."""

    day: date
    family: Family
    children: list[Child]
    dismissal: Dismissal | None
    #: The family's car in today's queue, if it is in line.
    entry: QueueEntry | None
    settings: CarlineSettings
    after_cutoff: bool
    bus_routes: list[str]
    #: Changes already made for today or later (the children's), by day.
    upcoming: list[DailyChange]
    #: The car's place among the waiting cars (1 = next into a spot), while it waits.
    waiting: int | None = None

    @property
    def spot(self) -> str | None:
        if self.entry is None or self.entry.status != "at_spot":
            return None
        return self.dismissal.spot_label(self.entry.spot)

    @property
    def dismissal_running(self) -> bool:
        return self.dismissal is not None and self.dismissal.ended_at is None

    @property
    def car_riders(self) -> list[Child]:
        """Children going home by car with this family today (not absent, not called yet)."""
        return [
            c
            for c in self.children
            if c.plan.mode == "car"
            and c.plan.early_pickup is None
            and c.plan.family_id in (None, self.family.id)
        ]

    @property
    def announce_refusal(self) -> str | None:
        """Why the "I'm here" button is not shown; None when it is."""
        if self.dismissal is None:
            return "Dismissal has not started yet: the button appears here when it does."
        if self.dismissal.ended_at is not None:
            return "Today's dismissal has ended."
        if self.entry is not None and self.entry.status == "loaded":
            return "Your car is loaded: have a good afternoon."
        if not self.car_riders:
            return "None of your children goes home by car with you today."
        return None


def family_of(guardian: Guardian) -> Family:
    return db.session.get(Family, guardian.family_id)


def children_of(guardian: Guardian) -> list[Student]:
    """The active students on the guardian's family's tag, by name."""
    return list(
        db.session.scalars(
            select(Student)
            .join(family_students, family_students.c.student_id == Student.id)
            .where(
                family_students.c.family_id == guardian.family_id,
                Student.school_id == guardian.school_id,
                Student.active.is_(True),
            )
            .order_by(Student.first_name, Student.last_name, Student.id)
        )
    )


def guardian_child(guardian: Guardian, student_id: object) -> Student:
    """A child of the guardian's family (404 for any other student, of any school)."""
    for student in children_of(guardian):
        if student.id == student_id:
            return student
    raise NotFound("There is nothing here.")


def bus_routes(school: School) -> list[str]:
    """The bus routes the school runs: those of its active students' weekday plans."""
    return list(
        db.session.scalars(
            select(DismissalDefault.bus_route)
            .join(Student, Student.id == DismissalDefault.student_id)
            .where(
                Student.school_id == school.id,
                Student.active.is_(True),
                DismissalDefault.bus_route.is_not(None),
            )
            .distinct()
            .order_by(DismissalDefault.bus_route)
        )
    )


def _after_cutoff(school: School, settings: CarlineSettings, now: datetime | None) -> bool:
    return settings.cutoff is not None and school_now(school, now).time() >= settings.cutoff


def family_today(
    school: School,
    guardian: Guardian,
    *,
    actor: Actor,
    audited: bool = True,
    now: datetime | None = None,
) -> FamilyToday:
    """The family page's contents, read once. The read of the children's plans is audited;
    the live region's polls (`audited=False`, which show only dismissal's progress to
    the same guardian) write nothing."""
    day = school_now(school, now).date()
    family = family_of(guardian)
    students = children_of(guardian)
    ids = [s.id for s in students]
    plans = day_plans(school.id, day, ids) if ids else {}
    dismissal = todays_dismissal(school)
    calls: dict[int, CalledStudent] = {}
    entry = None
    if dismissal is not None and ids:
        calls = {
            c.student_id: c
            for c in db.session.scalars(
                select(CalledStudent).where(
                    CalledStudent.dismissal_id == dismissal.id, CalledStudent.student_id.in_(ids)
                )
            )
        }
    if dismissal is not None:
        entry = db.session.scalar(
            select(QueueEntry).where(
                QueueEntry.dismissal_id == dismissal.id, QueueEntry.family_id == family.id
            )
        )
    upcoming = (
        list(
            db.session.scalars(
                select(DailyChange)
                .where(DailyChange.student_id.in_(ids), DailyChange.day >= day)
                .order_by(DailyChange.day, DailyChange.student_id)
            )
        )
        if ids
        else []
    )
    settings = carline_settings(school)
    if audited:
        audit.record(
            "carline.family_view",
            school_id=school.id,
            target=family,
            detail={"students": ids, "day": day.isoformat()},
            actor=actor,
        )
    return FamilyToday(
        day=day,
        family=family,
        children=[Child(s, plans[s.id], calls.get(s.id)) for s in students],
        dismissal=dismissal,
        entry=entry,
        settings=settings,
        after_cutoff=_after_cutoff(school, settings, now),
        bus_routes=bus_routes(school),
        upcoming=upcoming,
        waiting=queue_rank(entry) if entry is not None else None,
    )


def _check_day(school: School, day: date, now: datetime | None) -> None:
    today = school_now(school, now).date()
    if day < today:
        raise InvalidInput("That day is over: choose today or a later day.", field="day")
    if (day - today).days > MAX_DAYS_AHEAD:
        raise InvalidInput(f"Choose a day within {MAX_DAYS_AHEAD} days.", field="day")


def change_plan(
    school: School,
    actor: Actor,
    student: Student,
    day: date,
    *,
    mode: str,
    bus_route: str | None = None,
    note: str = "",
    now: datetime | None = None,
) -> DailyChange:
    """A guardian's change of how their child goes home on a day (the office's service,
    with the family page's rules); confirmed by mail."""
    guardian = _guardian_of(actor, student)
    _check_day(school, day, now)
    settings = carline_settings(school)
    if mode not in settings.family_modes:
        offered = ", ".join(MODE_LABELS[m].lower() for m in settings.family_modes) or "none"
        raise InvalidInput(
            f"The school offers these ways home on the family page: {offered}.", field="mode"
        )
    route = None
    if mode == "bus":
        route = (bus_route or "").strip().upper()
        if route not in bus_routes(school):
            raise InvalidInput("Choose one of the school's bus routes.", field="bus_route")
    change = record_change(
        school, actor, student, day, mode=mode, bus_route=route, note=note, now=now
    )
    _confirm(
        guardian,
        school,
        student,
        day,
        CHANGE_LINE[_language(guardian)].format(
            way=MODE_LABELS[mode] + (f" {route}" if route else "")
        ),
    )
    return change


def report_absence(
    school: School,
    actor: Actor,
    student: Student,
    day: date,
    *,
    note: str = "",
    now: datetime | None = None,
):
    """A guardian reports their child absent on a day (no cutoff); confirmed by mail."""
    guardian = _guardian_of(actor, student)
    _check_day(school, day, now)
    absence = mark_absent(school, actor, student, day, note=note, now=now)
    _confirm(guardian, school, student, day, ABSENCE_LINE[_language(guardian)])
    return absence


def announce(school: School, actor: Actor, key: str | None) -> CurbResult:
    """ "I'm here": the guardian's family's car enters today's queue, as a curb scan would
    (the same service, idempotent with the client's key)."""
    if actor.guardian is None:
        raise InvalidInput("Only a guardian can say their family is here.")
    if not key:
        raise InvalidInput("The request id is missing.", field="key")
    family = family_of(actor.guardian)
    try:
        return curb_entry(school, idempotency_key=key, actor=actor, family=family)
    except Conflict as error:
        raise Conflict(f"{error.message} The button works while dismissal runs.") from None


def _guardian_of(actor: Actor, student: Student) -> Guardian:
    guardian = actor.guardian
    if guardian is None:
        raise InvalidInput("Only a guardian changes plans on the family page.")
    guardian_child(guardian, student.id)
    return guardian


# ------------------------------------------------------------------ confirmations

CHANGE_LINE = {"en": "goes home: {way}", "es": "se va a casa: {way}"}
ABSENCE_LINE = {"en": "is absent", "es": "estará ausente"}
SUBJECT = {"en": "{school}: your change is saved", "es": "{school}: su cambio está guardado"}
BODY = {
    "en": "Hello {name},\n\nThe school has your change: on {day}, {child} {what}.\n\n"
    "If this is not right, call the office{phone}.\n",
    "es": "Hola {name}:\n\nLa escuela tiene su cambio: el {day}, {child} {what}.\n\n"
    "Si no es correcto, llame a la oficina{phone}.\n",
}


def _language(guardian: Guardian) -> str:
    return guardian.language if guardian.language in BODY else "en"


def _confirm(guardian: Guardian, school: School, student: Student, day: date, what: str) -> None:
    """Queue the confirmation mail (sent after the commit), when the guardian has an address."""
    if guardian.email is None or not mail.configured():
        return
    language = _language(guardian)
    phone = carline_settings(school).office_phone
    mail.enqueue(
        kind="family_change",
        to=guardian,
        subject=SUBJECT[language].format(school=school.name),
        body=BODY[language].format(
            name=guardian.name,
            day=day.isoformat(),
            child=student.preferred_name or student.first_name,
            what=what,
            phone=f" ({phone})" if phone else "",
        ),
        school_id=school.id,
    )

"""The family page's services: what a guardian sees of their children, and what they change.

A guardian (shared.models.Guardian, signed in by shared/family_sign_in.py) sees only the
students on their family's tag: how each goes home today (`carline.day_plans`, the one
rule), any change already made, and whether dismissal has started. They change a day's
plan (once, or on chosen weekdays until a date), say they pick a child up early and
report an absence through the office's own services (`carline.plans`), so the
cutoff, the past-day rule and the modes are the office's rules, with three more for
guardians: only the ways home the school offers on the family page
(`CarlineSettings.family_modes`), only bus routes the school runs (the routes of its
students' weekday plans), and no override after the cutoff. "I'm here" enters the
family's car through the curb's own service (`carline.curb.curb_entry`); where the
school requires it, only after a recent scan of the pickup line sign (`carline.pickup_sign`).
A change may send a child home with a family this one carpools with (`carline.carpools`);
the page lists the family's carpools and, on a day, the children of those families riding
with it. What the school turned off (`CarlineSettings.family_features`) is neither shown
nor taken.

Every read of a child's plan and every change is audited with the guardian as the actor;
an accepted change or absence is confirmed by mail in the guardian's language.

Why one module: it is the guardian's whole side of the car line, each function a
guardian's action through the office's own services, and it keeps no rule of its own
apart from the guardian-only ones named above. Sign-in (`shared.family_sign_in`), the
pickup sign (`carline.pickup_sign`), carpools (`carline.carpools`) and mails
(`carline.family_notices`) are rooms of their own; the read side (`family_today`,
`FamilyToday`, `Child`) is the part to move out next if it grows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time

from flask_babel import force_locale, ngettext, pgettext
from flask_babel import gettext as _
from sqlalchemy import select

from carline import carpools
from carline.curb import CurbResult, curb_entry
from carline.day_plans import MODE_LABELS, DayPlan, day_plans
from carline.dismissal import todays_dismissal
from carline.models import (
    CalledStudent,
    CarpoolAgreement,
    DailyChange,
    Dismissal,
    DismissalDefault,
    QueueEntry,
)
from carline.pickup_sign import SCAN_FIRST
from carline.plans import mark_absent, record_change, record_changes, repeat_days
from carline.progress import queue_rank
from carline.settings import CarlineSettings, carline_settings, require_feature
from shared import audit, mail
from shared.audit import Actor
from shared.errors import Conflict, InvalidInput, NotFound
from shared.extensions import db
from shared.formats import format_date, format_time
from shared.i18n import mail_locale
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
    #: The tag number of the family taking the child today, when it is not this one.
    with_tag: int | None = None

    @property
    def way_home(self) -> str:
        label = str(MODE_LABELS.get(self.plan.mode, self.plan.mode))
        if self.plan.mode == "bus" and self.plan.bus_route:
            return f"{label} {self.plan.bus_route}"
        if self.plan.mode == "car" and self.with_tag is not None:
            return _("Car, with the family of tag %(number)s", number=self.with_tag)
        if self.plan.mode == "car":
            return _("Car, with your family")
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
    #: The school requires the pickup line sign and this phone has no recent scan.
    sign_needed: bool = False
    #: The family's carpool agreements (active and proposed), and the active partners.
    carpools: list[CarpoolAgreement] = field(default_factory=list)
    partners: list[Family] = field(default_factory=list)
    #: Children of partner families riding home with this family's car today.
    riders: list[tuple[Student, Family]] = field(default_factory=list)

    @property
    def spot(self) -> str | None:
        if self.entry is None or self.entry.status != "at_spot":
            return None
        return self.dismissal.spot_label(self.entry.spot)

    @property
    def dismissal_running(self) -> bool:
        return self.dismissal is not None and self.dismissal.ended_at is None

    @property
    def riders_by_tag(self) -> list[tuple[int, int]]:
        """(tag number, how many) of the partner families' children riding with this car
        today: no names, a guardian sees only the other family's tag number."""
        return sorted(Counter(other.tag_number for _, other in self.riders).items())

    @property
    def car_riders(self) -> list[Child]:
        """Children going home by car with this family today (not absent, not called yet);
        a partner family's children riding with it count too (`riders`)."""
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
            return _("Dismissal has not started yet: the button appears here when it does.")
        if self.dismissal.ended_at is not None:
            return _("Today's dismissal has ended.")
        if self.entry is not None and self.entry.status == "loaded":
            return _("Your car is loaded: have a good afternoon.")
        if not self.settings.offers("here"):
            return _("Show your hang tag at the curb: the school does not use this button.")
        if not self.car_riders and not self.riders:
            return _("None of your children goes home by car with you today.")
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
    raise NotFound(_("There is nothing here."))


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
    present: bool = False,
    now: datetime | None = None,
) -> FamilyToday:
    """The family page's contents, read once. The read of the children's plans is audited;
    the live region's polls (`audited=False`, which show only dismissal's progress to
    the same guardian) write nothing. `present`: this phone recently scanned the pickup
    line sign (`carline.pickup_sign.is_present`)."""
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
    partners = carpools.partners(family.id)
    tags = {f.id: f.tag_number for f in partners}
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
        children=[
            Child(s, plans[s.id], calls.get(s.id), _with_tag(plans[s.id], family, tags))
            for s in students
        ],
        dismissal=dismissal,
        entry=entry,
        settings=settings,
        after_cutoff=_after_cutoff(school, settings, now),
        bus_routes=bus_routes(school),
        upcoming=upcoming,
        waiting=queue_rank(entry) if entry is not None else None,
        sign_needed=settings.require_pickup_sign and not present,
        carpools=carpools.agreements_of(family),
        partners=partners,
        riders=carpools.riders_with(family, day, partners),
    )


def _with_tag(plan: DayPlan, family: Family, tags: dict[int, int]) -> int | None:
    """The tag of the other family a child rides with today (a partner's, as the office
    names it; any other family of the child's is named by its tag too)."""
    if plan.mode != "car" or plan.family_id in (None, family.id):
        return None
    return tags.get(plan.family_id) or db.session.get(Family, plan.family_id).tag_number


def _check_day(school: School, day: date, now: datetime | None, field: str = "day") -> None:
    today = school_now(school, now).date()
    if day < today:
        raise InvalidInput(_("That day is over: choose today or a later day."), field=field)
    if (day - today).days > MAX_DAYS_AHEAD:
        raise InvalidInput(
            ngettext(
                "Choose a day within %(num)d day.",
                "Choose a day within %(num)d days.",
                MAX_DAYS_AHEAD,
            ),
            field=field,
        )


def change_plan(
    school: School,
    actor: Actor,
    student: Student,
    day: date,
    *,
    mode: str,
    bus_route: str | None = None,
    note: str = "",
    until: date | None = None,
    weekdays: Iterable[int] = (),
    with_family_id: int | None = None,
    now: datetime | None = None,
) -> list[DailyChange]:
    """A guardian's change of how their child goes home: on `day`, or on the chosen
    weekdays from `day` to `until` (the office's services, with the family page's rules,
    all days or none); confirmed by one mail. `with_family_id`: home by car with a
    family this one carpools with."""
    require_feature(school, "change")
    guardian = _guardian_of(actor, student)
    _check_day(school, day, now)
    if until is not None:
        _check_day(school, until, now, field="until")
    days = repeat_days(day, until, weekdays)
    settings = carline_settings(school)
    if with_family_id is not None:
        partner = next(
            (f for f in carpools.partners(guardian.family_id) if f.id == with_family_id), None
        )
        if partner is None:
            raise InvalidInput(
                _("Your family has no carpool with that family: propose one below."), field="mode"
            )
        changes = record_changes(
            school, actor, student, days, mode="car", family=partner, note=note, now=now
        )
        _confirm(guardian, school, student, days, mode="car", with_tag=partner.tag_number)
        return changes
    if mode not in settings.family_modes:
        offered = ", ".join(str(MODE_LABELS[m]).lower() for m in settings.family_modes)
        raise InvalidInput(
            _(
                "The school offers these ways home on the family page: %(ways)s.",
                ways=offered or pgettext("ways home", "none"),
            ),
            field="mode",
        )
    route = None
    if mode == "bus":
        route = (bus_route or "").strip().upper()
        if route not in bus_routes(school):
            raise InvalidInput(_("Choose one of the school's bus routes."), field="bus_route")
    changes = record_changes(
        school, actor, student, days, mode=mode, bus_route=route, note=note, now=now
    )
    _confirm(guardian, school, student, days, mode=mode, route=route)
    return changes


def pick_up_early(
    school: School,
    actor: Actor,
    student: Student,
    day: date,
    *,
    at: time,
    note: str = "",
    now: datetime | None = None,
) -> DailyChange:
    """A guardian says they pick their child up early on a day, at a time (a car change
    with that time, by the office's rules: before the cutoff for today); confirmed by mail.
    The child is then not called at dismissal."""
    require_feature(school, "early_pickup")
    guardian = _guardian_of(actor, student)
    _check_day(school, day, now)
    change = record_change(
        school, actor, student, day, mode="car", early_pickup=at, note=note, now=now
    )
    _confirm(guardian, school, student, [day], early=at)
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
    require_feature(school, "absence")
    guardian = _guardian_of(actor, student)
    _check_day(school, day, now)
    absence = mark_absent(school, actor, student, day, note=note, now=now)
    _confirm(guardian, school, student, [day])
    return absence


def announce(school: School, actor: Actor, key: str | None, *, present: bool = False) -> CurbResult:
    """ "I'm here": the guardian's family's car enters today's queue, as a curb scan would
    (the same service, idempotent with the client's key). Where the school requires the
    pickup line sign, only when the phone scanned it recently (`present`); else refused,
    with nothing written."""
    require_feature(school, "here")
    if actor.guardian is None:
        raise InvalidInput(_("Only a guardian can say their family is here."))
    if not key:
        raise InvalidInput(_("The request id is missing."), field="key")
    if carline_settings(school).require_pickup_sign and not present:
        raise Conflict(SCAN_FIRST)
    family = family_of(actor.guardian)
    try:
        return curb_entry(school, idempotency_key=key, actor=actor, family=family)
    except Conflict as error:
        raise Conflict(
            _("%(refusal)s The button works while dismissal runs.", refusal=error.message)
        ) from None


def _guardian_of(actor: Actor, student: Student) -> Guardian:
    guardian = actor.guardian
    if guardian is None:
        raise InvalidInput(_("Only a guardian changes plans on the family page."))
    guardian_child(guardian, student.id)
    return guardian


# ------------------------------------------------------------------ confirmations


def _confirm(
    guardian: Guardian,
    school: School,
    student: Student,
    days: list[date],
    *,
    mode: str | None = None,
    route: str | None = None,
    early: time | None = None,
    with_tag: int | None = None,
) -> None:
    """Queue the confirmation mail (sent after the commit), when the guardian has an address:
    the new way home (`mode`, `route`), the early pickup time, else the absence, on
    one day or a series of days, in the guardian's language."""
    if guardian.email is None or not mail.configured():
        return
    phone = carline_settings(school).office_phone
    with force_locale(mail_locale(guardian, school)):
        if early is not None:
            what = _("is picked up early, at %(time)s", time=format_time(early))
        elif mode is None:
            what = _("is absent")
        elif with_tag is not None:
            what = _("goes home by car with the family of tag %(number)s", number=with_tag)
        else:
            way = str(MODE_LABELS[mode]) + (f" {route}" if route else "")
            what = _("goes home: %(way)s", way=way)
        subject = _("%(school)s: your change is saved", school=school.name)
        child = student.preferred_name or student.first_name
        phone_text = f" ({phone})" if phone else ""
        if len(days) == 1:
            body = _(
                "Hello %(name)s,\n\nThe school has your change: on %(day)s, %(child)s %(what)s."
                "\n\nIf this is not right, call the office%(phone)s.\n",
                name=guardian.name,
                day=format_date(days[0]),
                child=child,
                what=what,
                phone=phone_text,
            )
        else:
            body = ngettext(
                "Hello %(name)s,\n\nThe school has your change: from %(first)s to %(last)s,"
                " on %(num)d day, %(child)s %(what)s.\n\nIf this is not right, call the"
                " office%(phone)s.\n",
                "Hello %(name)s,\n\nThe school has your change: from %(first)s to %(last)s,"
                " on %(num)d days, %(child)s %(what)s.\n\nIf this is not right, call the"
                " office%(phone)s.\n",
                len(days),
                name=guardian.name,
                first=format_date(days[0]),
                last=format_date(days[-1]),
                child=child,
                what=what,
                phone=phone_text,
            )
    mail.enqueue(
        kind="family_change",
        to=guardian,
        subject=subject,
        body=body,
        school_id=school.id,
    )

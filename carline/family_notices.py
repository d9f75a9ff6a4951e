"""Mail to a family when the office changes, takes back or refuses a guardian's change.

(An absence a guardian reported is a change too: the office taking it back is told.)

A guardian's change of a day's plan (made on the family page, `carline.family_page`)
is confirmed by mail when it is saved. When the office later edits that day's change,
takes it back, or refuses it with a reason (`carline.plans`), the guardians of the
family whose guardian made it, those with an email address, are told what the plan is
now and why, each in their own language. The mail goes through the outbox
(`shared.mail`): it is written in the same transaction as the office's change, sent
after the commit, retried when SMTP fails, and its state is shown on the family screen.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time

from flask import g
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select

from carline.day_plans import MODE_LABELS, dismissal_mode
from carline.models import Absence, DailyChange
from carline.settings import carline_settings
from shared import audit, mail
from shared.audit import Actor
from shared.extensions import db
from shared.formats import format_date, format_time
from shared.i18n import mail_locale
from shared.models import Guardian, School, Student

#: What the office did to a guardian's change.
CHANGED, REMOVED, REFUSED = "changed", "removed", "refused"


@dataclass(frozen=True)
class GuardianChange:
    """A guardian's change of a day, as it was before the office touched it."""

    family_id: int
    day: date
    mode: str
    bus_route: str | None
    early_pickup: time | None
    note: str


def guardian_change(change: DailyChange | None) -> GuardianChange | None:
    """The change as the guardian made it; None when the office (or nobody) made it."""
    family_id = _family_of_guardian(change.created_by_guardian_id if change else None)
    if family_id is None:
        return None
    return GuardianChange(
        family_id,
        change.day,
        change.mode,
        change.bus_route,
        change.early_pickup,
        change.note or "",
    )


def reported_absence(absence: Absence | None) -> GuardianChange | None:
    """An absence as the guardian reported it; None when the office (or nobody) did."""
    family_id = _family_of_guardian(absence.created_by_guardian_id if absence else None)
    if family_id is None:
        return None
    return GuardianChange(family_id, absence.day, "absent", None, None, absence.note or "")


def _family_of_guardian(guardian_id: int | None) -> int | None:
    """The family of the guardian who made a change (None: the office made it, or that
    guardian has been removed since)."""
    guardian = db.session.get(Guardian, guardian_id) if guardian_id is not None else None
    return guardian.family_id if guardian is not None else None


def _way(mode: str, route: str | None, early: time | None) -> str:
    """A way home as a guardian reads it: "Bus 7", "Car, picked up early at 2:00 PM"."""
    way = str(MODE_LABELS.get(mode, mode)) + (f" {route}" if route else "")
    if early is not None:
        return _("%(way)s, picked up early at %(time)s", way=way, time=format_time(early))
    return way


def tell_family(
    school: School,
    actor: Actor,
    student: Student,
    before: GuardianChange,
    what: str,
    reason: str = "",
) -> list[Guardian]:
    """Queue the mail saying what the office did to the change (`what`: CHANGED, REMOVED
    or REFUSED) and why, to each guardian of the family with an address, in their
    language; audited, and returned (also as `told()`, for the office's answer)."""
    family = list(
        db.session.scalars(
            select(Guardian)
            .where(Guardian.family_id == before.family_id, Guardian.school_id == school.id)
            .order_by(Guardian.id)
        )
    )
    sending = mail.configured()
    guardians = [guardian for guardian in family if guardian.email is not None and sending]
    # Those the mail cannot reach (no address, or no mail set up): the office calls them.
    g.setdefault("family_not_told", []).extend(x for x in family if x not in guardians)
    plan = dismissal_mode(student, before.day)
    phone = carline_settings(school).office_phone
    for guardian in guardians:
        with force_locale(mail_locale(guardian, school)):
            subject, body = _message(school, student, before, what, reason, plan, phone, guardian)
        mail.enqueue(
            kind="family_change",
            to=guardian,
            subject=subject,
            body=body,
            school_id=school.id,
        )
    if guardians:
        audit.record(
            "carline.family_notice",
            school_id=school.id,
            target=student,
            detail={
                "day": before.day.isoformat(),
                "what": what,
                "guardians": [guardian.id for guardian in guardians],
            },
            actor=actor,
        )
    g.setdefault("family_told", []).extend(guardians)
    return guardians


def told() -> tuple[list[Guardian], list[Guardian]]:
    """The guardians told by mail so far in this request (or app context), and those of
    the same families the mail cannot reach (no address)."""
    return list(g.get("family_told", [])), list(g.get("family_not_told", []))


def _message(school, student, before, what, reason, plan, phone, guardian) -> tuple[str, str]:
    child = student.preferred_name or student.first_name
    values = {
        "name": guardian.name,
        "child": child,
        "day": format_date(before.day),
        "asked": _way(before.mode, before.bus_route, before.early_pickup),
        "now": (
            str(MODE_LABELS["absent"])
            if plan.mode == "absent"
            else _way(plan.mode, plan.bus_route, plan.early_pickup)
        ),
    }
    if what == CHANGED:
        subject = _("%(school)s: the office changed your change", school=school.name)
        text = _(
            "The office changed the plan for %(child)s on %(day)s. You had asked: %(asked)s."
            " Now: %(now)s.",
            **values,
        )
    elif what == REMOVED:
        subject = _("%(school)s: the office took back your change", school=school.name)
        text = _(
            "The office took back the change for %(child)s on %(day)s (you had asked:"
            " %(asked)s). %(child)s goes home as usual: %(now)s.",
            **values,
        )
    else:
        subject = _("%(school)s: the office could not accept your change", school=school.name)
        text = _(
            "The office could not accept the change for %(child)s on %(day)s (you had"
            " asked: %(asked)s). %(child)s goes home as usual: %(now)s.",
            **values,
        )
    why = _("Reason: %(reason)s", reason=reason) if reason else ""
    phone_text = f" ({phone})" if phone else ""
    body = _(
        "Hello %(name)s,\n\n%(text)s\n\n%(why)sIf you have a question, call the office%(phone)s.\n",
        name=guardian.name,
        text=text,
        why=f"{why}\n\n" if why else "",
        phone=phone_text,
    )
    return subject, body

"""The family page: a guardian's phone (390x844), signed in by a mailed link.

Thin views for one kind of caller, `@access("guardian")`: every record is reached through
`g.principal.guardian` (its family's students only, `carline.family_page.guardian_child`),
so no id in a URL reaches another family's child. The writes are the office's own
services, called by `carline.family_page`.
"""

from __future__ import annotations

import secrets

from babel.dates import get_day_names
from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _

from carline import bp, carpools
from carline.day_plans import MODE_LABELS
from carline.family_page import (
    announce,
    change_plan,
    family_today,
    guardian_child,
    pick_up_early,
    report_absence,
)
from carline.pickup_sign import PRESENCE_COOKIE, is_present
from carline.recording import TOPIC
from shared import live
from shared.access import access
from shared.audit import current_actor
from shared.errors import DomainError
from shared.extensions import db
from shared.formats import format_date, format_time
from shared.forms import parse_clock, parse_date, parse_int, parse_int_list

PAGE = "carline/family/home.html"
#: A change's "Goes home" choice naming a partner family: "family-<id>".
WITH_FAMILY = "family-"
STATUS = "carline/family/partials/status.html"


def _school():
    return g.principal.school


def _present() -> bool:
    """This phone scanned the pickup line sign a few minutes ago (its signed cookie)."""
    return is_present(request.cookies.get(PRESENCE_COOKIE), _school(), g.principal.guardian_session)


def _context(version: int | None = None, *, audited: bool = True, **extra) -> dict:
    school = _school()
    guardian = g.principal.guardian
    today = family_today(
        school, guardian, actor=current_actor(), audited=audited, present=_present()
    )
    return {
        "weekdays": get_day_names("abbreviated", locale=get_locale()),
        "today": today,
        "mode_labels": MODE_LABELS,
        "version": live.current(school.id, TOPIC) if version is None else version,
        "here_key": secrets.token_urlsafe(16),
        **extra,
    }


def _failed(error: DomainError, student_id: int | None = None):
    """The page again, with the refusal said next to its form; nothing was written."""
    db.session.rollback()
    context = _context(error=error.message, failed_student=student_id)
    return render_template(PAGE, form=request.form, **context), error.status_code


@bp.route("/family")
@access("guardian")
def family_home():
    """Today, per child: how they go home, any change, whether dismissal has started."""
    return render_template(PAGE, form=None, error=None, failed_student=None, **_context())


@bp.route("/family/status")
@access("guardian")
def family_status():
    """Live region: dismissal started or not, the "I'm here" button, the car's place."""
    return live.poll(
        _school().id,
        TOPIC,
        lambda version: render_template(STATUS, **_context(version, audited=False)),
    )


def _day():
    return parse_date(request.form.get("day"), field="day", required=True)


@bp.route("/family/students/<int:student_id>/change", methods=["POST"])
@access("guardian")
def family_change(student_id: int):
    """Change how a child goes home on a day (before the cutoff for today)."""
    student = guardian_child(g.principal.guardian, student_id)
    form = request.form
    try:
        day = _day()
        until, weekdays = None, []
        if form.get("repeat") == "weekdays":  # else once, on that day
            until = parse_date(form.get("until"), field="until", label=_("Until"), required=True)
            weekdays = parse_int_list(form.getlist("weekday"), field="weekday", low=0, high=6)
        mode, with_family_id = form.get("mode", ""), None
        if mode.startswith(WITH_FAMILY):
            with_family_id = parse_int(mode[len(WITH_FAMILY) :], field="mode", label=_("Goes home"))
        changes = change_plan(
            _school(),
            current_actor(),
            student,
            day,
            mode=mode,
            with_family_id=with_family_id,
            bus_route=form.get("bus_route"),
            note=form.get("note", ""),
            until=until,
            weekdays=weekdays,
        )
    except DomainError as error:
        return _failed(error, student.id)
    name = student.preferred_name or student.first_name
    if len(changes) == 1:
        flash(_("Saved: %(name)s, %(day)s.", name=name, day=format_date(day)), "success")
    else:
        flash(
            ngettext(
                "Saved: %(name)s, %(num)d day from %(first)s to %(last)s.",
                "Saved: %(name)s, %(num)d days from %(first)s to %(last)s.",
                len(changes),
                name=name,
                first=format_date(changes[0].day),
                last=format_date(changes[-1].day),
            ),
            "success",
        )
    return redirect(url_for("carline.family_home"))


@bp.route("/family/students/<int:student_id>/early", methods=["POST"])
@access("guardian")
def family_early(student_id: int):
    """Say a child is picked up early on a day, at a time (before the cutoff for today)."""
    student = guardian_child(g.principal.guardian, student_id)
    try:
        day = _day()
        at = parse_clock(request.form.get("at"), field="at", label=_("Pickup time"), required=True)
        pick_up_early(
            _school(), current_actor(), student, day, at=at, note=request.form.get("note", "")
        )
    except DomainError as error:
        return _failed(error, student.id)
    name = student.preferred_name or student.first_name
    flash(
        _(
            "Saved: %(name)s is picked up early on %(day)s at %(time)s, not called at dismissal.",
            name=name,
            day=format_date(day),
            time=format_time(at),
        ),
        "success",
    )
    return redirect(url_for("carline.family_home"))


@bp.route("/family/students/<int:student_id>/absence", methods=["POST"])
@access("guardian")
def family_absence(student_id: int):
    """Report a child absent on a day (today or later)."""
    student = guardian_child(g.principal.guardian, student_id)
    try:
        day = _day()
        report_absence(_school(), current_actor(), student, day, note=request.form.get("note", ""))
    except DomainError as error:
        return _failed(error, student.id)
    name = student.preferred_name or student.first_name
    flash(
        _(
            "Absence saved: %(name)s, %(day)s. %(name)s will not be called.",
            name=name,
            day=format_date(day),
        ),
        "success",
    )
    return redirect(url_for("carline.family_home"))


@bp.route("/family/here", methods=["POST"])
@access("guardian")
def family_here():
    """ "I'm here": the family's car enters today's line (idempotent by the page's key)."""
    try:
        result = announce(_school(), current_actor(), request.form.get("key"), present=_present())
    except DomainError as error:
        return _failed(error)
    if result.entry is None:
        flash(_("Nobody of yours is to be called by car today: see the office."), "warning")
    elif result.spot and result.entry.status == "at_spot":
        flash(
            _("The school knows you are here: drive to spot %(spot)s.", spot=result.spot), "success"
        )
    else:
        flash(_("The school knows you are here: you are in line."), "success")
    return redirect(url_for("carline.family_home"))


# Carpools


def _carpool_failed(error: DomainError):
    """The page again with the refusal at the carpool section; nothing was written."""
    db.session.rollback()
    context = _context(carpool_error=error.message, carpool_form=request.form)
    return (
        render_template(PAGE, form=None, error=None, failed_student=None, **context),
        error.status_code,
    )


@bp.route("/family/carpools", methods=["POST"])
@access("guardian")
def family_carpool_propose():
    """Propose a carpool to another family by its tag number (they confirm it)."""
    try:
        number = parse_int(
            request.form.get("tag_number"), field="tag_number", label=_("Tag number")
        )
        agreement = carpools.propose(_school(), current_actor(), number)
    except DomainError as error:
        return _carpool_failed(error)
    other = agreement.other(g.principal.guardian.family_id).tag_number
    if agreement.status == "active":
        flash(_("You now carpool with tag %(number)s.", number=other), "success")
    else:
        flash(
            _(
                "Proposal sent: a guardian of tag %(number)s confirms it on their page.",
                number=other,
            ),
            "success",
        )
    return redirect(url_for("carline.family_home"))


@bp.route("/family/carpools/<int:agreement_id>/confirm", methods=["POST"])
@access("guardian")
def family_carpool_confirm(agreement_id: int):
    """Confirm a carpool another family proposed to this one."""
    agreement = carpools.guardian_agreement(current_actor(), agreement_id)
    try:
        carpools.confirm(_school(), current_actor(), agreement)
    except DomainError as error:
        return _carpool_failed(error)
    other = agreement.other(g.principal.guardian.family_id).tag_number
    flash(_("You now carpool with tag %(number)s.", number=other), "success")
    return redirect(url_for("carline.family_home"))


@bp.route("/family/carpools/<int:agreement_id>/end", methods=["POST"])
@access("guardian")
def family_carpool_leave(agreement_id: int):
    """End a carpool, take back this family's proposal, or decline one made to it."""
    agreement = carpools.guardian_agreement(current_actor(), agreement_id)
    try:
        removed = carpools.end(_school(), current_actor(), agreement)
    except DomainError as error:
        return _carpool_failed(error)
    other = agreement.other(g.principal.guardian.family_id).tag_number
    flash(
        ngettext(
            "No carpool with tag %(tag)s any more; %(num)d plan that sent a child with the "
            "other family is taken back.",
            "No carpool with tag %(tag)s any more; %(num)d plans that sent a child with the "
            "other family are taken back.",
            removed,
            tag=other,
        )
        if removed
        else _("No carpool with tag %(tag)s any more.", tag=other),
        "success",
    )
    return redirect(url_for("carline.family_home"))

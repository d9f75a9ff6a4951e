"""The family page: a guardian's phone (390x844), signed in by a mailed link.

Thin views for one kind of caller, `@access("guardian")`: every record is reached through
`g.principal.guardian` (its family's students only, `carline.family_page.guardian_child`),
so no id in a URL reaches another family's child. The writes are the office's own
services, called by `carline.family_page`.
"""

from __future__ import annotations

import secrets

from flask import flash, g, redirect, render_template, request, url_for

from carline import bp
from carline.day_plans import MODE_LABELS
from carline.family_page import (
    announce,
    change_plan,
    family_today,
    guardian_child,
    report_absence,
)
from carline.recording import TOPIC
from shared import live
from shared.access import access
from shared.audit import current_actor
from shared.errors import DomainError
from shared.extensions import db
from shared.forms import parse_date

PAGE = "carline/family/home.html"
STATUS = "carline/family/partials/status.html"


def _school():
    return g.principal.school


def _context(version: int | None = None, *, audited: bool = True, **extra) -> dict:
    school = _school()
    guardian = g.principal.guardian
    return {
        "today": family_today(school, guardian, actor=current_actor(), audited=audited),
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
    try:
        day = _day()
        change_plan(
            _school(),
            current_actor(),
            student,
            day,
            mode=request.form.get("mode", ""),
            bus_route=request.form.get("bus_route"),
            note=request.form.get("note", ""),
        )
    except DomainError as error:
        return _failed(error, student.id)
    flash(f"Saved: {student.preferred_name or student.first_name}, {day:%a %b %-d}.", "success")
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
    flash(f"Absence saved: {name}, {day:%a %b %-d}. {name} will not be called.", "success")
    return redirect(url_for("carline.family_home"))


@bp.route("/family/here", methods=["POST"])
@access("guardian")
def family_here():
    """ "I'm here": the family's car enters today's line (idempotent by the page's key)."""
    try:
        result = announce(_school(), current_actor(), request.form.get("key"))
    except DomainError as error:
        return _failed(error)
    if result.entry is None:
        flash("Nobody of yours is to be called by car today: see the office.", "warning")
    elif result.spot and result.entry.status == "at_spot":
        flash(f"The school knows you are here: drive to spot {result.spot}.", "success")
    else:
        flash("The school knows you are here: you are in line.", "success")
    return redirect(url_for("carline.family_home"))

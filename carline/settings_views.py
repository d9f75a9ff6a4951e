"""Car line start page and the school's car line settings (lanes, spots, cutoff, doors),
and what the family page offers families (the office's switches).

Thin views: they parse the form, check who is asking and call `carline.settings`.
"""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select

from carline import bp
from carline.plan_lists import day_overview
from carline.settings import (
    FAMILY_FEATURES,
    FEATURE_LABELS,
    carline_settings,
    feature_changes,
    parse_doors,
    save_family_features,
    save_settings,
)
from shared.access import access
from shared.audit import current_actor
from shared.errors import DomainError, rerender
from shared.extensions import db
from shared.forms import parse_clock, parse_int
from shared.models import Family, family_students
from shared.schedule import school_today

OFFICE = ("admin", "office")
STAFF = ("admin", "office", "teacher", "staff")


def _school():
    return g.principal.school


@bp.route("/")
@access(*STAFF)
def index():
    """Car line start page: the day's numbers and the car line pages for this role."""
    school = _school()
    families = db.session.scalar(
        select(func.count(Family.id)).where(Family.school_id == school.id, Family.active.is_(True))
    )
    students_on_tags = db.session.scalar(
        select(func.count(func.distinct(family_students.c.student_id)))
        .join(Family, Family.id == family_students.c.family_id)
        .where(Family.school_id == school.id, Family.active.is_(True))
    )
    today = school_today(school)
    overview = day_overview(school, today) if g.principal.has_role(*OFFICE) else None
    return render_template(
        "carline/index.html",
        families=families,
        students_on_tags=students_on_tags,
        overview=overview,
        today=today,
    )


# Settings


@bp.route("/settings", methods=["GET", "POST"])
@access("admin")
def settings():
    """The school's car line settings: lanes, loading spots, cutoff, walker doors."""
    school = _school()

    template = "carline/office/settings.html"
    if request.method == "GET":
        return render_template(template, current=carline_settings(school), form=None, error=None)
    try:
        save_settings(
            school,
            current_actor(),
            lanes=parse_int(request.form.get("lanes"), field="lanes", label=_("Lanes")),
            spots_per_lane=parse_int(
                request.form.get("spots_per_lane"),
                field="spots_per_lane",
                label=_("Loading spots per lane"),
            ),
            cutoff=parse_clock(request.form.get("cutoff"), field="cutoff", label=_("Cutoff")),
            walker_doors=parse_doors(request.form.get("walker_doors", "")),
            office_phone=request.form.get("office_phone", ""),
            family_modes=request.form.getlist("family_modes"),
            # -- the pickup line sign
            require_pickup_sign=request.form.get("require_pickup_sign") == "1",
        )
    except DomainError as error:
        return rerender(
            template, error, form=request.form, reload=lambda: {"current": carline_settings(school)}
        )
    flash(_("Car line settings saved."), "success")
    return redirect(url_for("carline.settings"))


FEATURES_TEMPLATE = "carline/office/family_features.html"


def _features_context() -> dict:
    return {
        "current": carline_settings(_school()),
        "features": FAMILY_FEATURES,
        "feature_labels": FEATURE_LABELS,
        "changes": feature_changes(_school()),
    }


@bp.route("/settings/family-page", methods=["GET", "POST"])
@access(*OFFICE)
def family_features():
    """Turn each thing families may do on the family page on or off (audited)."""
    if request.method == "GET":
        return render_template(FEATURES_TEMPLATE, form=None, error=None, **_features_context())
    try:
        save_family_features(_school(), current_actor(), request.form.getlist("family_features"))
    except DomainError as error:
        return rerender(FEATURES_TEMPLATE, error, form=request.form, reload=_features_context)
    flash(_("Family page settings saved."), "success")
    return redirect(url_for("carline.family_features"))

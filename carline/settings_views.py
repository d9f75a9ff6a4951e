"""Car line start page and the school's car line settings (lanes, spots, cutoff, doors).

Thin views: they parse the form, check who is asking and call `carline.settings`.
"""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from sqlalchemy import func, select

from carline import bp
from carline.plan_lists import day_overview
from carline.settings import carline_settings, parse_doors, save_settings
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
            lanes=parse_int(request.form.get("lanes"), field="lanes", label="Lanes"),
            spots_per_lane=parse_int(
                request.form.get("spots_per_lane"),
                field="spots_per_lane",
                label="Loading spots per lane",
            ),
            cutoff=parse_clock(request.form.get("cutoff"), field="cutoff", label="Cutoff"),
            walker_doors=parse_doors(request.form.get("walker_doors", "")),
            office_phone=request.form.get("office_phone", ""),
            family_modes=request.form.getlist("family_modes"),
        )
    except DomainError as error:
        return rerender(
            template, error, form=request.form, reload=lambda: {"current": carline_settings(school)}
        )
    flash("Car line settings saved.", "success")
    return redirect(url_for("carline.settings"))

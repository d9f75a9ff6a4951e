"""District admin pages: the district's schools, to add, rename, re-zone, archive, restore.

Thin views over shared/schools.py, which holds every rule (who may, what a valid code
or time zone is, what archiving means). A fresh install's district admin starts here:
the dashboard sends them to this page while there is no school yet.
"""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from shared import schools
from shared.access import access
from shared.audit import current_actor
from shared.errors import DomainError, rerender

bp = Blueprint("schools", __name__, url_prefix="/schools")


def _form_context(**context):
    return {"timezones": schools.timezone_choices(), **context}


@bp.route("/", methods=["GET", "POST"])
@access("district")
def index():
    """Every school of the district (archived ones last), and the form to add one."""
    if request.method == "GET":
        return render_template(
            "schools/list.html", **_form_context(schools=schools.all_schools(), form={})
        )
    try:
        school = schools.create_school(
            actor=current_actor(),
            name=request.form.get("name", ""),
            code=request.form.get("code", ""),
            timezone=request.form.get("timezone", ""),
        )
    except DomainError as error:
        return rerender(
            "schools/list.html",
            error,
            **_form_context(schools=schools.all_schools(), form=request.form),
        )
    flash(_("%(school)s (%(code)s) is added.", school=school.name, code=school.code), "success")
    return redirect(url_for("schools.index"))


@bp.route("/<int:school_id>", methods=["GET", "POST"])
@access("district")
def edit(school_id: int):
    """Rename a school, change its code or time zone, archive or restore it."""
    school = schools.get_school(school_id)
    if request.method == "GET":
        return render_template("schools/edit.html", **_form_context(school=school, form={}))
    action = request.form.get("action")
    if action in ("archive", "restore"):
        schools.set_archived(school, action == "archive", actor=current_actor())
        flash(
            _("%(school)s is archived: it is hidden and nobody can work there.", school=school.name)
            if action == "archive"
            else _("%(school)s is restored.", school=school.name),
            "success",
        )
        return redirect(url_for("schools.index"))
    if action != "save":
        raise DomainError(_("Unknown action."))
    try:
        schools.update_school(
            school,
            actor=current_actor(),
            name=request.form.get("name", ""),
            code=request.form.get("code", ""),
            timezone=request.form.get("timezone", ""),
        )
    except DomainError as error:
        school = schools.get_school(school_id)  # the rollback expired it
        context = _form_context(school=school, form=request.form)
        return rerender("schools/edit.html", error, **context)
    flash(_("%(school)s is saved.", school=school.name), "success")
    return redirect(url_for("schools.index"))

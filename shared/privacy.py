"""Privacy views: retention policy, data inventory, one student's records (export, delete)."""

import json

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from shared import inventory, retention
from shared import student_records as student_records_service
from shared.access import access
from shared.errors import DomainError
from shared.extensions import db

bp = Blueprint("privacy", __name__)


def _record_labels() -> dict:
    """What each table holds, as people read it (the data inventory's labels)."""
    return {name: entry.label for name, entry in inventory.entries().items()}


@bp.route("/admin/privacy", methods=["GET", "POST"])
@access("admin")
def retention_policy():
    """How long this school keeps its history, and when the purge last ran."""
    school = g.principal.school
    error = None
    if request.method == "POST":
        try:
            retention.set_policy(school, request.form)
        except DomainError as failure:
            db.session.rollback()
            error = failure
        else:
            flash(_("Retention periods saved. The next purge applies them."), "success")
            return redirect(url_for("privacy.retention_policy"))
    page = render_template(
        "privacy/retention.html",
        periods=retention.periods(),
        days=request.form if error else retention.policy(school),
        last=retention.last_purge(school),
        error=error,
        labels=_record_labels(),
        min_days=retention.MIN_DAYS,
        max_days=retention.MAX_DAYS,
    )
    return (page, error.status_code) if error else page


@bp.route("/privacy/inventory")
@access("user")
def data_inventory():
    """Every kind of record stored, why, who sees it and how long it is kept."""
    return render_template(
        "privacy/inventory.html",
        tables=inventory.tables(),
        nothing_leaves=inventory.NOTHING_LEAVES,
        days=retention.policy(g.principal.school) if g.principal.school else None,
    )


@bp.route("/admin/students/<int:student_id>/records")
@access("admin")
def student_records(student_id: int):
    """What is stored about one student, with export and delete."""
    student = student_records_service.student_of(g.principal.school, student_id)
    records = student_records_service.collect(student)
    return render_template(
        "privacy/student_records.html",
        student=student,
        counts={table: len(rows) for table, rows in records.items()},
        labels=_record_labels(),
    )


@bp.route("/admin/students/<int:student_id>/export.<fmt>")
@access("admin")
def export_student(student_id: int, fmt: str):
    """Download everything stored about one student, as JSON or CSV (audited)."""
    if fmt not in ("json", "csv"):
        abort(404)
    student = student_records_service.student_of(g.principal.school, student_id)
    data = student_records_service.export(student, fmt)
    filename = f"student-{student.id}-records.{fmt}"
    if fmt == "json":
        body = json.dumps(data, ensure_ascii=False, indent=2, default=str)
        mimetype = "application/json"
    else:
        body, mimetype = data, "text/csv; charset=utf-8"
    return Response(
        body, mimetype=mimetype, headers={"Content-Disposition": f"attachment; filename={filename}"}
    )


@bp.route("/admin/students/<int:student_id>/delete", methods=["GET", "POST"])
@access("admin")
def delete_student(student_id: int):
    """Delete a student and everything about them, after confirmation (audited)."""
    student = student_records_service.student_of(g.principal.school, student_id)
    counts = {t: len(rows) for t, rows in student_records_service.collect(student).items()}
    error = None
    if request.method == "POST":
        if request.form.get("confirm", "").strip() != student.student_number:
            error = _("Type the student number exactly to confirm.")
        else:
            deleted = student_records_service.delete_student(student)
            flash(
                ngettext(
                    "The student and %(num)d related record are deleted.",
                    "The student and %(num)d related records are deleted.",
                    sum(deleted.values()) - 1,
                ),
                "success",
            )
            return redirect(url_for("admin.students"))
    page = render_template(
        "privacy/delete_student.html",
        student=student,
        counts=counts,
        labels=_record_labels(),
        error=error,
    )
    return (page, 400) if error else page

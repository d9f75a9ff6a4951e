"""Hall pass history and reports views.

The office and admins see the whole school; a teacher sees the students of their own
classes only. Filters travel as ids in the query string (never names); finding a student
by name is a POST search. Looking at one student's history (their page, a report or a
lookup narrowed to them, or its CSV) is recorded in the audit log.
"""

from __future__ import annotations

from flask import g, render_template, request
from flask_babel import gettext as _

from hallpass import bp
from hallpass.appointment_lists import student_appointments
from hallpass.appointments import shown_status
from hallpass.reports import csv_files, figures, lines
from hallpass.reports import scope as report_scope
from hallpass.tardy_views import student_tardies
from shared import audit
from shared.access import access
from shared.csvfile import csv_download
from shared.errors import InvalidInput
from shared.forms import parse_id
from shared.models import Student
from shared.schedule import school_today
from shared.timeutil import utcnow

VIEWERS = ("admin", "office", "teacher")


def _scope() -> report_scope.Scope:
    return report_scope.scope_for(g.principal)


def _filter(scope: report_scope.Scope, **forced) -> report_scope.ReportFilter:
    args = request.args.to_dict()
    args.update(forced)
    return report_scope.parse_filter(scope, args, school_today(scope.school))


def _audit_history(student: Student, view: str, fmt: str, **detail) -> None:
    """Record that someone looked at one student's pass history.

    Called once the page or file is built, as the request's last database work: a
    read request commits only when something new is waiting in the session.
    """
    audit.record(
        "hallpass.student_history_view",
        school_id=student.school_id,
        target=student,
        detail={"view": view, "format": fmt, **detail},
    )


def _range_detail(flt: report_scope.ReportFilter) -> dict:
    return {"from": flt.first.isoformat(), "to": flt.last.isoformat()}


@bp.route("/reports")
@access(*VIEWERS)
def reports_index():
    """Pass history: figures, charts and tables over a date range, with filters."""
    scope = _scope()
    flt = _filter(scope)
    now = utcnow()
    report = figures.build_report(scope, flt, now)
    student = report_scope.visible_student(scope, flt.student_id) if flt.student_id else None
    page = render_template(
        "hallpass/reports/index.html",
        scope=scope,
        flt=flt,
        report=report,
        student=student,
        choices=report_scope.filter_choices(scope),
        passes=lines.pass_lines(scope, flt, now, limit=lines.PAGE_PASSES),
        day_chart=figures.figures_chart(
            _("Passes per school day"), report.by_day, chart_id="chart-days"
        ),
        hour_chart=figures.figures_chart(
            _("Passes by hour of the day"), report.by_hour, chart_id="chart-hours"
        ),
    )
    if student is not None:
        _audit_history(student, "report", "html", **_range_detail(flt))
    return page


@bp.route("/reports/export.csv")
@access(*VIEWERS)
def reports_csv():
    """One table of the report (or every matching pass) as a CSV download."""
    scope = _scope()
    flt = _filter(scope)
    kind = request.args.get("kind", "passes").strip()
    text = csv_files.report_csv(scope, flt, kind)
    if flt.student_id is not None:
        student = report_scope.visible_student(scope, flt.student_id)
        _audit_history(student, f"report:{kind}", "csv", **_range_detail(flt))
    return csv_download(
        f"hall-passes-{kind}-{flt.first.isoformat()}-{flt.last.isoformat()}.csv", text
    )


@bp.route("/reports/students", methods=["POST"])
@access(*VIEWERS)
def report_student_search():
    """Find a student by name or number (POST, so names stay out of URLs)."""
    scope = _scope()
    query = request.form.get("q", "").strip()[:100]
    return render_template(
        "hallpass/reports/students.html",
        scope=scope,
        query=query,
        found=report_scope.find_visible_students(scope, query),
        flt=_filter(scope),
    )


@bp.route("/reports/students/<int:student_id>")
@access(*VIEWERS)
def student_history(student_id: int):
    """One student's passes over a date range (viewing it is audited)."""
    scope = _scope()
    student = report_scope.visible_student(scope, student_id)
    flt = _filter(scope, student=str(student.id))
    now = utcnow()
    report = figures.Report(
        filter=flt,
        totals=figures.totals(scope, flt, now),
        by_destination=figures.by_destination(scope, flt, now),
        by_period=figures.by_period(scope, flt, now),
        by_day=figures.by_day(scope, flt, now),
    )
    page = render_template(
        "hallpass/reports/student.html",
        scope=scope,
        student=student,
        flt=flt,
        report=report,
        passes=lines.pass_lines(scope, flt, now),
        tardies=student_tardies(scope, student.id, flt.first, flt.last),
        appointments=student_appointments(scope.school, student.id, flt.first, flt.last),
        appointment_status=lambda a: shown_status(a, now),
        day_chart=figures.figures_chart(
            _("Passes per school day of %(name)s", name=student.display_name),
            report.by_day,
            chart_id="chart-student-days",
        ),
    )
    _audit_history(student, "history", "html", **_range_detail(flt))
    return page


@bp.route("/reports/students/<int:student_id>/passes.csv")
@access(*VIEWERS)
def student_history_csv(student_id: int):
    """One student's passes as a CSV download (audited)."""
    scope = _scope()
    student = report_scope.visible_student(scope, student_id)
    flt = _filter(scope, student=str(student.id))
    text = csv_files.passes_csv(scope.school, lines.pass_lines(scope, flt))
    _audit_history(student, "history", "csv", **_range_detail(flt))
    return csv_download(
        f"student-{student.id}-passes-{flt.first.isoformat()}-{flt.last.isoformat()}.csv", text
    )


def _incident(scope: report_scope.Scope):
    """The lookup window, the student (if any) and the passes out during it."""
    window = lines.parse_window(scope.school, request.args, school_today(scope.school))
    student_id = parse_id(request.args.get("student"), field="student")
    student = report_scope.visible_student(scope, student_id) if student_id else None
    if window is None:
        return None, student, []
    found = lines.who_was_out(scope, window, student_id=student.id if student else None)
    return window, student, found


def _audit_incident(student, window: lines.Window, fmt: str) -> None:
    if student is not None:
        _audit_history(
            student, "incident", fmt, start=window.start.isoformat(), end=window.end.isoformat()
        )


@bp.route("/reports/incident")
@access(*VIEWERS)
def incident():
    """Who was out at the same time: every pass overlapping a window (or a student's passes)."""
    scope = _scope()
    window, student, found = _incident(scope)
    page = render_template(
        "hallpass/reports/incident.html",
        scope=scope,
        window=window,
        student=student,
        found=found,
        today=school_today(scope.school),
    )
    if window is not None:
        _audit_incident(student, window, "html")
    return page


@bp.route("/reports/incident.csv")
@access(*VIEWERS)
def incident_csv():
    """The incident lookup as a CSV download."""
    scope = _scope()
    window, student, found = _incident(scope)
    if window is None:
        raise InvalidInput(_("Choose a day and a time window first."))
    text = csv_files.incident_csv(scope.school, found)
    _audit_incident(student, window, "csv")
    return csv_download(f"who-was-out-{window.day.isoformat()}.csv", text)

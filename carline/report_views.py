"""Car line report views: per-dismissal timing, per-day history, CSV exports, the chart."""

from __future__ import annotations

from flask import g, render_template, request

from carline import bp, reports
from carline.dismissal import late_pickups
from shared.access import access
from shared.csvfile import csv_download
from shared.schedule import school_today

OFFICE = ("admin", "office")


def _range():
    school = g.principal.school
    return reports.parse_range(
        request.args.get("from", "").strip(),
        request.args.get("to", "").strip(),
        school_today(school),
    )


@bp.route("/reports")
@access(*OFFICE)
def reports_history():
    """Dismissal history: one row per day over a date range, with timing numbers."""
    first, last = _range()
    rows = reports.history(g.principal.school, first, last)
    return render_template("carline/reports/history.html", rows=rows, first=first, last=last)


@bp.route("/reports/history.csv")
@access(*OFFICE)
def reports_history_csv():
    """The history table as a CSV download."""
    first, last = _range()
    school = g.principal.school
    text = reports.history_csv(school, reports.history(school, first, last))
    return csv_download(f"dismissals-{first.isoformat()}-{last.isoformat()}.csv", text)


@bp.route("/reports/<int:dismissal_id>")
@access(*OFFICE)
def report(dismissal_id: int):
    """One dismissal: timing, waits, students called by mode, late pickups, the chart."""
    school = g.principal.school
    dismissal = reports.get_dismissal(school, dismissal_id)
    stats = reports.dismissal_stats(school, dismissal)
    chart = reports.timeline_svg(reports.timeline(school, dismissal))
    late = late_pickups(dismissal) if dismissal.ended_at is not None else None
    return render_template(
        "carline/reports/dismissal.html", stats=stats, dismissal=dismissal, chart=chart, late=late
    )


@bp.route("/reports/<int:dismissal_id>.csv")
@access(*OFFICE)
def report_csv(dismissal_id: int):
    """Every student called in the dismissal as a CSV download."""
    school = g.principal.school
    dismissal = reports.get_dismissal(school, dismissal_id)
    return csv_download(
        f"dismissal-{dismissal.day.isoformat()}.csv", reports.dismissal_csv(school, dismissal)
    )

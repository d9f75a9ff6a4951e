"""Late arrival views: the office's own screen, the office's kiosk, the pass to class,
the class teacher's live line, and the tardy report with its SIS file.

- The office's screen (office and admins): find the student as you type (a POST, so
  names stay out of URLs), pick the reason, record; the answer is the pass to class,
  ready to print. A second try the same day shows the first record, unless "Another
  arrival" is ticked.
- The office's kiosk: a paired kiosk whose room is an office-kind room (pair a kiosk for
  "Main office"); its hall pass screen opens this one. The student scans or types their
  ID, taps the reason, and gets the pass on screen (printable). The chosen student
  travels between the two taps as the hall pass kiosk's signed, one-minute value, never
  in a URL. A pass QR scanned here still checks a student in at the office.
- The tablet: today's late arrivals into the class shown, a live region of its own.
Both recording paths go through `hallpass.tardies.record_late_arrival`.
"""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from hallpass import bp, passes, tardies, tokens
from hallpass.kiosk_views import KIOSK_RETURN_SECONDS, PASS_URL, device_room
from hallpass.reports.scope import scope_for
from hallpass.rules import load_student
from hallpass.tardy_models import TARDY_REASON_LABELS, TARDY_REASONS, Tardy
from hallpass.tardy_reports import (
    TardyFilter,
    counts,
    may_see_class,
    parse_filter,
    sis_csv_chunks,
    tardy_lines,
)
from shared import audit, live
from shared.access import access, school_record
from shared.audit import current_actor
from shared.csvfile import csv_download
from shared.errors import DomainError, Forbidden, InvalidInput, rerender
from shared.extensions import db
from shared.forms import parse_id
from shared.i18n import LANGUAGE_COOKIE, end_turn
from shared.models import Room, RoomKind, SchoolClass
from shared.schedule import period_names, school_today
from shared.students import search_students, search_text

OFFICE = ("admin", "office")
VIEWERS = ("admin", "office", "teacher")
#: Students the type-ahead lists.
FOUND_LIMIT = 10
#: Seconds the kiosk shows the pass to class before it returns to its scan screen.
KIOSK_PASS_SECONDS = 30


def _reasons() -> list[tuple[str, str]]:
    return [(code, str(TARDY_REASON_LABELS[code])) for code in TARDY_REASONS]


# ------------------------------------------------------------------ the office's screen


def _office_context(**extra) -> dict:
    school = g.principal.school
    return {
        "today": tardies.school_tardies_today(school),
        "reasons": _reasons(),
        "found": [],
        "query": "",
        "form": {},
        **extra,
    }


@bp.route("/late")
@access(*OFFICE)
def late_arrivals():
    """The office's screen: find a late student, record the reason, print the pass."""
    return render_template("hallpass/late/office.html", **_office_context())


@bp.route("/late/students", methods=["POST"])
@access(*OFFICE)
def late_students():
    """Type-ahead: the students matching what the office typed (the list alone for htmx)."""
    query = search_text(request.form.get("q"))
    found = search_students(g.principal.school, query, limit=FOUND_LIMIT) if query else []
    if request.htmx:
        return render_template("hallpass/late/_found.html", found=found, query=query)
    return render_template("hallpass/late/office.html", **_office_context(found=found, query=query))


@bp.route("/late/record", methods=["POST"])
@access(*OFFICE)
def late_record():
    """Record a late arrival from the office's screen, then show the pass to class."""
    school = g.principal.school
    form = request.form

    def reload() -> dict:
        """After the rollback: the page again, with the chosen student still chosen."""
        try:
            chosen = [load_student(school, parse_id(form.get("student_id"), field="student_id"))]
        except DomainError:
            chosen = []
        return _office_context(found=chosen, form=form)

    try:
        student_id = parse_id(form.get("student_id"), field="student_id")
        if student_id is None:
            raise InvalidInput(_("Find the student first, then choose them."), field="student_id")
        tardy, created = tardies.record_late_arrival(
            school,
            current_actor(),
            student_id=student_id,
            reason=form.get("reason"),
            note=form.get("note"),
            source="office",
            another=form.get("another") == "1",
        )
    except DomainError as error:
        return rerender("hallpass/late/office.html", error, reload=reload)
    name = tardy.student.display_name
    if created:
        flash(_("%(name)s: late arrival recorded.", name=name), "success")
    else:
        flash(
            _(
                "%(name)s was already recorded late today. To record a second arrival, "
                "tick “Another arrival”.",
                name=name,
            ),
            "info",
        )
    return redirect(url_for("hallpass.late_slip", tardy_id=tardy.id))


@bp.route("/late/<int:tardy_id>/slip")
@access(*VIEWERS)
def late_slip(tardy_id: int):
    """The pass to class, printable: the student, the time of arrival, where to go."""
    tardy = school_record(Tardy, tardy_id, g.principal.school_id)
    if not may_see_class(scope_for(g.principal), tardy.class_id):
        raise Forbidden(_("You do not have access to this page."))
    return render_template("hallpass/late/slip.html", tardy=tardy)


# ------------------------------------------------------------------ the office's kiosk


def office_kiosk_room() -> Room:
    """The office room this kiosk is paired to (403 for a classroom's kiosk)."""
    room = device_room()
    if room.kind != RoomKind.OFFICE:
        raise Forbidden(_("This kiosk is not an office's. Late arrivals check in at the office."))
    return room


def _kiosk_answer(kind: str, status: int = 200, **context):
    """A late kiosk result screen that goes back to the scan screen by itself."""
    return render_template(
        "hallpass/late/kiosk_result.html",
        kind=kind,
        room=office_kiosk_room(),
        return_seconds=KIOSK_PASS_SECONDS
        if kind in ("recorded", "already")
        else KIOSK_RETURN_SECONDS,
        **context,
    ), status


def _kiosk_refused(error: DomainError):
    db.session.rollback()
    return _kiosk_answer("error", error.status_code, message=error.message)


@bp.route("/late/kiosk")
@access("device:kiosk")
def late_kiosk():
    """The office kiosk's scan screen (`?turn=over` drops the last student's language)."""
    if request.args.get("turn") == "over" and request.cookies.get(LANGUAGE_COOKIE):
        return end_turn(redirect(url_for("hallpass.late_kiosk")))
    return render_template("hallpass/late/kiosk_scan.html", room=office_kiosk_room())


@bp.route("/late/kiosk/scan", methods=["POST"])
@access("device:kiosk")
def late_kiosk_scan():
    """A late student's ID was scanned or typed (or a pass QR, to check in at the office)."""
    school, device = g.principal.school, g.principal.device
    room = office_kiosk_room()
    value = (request.form.get("number") or "").strip()
    try:
        found = PASS_URL.search(value)
        if found:
            hall_pass = passes.check_in(school, current_actor(), token=found[1], room_id=room.id)
            return _kiosk_answer("arrived", hall_pass=hall_pass)
        student = tokens.student_by_number(school, value)
        existing = tardies.todays_record(school, student.id, school_today(school))
        if existing is not None:
            return _kiosk_answer("already", tardy=existing)
    except DomainError as error:
        return _kiosk_refused(error)
    return render_template(
        "hallpass/late/kiosk_reason.html",
        room=room,
        student=student,
        student_token=tokens.kiosk_student_token(device, student),
        reasons=_reasons(),
    )


@bp.route("/late/kiosk/record", methods=["POST"])
@access("device:kiosk")
def late_kiosk_record():
    """The student tapped their reason: record the arrival and show the pass to class."""
    school, device = g.principal.school, g.principal.device
    room = office_kiosk_room()
    try:
        student = tokens.student_from_kiosk_token(school, device, request.form.get("student", ""))
        tardy, created = tardies.record_late_arrival(
            school,
            current_actor(),
            student_id=student.id,
            reason=request.form.get("reason"),
            note=request.form.get("note"),
            source="kiosk",
            room_id=room.id,
        )
    except DomainError as error:
        return _kiosk_refused(error)
    return _kiosk_answer("recorded" if created else "already", tardy=tardy)


# ------------------------------------------------------------------ the teacher's tablet


def render_class_tardies(section: SchoolClass, version: int | None = None) -> str:
    """The tablet's live region: today's late arrivals into this class."""
    school = g.principal.school
    if version is None:
        version = live.current(school.id, tardies.class_topic(section.id))
    return render_template(
        "hallpass/partials/class_tardies.html",
        section=section,
        tardies=tardies.class_tardies_today(school, section.id),
        version=version,
    )


@bp.route("/classes/<int:class_id>/tardies")
@access(*VIEWERS)
def class_tardies(class_id: int):
    """Live region: today's late arrivals into one class (204 while unchanged)."""
    section = school_record(SchoolClass, class_id, g.principal.school_id)
    if not may_see_class(scope_for(g.principal), section.id):
        raise Forbidden(_("You do not have access to this page."))
    return live.poll(
        section.school_id,
        tardies.class_topic(section.id),
        lambda version: render_class_tardies(section, version),
    )


# ------------------------------------------------------------------ reports


def _report_filter():
    scope = scope_for(g.principal)
    return scope, parse_filter(scope, request.args, school_today(scope.school))


@bp.route("/late/report")
@access(*VIEWERS)
def late_report():
    """Tardies by student, day, period and reason over a date range, with filters."""
    scope, flt = _report_filter()
    return render_template(
        "hallpass/late/report.html",
        scope=scope,
        flt=flt,
        figures=counts(scope, flt),
        lines=tardy_lines(scope, flt),
        reasons=_reasons(),
        reason_labels=TARDY_REASON_LABELS,
        periods=period_names(scope.school),
    )


@bp.route("/late/report.csv")
@access(*VIEWERS)
def late_report_csv():
    """The SIS file: one row per tardy (docs/tardies-csv.md), streamed; the export is audited."""
    scope, flt = _report_filter()
    audit.record(
        "hallpass.tardies_export",
        school_id=scope.school.id,
        detail={"from": flt.first.isoformat(), "to": flt.last.isoformat(), **flt.query_args()},
    )
    return csv_download(
        f"tardies-{flt.first.isoformat()}-{flt.last.isoformat()}.csv", sis_csv_chunks(scope, flt)
    )


def student_tardies(scope, student_id: int, first, last) -> list[Tardy]:
    """A student's tardies over a date range, as the viewer may see them (their history)."""
    return tardy_lines(scope, TardyFilter(first, last), student_id=student_id, limit=None)

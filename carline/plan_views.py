"""Car line office views: dismissal plans, daily changes, absences, and the day's lists.

Thin views: they parse the form, check who is asking and call `carline.plans` (the
writes) or `carline.plan_lists` (what the office and the teachers read).
Searches for students are POST forms, so names never reach a URL.
"""

from __future__ import annotations

from babel.dates import get_day_names
from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _

from carline import bp, carpools
from carline.day_plans import MODE_LABELS, SCHOOL_DAYS, dismissal_mode
from carline.families import SEARCH_LIMIT, families_of, family_by_tag
from carline.family_notices import told
from carline.models import DISMISSAL_MODES
from carline.plan_lists import (
    day_overview,
    is_absent,
    may_view_plan,
    teacher_changes,
    upcoming_changes,
    weekday_defaults,
)
from carline.plans import (
    clear_absence,
    mark_absent,
    record_change,
    refuse_change,
    set_weekday_defaults,
    take_back_change,
)
from carline.recording import TOPIC
from carline.settings import carline_settings
from shared import live
from shared.access import access, school_record
from shared.audit import current_actor
from shared.errors import DomainError, InvalidInput, rerender
from shared.extensions import db
from shared.formats import format_date
from shared.forms import parse_clock, parse_date, parse_day, parse_int, parse_int_list
from shared.models import Family, Student
from shared.schedule import school_now, school_today
from shared.students import search_students

OFFICE = ("admin", "office")


def _school():
    return g.principal.school


def _user():
    return g.principal.user


def _student(student_id: object) -> Student:
    """A student of the caller's school (404 for any other id)."""
    return school_record(Student, student_id, _school().id, _("No such student."))


@bp.route("/plans", methods=["GET", "POST"])
@access(*OFFICE)
def plans():
    """Find a student (POST search) to see and change their dismissal plan."""
    search = request.form.get("q", "").strip()[:100] if request.method == "POST" else ""
    found = search_students(_school(), search, limit=SEARCH_LIMIT) if search else None
    return render_template("carline/plans/search.html", search=search, found=found)


PLAN_TEMPLATE = "carline/plans/student.html"


def _plan_context(student) -> dict:
    """What the student's plan page shows, read from the database."""
    school = _school()
    today = school_today(school)
    can_edit = g.principal.has_role(*OFFICE)
    plan = dismissal_mode(student, today)
    return dict(
        student=student,
        today=today,
        plan=plan,
        plan_family=db.session.get(Family, plan.family_id) if plan.family_id else None,
        defaults=weekday_defaults(student),
        families=families_of(student),
        carpool_tags=sorted(
            {p.tag_number for f in families_of(student) for p in carpools.partners(f.id)}
        ),
        changes=upcoming_changes(student, today) if can_edit else [],
        absent_today=is_absent(student, today),
        settings=carline_settings(school),
        after_cutoff=_after_cutoff(school),
        can_edit=can_edit,
        modes=DISMISSAL_MODES,
        mode_labels=MODE_LABELS,
        weekdays=get_day_names("abbreviated", locale=get_locale()),
        school_days=SCHOOL_DAYS,
    )


def _after_cutoff(school) -> bool:
    cutoff = carline_settings(school).cutoff
    return cutoff is not None and school_now(school).time() >= cutoff


def _plan_student(student_id: int):
    student = _student(student_id)
    may_view_plan(_school(), _user(), g.principal.roles, student)
    return student


@bp.route("/plans/students/<int:student_id>")
@access("admin", "office", "teacher")
def student_plan(student_id: int):
    """A student's dismissal plan: weekday defaults, today, changes, absence."""
    return render_template(
        PLAN_TEMPLATE, error=None, form=None, **_plan_context(_plan_student(student_id))
    )


def _plan_form_failed(student_id: int, error: DomainError):
    """The plan page again with the refusal's message and what was typed."""
    return rerender(
        PLAN_TEMPLATE, error, form=request.form, reload=lambda: _plan_context(_student(student_id))
    )


@bp.route("/plans/students/<int:student_id>/default", methods=["POST"])
@access(*OFFICE)
def plan_default(student_id: int):
    """Set the student's default mode on the chosen weekdays (all at once or one)."""
    student = _student(student_id)
    try:
        set_weekday_defaults(
            _school(),
            current_actor(),
            student,
            parse_int_list(request.form.getlist("weekday"), field="weekday", low=0, high=6),
            request.form.get("mode", ""),
            request.form.get("bus_route"),
        )
    except DomainError as error:
        return _plan_form_failed(student_id, error)
    flash(_("Weekday plan saved."), "success")
    return redirect(url_for("carline.student_plan", student_id=student_id))


@bp.route("/plans/students/<int:student_id>/change", methods=["POST"])
@access(*OFFICE)
def plan_change(student_id: int):
    """Record a daily change (until the cutoff; after it only with an office override)."""
    school = _school()
    student = _student(student_id)
    try:
        day = parse_day(request.form.get("day"), today=school_today(school))
        record_change(
            school,
            current_actor(),
            student,
            day,
            mode=request.form.get("mode", ""),
            bus_route=request.form.get("bus_route"),
            family=family_by_tag(
                school,
                parse_int(
                    request.form.get("family_tag"),
                    field="family_tag",
                    label=_("Tag number"),
                    blank_ok=True,
                ),
            ),
            early_pickup=parse_clock(
                request.form.get("early_pickup"), field="early_pickup", label=_("Early pickup")
            ),
            note=request.form.get("note", ""),
            override=request.form.get("override") == "1",
            reason=request.form.get("reason"),
        )
    except DomainError as error:
        return _plan_form_failed(student_id, error)
    flash(_("Change for %(day)s saved.", day=format_date(day)), "success")
    _say_who_is_told()
    return redirect(url_for("carline.student_plan", student_id=student_id))


@bp.route("/plans/students/<int:student_id>/change/clear", methods=["POST"])
@access(*OFFICE)
def plan_change_clear(student_id: int):
    """Take back a daily change (the same cutoff rule as making one)."""
    school = _school()
    student = _student(student_id)
    try:
        day = parse_date(request.form.get("day"), field="day", required=True)
        take_back_change(
            school,
            current_actor(),
            student,
            day,
            override=request.form.get("override") == "1",
            reason=request.form.get("reason"),
        )
    except DomainError as error:
        return _plan_form_failed(student_id, error)
    flash(_("Change taken back: the weekday plan applies."), "success")
    _say_who_is_told()
    return redirect(url_for("carline.student_plan", student_id=student_id))


@bp.route("/plans/students/<int:student_id>/change/refuse", methods=["POST"])
@access(*OFFICE)
def plan_change_refuse(student_id: int):
    """Refuse a guardian's change of a day, with a reason mailed to the family."""
    school = _school()
    student = _student(student_id)
    try:
        day = parse_date(request.form.get("day"), field="day", required=True)
        refuse_change(
            school, current_actor(), student, day, reason=request.form.get("refuse_reason", "")
        )
    except DomainError as error:
        return _plan_form_failed(student_id, error)
    flash(_("Change refused: the weekday plan applies."), "success")
    _say_who_is_told()
    return redirect(url_for("carline.student_plan", student_id=student_id))


def _say_who_is_told() -> None:
    """The office's answer names the guardians a mail tells (sent after the commit; its
    state is on the family screen)."""
    guardians, unreachable = told()
    if guardians:
        flash(
            ngettext(
                "A mail tells %(names)s (its state is on the family screen).",
                "Mails tell %(names)s (their state is on the family screen).",
                len(guardians),
                names=", ".join(guardian.name for guardian in guardians),
            ),
            "info",
        )
    if unreachable:
        flash(
            ngettext(
                "No mail reaches %(names)s: call them to say so.",
                "No mail reaches %(names)s: call them to say so.",
                len(unreachable),
                names=", ".join(guardian.name for guardian in unreachable),
            ),
            "warning",
        )


@bp.route("/plans/students/<int:student_id>/absence", methods=["POST"])
@access(*OFFICE)
def plan_absence(student_id: int):
    """Mark the student absent today (never called), or take the absence back."""
    school = _school()
    student = _student(student_id)
    today = school_today(school)
    action = request.form.get("action")
    if action == "mark":
        mark_absent(school, current_actor(), student, today)
        flash(_("Marked absent today: the student will not be called."), "success")
    elif action == "clear":
        clear_absence(school, current_actor(), student, today)
        flash(_("The absence is taken back."), "success")
    else:
        raise InvalidInput(_("Choose to mark or clear the absence."))
    back = request.form.get("back")
    if back == "today":
        return redirect(url_for("carline.today_plans"))
    return redirect(url_for("carline.student_plan", student_id=student_id))


@bp.route("/today", methods=["GET", "POST"])
@access(*OFFICE)
def today_plans():
    """Today's daily changes and absences; POST finds a student to mark absent."""
    school = _school()
    today = school_today(school)
    search = request.form.get("q", "").strip()[:100] if request.method == "POST" else ""
    found = search_students(school, search, limit=SEARCH_LIMIT) if search else None
    overview = day_overview(school, today)
    return render_template(
        "carline/plans/today.html",
        overview=overview,
        version=live.current(school.id, TOPIC),
        absent_ids={s.id for s in overview.absent},
        search=search,
        found=found,
        settings=carline_settings(school),
        after_cutoff=_after_cutoff(school),
        mode_labels=MODE_LABELS,
    )


@bp.route("/today/lists")
@access(*OFFICE)
def today_lists():
    """Live region: today's changes and absences, a guardian's with their name (204
    while unchanged)."""
    school = _school()
    return live.poll(
        school.id,
        TOPIC,
        lambda version: render_template(
            "carline/plans/partials/today_lists.html",
            overview=day_overview(school, school_today(school)),
            version=version,
            mode_labels=MODE_LABELS,
        ),
    )


@bp.route("/my-students")
@access("admin", "office", "teacher")
def my_students():
    """Today's dismissal changes and absences of the students in my classes."""
    school = _school()
    today = school_today(school)
    return render_template(
        "carline/plans/teacher.html",
        today=today,
        rows=teacher_changes(school, _user(), today),
        mode_labels=MODE_LABELS,
    )

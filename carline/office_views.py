"""Car line office views: settings, families and hang tags, dismissal plans, daily changes.

Thin views: they parse the form, check who is asking and call `carline.office`.
Searches for students and families are POST forms, so names never reach a URL.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Response, flash, g, redirect, render_template, request, url_for
from sqlalchemy import func, select

from carline import bp, office, services
from carline.models import DISMISSAL_MODES
from carline.tag_pdf import TAGS_PER_PAGE, qr_svg, tags_pdf
from shared.access import access
from shared.errors import DomainError, InvalidInput
from shared.extensions import db
from shared.models import WEEKDAYS, Family, family_students

OFFICE = ("admin", "office")
STAFF = ("admin", "office", "teacher", "staff")


def _school():
    return g.principal.school


def _user():
    return g.principal.user


def _form_failed(error: DomainError, render: Callable[[str], str]):
    """Show the form again with the rule's message; nothing of the request is kept."""
    db.session.rollback()
    return render(error.message), error.status_code


def _int_list(values: list[str]) -> list[int]:
    try:
        return [int(v) for v in values if v.strip()]
    except ValueError:
        raise InvalidInput("The selection is malformed.") from None


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
    today = office.school_today(school)
    overview = office.day_overview(school, today) if g.principal.has_role(*OFFICE) else None
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

    def render(error: str | None = None) -> str:
        return render_template(
            "carline/office/settings.html",
            current=office.carline_settings(school),
            form=request.form if request.method == "POST" else None,
            error=error,
        )

    if request.method == "GET":
        return render()
    try:
        office.save_settings(
            school,
            _user(),
            lanes=request.form.get("lanes"),
            spots_per_lane=request.form.get("spots_per_lane"),
            cutoff=request.form.get("cutoff"),
            walker_doors=request.form.get("walker_doors", ""),
        )
    except DomainError as error:
        return _form_failed(error, render)
    flash("Car line settings saved.", "success")
    return redirect(url_for("carline.settings"))


# Families


@bp.route("/families", methods=["GET", "POST"])
@access(*OFFICE)
def families():
    """The school's families by tag number; POST searches by name, adult or number."""
    school = _school()
    search = request.form.get("q", "").strip()[:100] if request.method == "POST" else ""
    include_inactive = request.values.get("inactive") == "1"
    page = max(request.args.get("page", 1, type=int), 1)
    if search:
        rows, has_more = office.search_families(school, search), False
    else:
        rows, has_more = office.list_families(school, include_inactive=include_inactive, page=page)
    return render_template(
        "carline/families/list.html",
        rows=rows,
        search=search,
        page=page,
        has_more=has_more,
        include_inactive=include_inactive,
        next_tag=office.next_tag_number(school),
        without_tag=office.families_without_tag(school),
    )


@bp.route("/families/new", methods=["POST"])
@access(*OFFICE)
def family_new():
    """Create a family with a tag number unique in the school."""
    family = office.create_family(
        _school(),
        _user(),
        tag_number=request.form.get("tag_number"),
        pickup_adults=request.form.get("pickup_adults", ""),
    )
    flash(f"Family with tag {family.tag_number} created. Add its students.", "success")
    return redirect(url_for("carline.family", family_id=family.id))


def _render_family(family: Family, *, found=None, search: str = "", error: str | None = None):
    return render_template(
        "carline/families/family.html",
        family=family,
        tag=office.live_tag(family),
        found=found,
        search=search,
        error=error,
    )


@bp.route("/families/<int:family_id>")
@access(*OFFICE)
def family(family_id: int):
    """A family: its students, authorized adults, tag number and hang tag."""
    return _render_family(office.get_family(_school(), family_id))


@bp.route("/families/<int:family_id>/find-students", methods=["POST"])
@access(*OFFICE)
def family_find_students(family_id: int):
    """Search students of this school to add to the family (names stay in the POST body)."""
    school = _school()
    found_family = office.get_family(school, family_id)
    search = request.form.get("q", "").strip()[:100]
    found = office.search_students(school, search)
    return _render_family(found_family, found=found, search=search)


@bp.route("/families/<int:family_id>/edit", methods=["POST"])
@access(*OFFICE)
def family_edit(family_id: int):
    """Change the family's tag number or authorized pickup adults."""
    school = _school()
    found_family = office.get_family(school, family_id)
    try:
        office.update_family(
            school,
            _user(),
            found_family,
            tag_number=request.form.get("tag_number"),
            pickup_adults=request.form.get("pickup_adults", ""),
        )
    except DomainError as error:
        db.session.rollback()
        found_family = office.get_family(school, family_id)
        return _render_family(found_family, error=error.message), error.status_code
    flash("Family saved.", "success")
    return redirect(url_for("carline.family", family_id=family_id))


@bp.route("/families/<int:family_id>/active", methods=["POST"])
@access(*OFFICE)
def family_active(family_id: int):
    """Deactivate the family (its tag stops working) or bring it back."""
    school = _school()
    active = request.form.get("active")
    if active not in ("0", "1"):
        raise InvalidInput("Choose to deactivate or reactivate.")
    found_family = office.set_family_active(
        school, _user(), office.get_family(school, family_id), active == "1"
    )
    state = "active again" if found_family.active else "deactivated: its tag no longer works"
    flash(f"Family with tag {found_family.tag_number} is {state}.", "success")
    return redirect(url_for("carline.family", family_id=family_id))


@bp.route("/families/<int:family_id>/students", methods=["POST"])
@access(*OFFICE)
def family_student_add(family_id: int):
    """Put a student on the family's tag."""
    school = _school()
    found_family = office.get_family(school, family_id)
    student = office.get_student(school, request.form.get("student_id", type=int))
    office.add_family_student(school, _user(), found_family, student)
    flash("Student added to this tag.", "success")
    return redirect(url_for("carline.family", family_id=family_id))


@bp.route("/families/<int:family_id>/students/<int:student_id>/remove", methods=["POST"])
@access(*OFFICE)
def family_student_remove(family_id: int, student_id: int):
    """Take a student off the family's tag."""
    school = _school()
    student = office.get_student(school, student_id)
    office.remove_family_student(school, _user(), office.get_family(school, family_id), student)
    flash("Student removed from this tag.", "success")
    return redirect(url_for("carline.family", family_id=family_id))


@bp.route("/families/<int:family_id>/tag", methods=["POST"])
@access(*OFFICE)
def family_tag(family_id: int):
    """Issue (or reprint) the family's hang tag; the previous one stops working."""
    school = _school()
    found_family = office.get_family(school, family_id)
    if not found_family.active:
        raise InvalidInput("Reactivate the family before printing its tag.")
    services.issue_tag(school, found_family, user=_user())
    flash("New hang tag issued: the old one no longer works. Print it now.", "success")
    return redirect(url_for("carline.tags_print", family=family_id))


# Hang tags


def _selection() -> list[int] | None:
    """The families chosen for printing (None: all of the school's)."""
    ids = _int_list(request.values.getlist("family"))
    return ids or None


@bp.route("/tags/print")
@access(*OFFICE)
def tags_print():
    """Printable hang tags: several per letter page, number, QR and school name only."""
    school = _school()
    selection = _selection()
    tags = office.tags_to_print(school, selection)
    cards = [(number, qr_svg(token)) for number, token in tags]
    sheets = [cards[i : i + TAGS_PER_PAGE] for i in range(0, len(cards), TAGS_PER_PAGE)]
    return render_template(
        "carline/tags/print.html",
        sheets=sheets,
        count=len(cards),
        selection=selection or [],
        without_tag=office.families_without_tag(school, selection),
    )


@bp.route("/tags.pdf")
@access(*OFFICE)
def tags_pdf_download():
    """The same hang tags as a PDF download."""
    school = _school()
    tags = office.tags_to_print(school, _selection())
    if not tags:
        raise InvalidInput("No hang tags to print: issue tags first.")
    return Response(
        tags_pdf(school.name, tags),
        mimetype="application/pdf",
        headers={
            "Content-Disposition": 'attachment; filename="hang-tags.pdf"',
            "Cache-Control": "no-store",
        },
    )


@bp.route("/tags/issue", methods=["POST"])
@access(*OFFICE)
def tags_issue():
    """Issue tags to the chosen (or all) active families that have none yet."""
    selection = _selection()
    issued = office.issue_missing_tags(_school(), _user(), selection)
    flash(f"{issued} hang tag(s) issued.", "success")
    return redirect(url_for("carline.tags_print", family=selection or None))


# Dismissal plans


@bp.route("/plans", methods=["GET", "POST"])
@access(*OFFICE)
def plans():
    """Find a student (POST search) to see and change their dismissal plan."""
    search = request.form.get("q", "").strip()[:100] if request.method == "POST" else ""
    found = office.search_students(_school(), search) if search else None
    return render_template("carline/plans/search.html", search=search, found=found)


def _render_plan(student, *, error: str | None = None, form=None):
    school = _school()
    today = office.school_today(school)
    can_edit = g.principal.has_role(*OFFICE)
    plan = services.dismissal_mode(student, today)
    return render_template(
        "carline/plans/student.html",
        student=student,
        today=today,
        plan=plan,
        plan_family=db.session.get(Family, plan.family_id) if plan.family_id else None,
        defaults=office.weekday_defaults(student),
        families=office.families_of(student),
        changes=office.upcoming_changes(student, today) if can_edit else [],
        absent_today=office.is_absent(student, today),
        settings=office.carline_settings(school),
        after_cutoff=_after_cutoff(school),
        can_edit=can_edit,
        modes=DISMISSAL_MODES,
        mode_labels=office.MODE_LABELS,
        weekdays=WEEKDAYS,
        school_days=office.SCHOOL_DAYS,
        error=error,
        form=form,
    )


def _after_cutoff(school) -> bool:
    cutoff = office.carline_settings(school).cutoff
    return cutoff is not None and office.school_now(school).time() >= cutoff


def _plan_student(student_id: int):
    student = office.get_student(_school(), student_id)
    office.may_view_plan(_school(), _user(), g.principal.roles, student)
    return student


@bp.route("/plans/students/<int:student_id>")
@access("admin", "office", "teacher")
def student_plan(student_id: int):
    """A student's dismissal plan: weekday defaults, today, changes, absence."""
    return _render_plan(_plan_student(student_id))


def _plan_form_failed(student_id: int, error: DomainError):
    db.session.rollback()
    student = office.get_student(_school(), student_id)
    return _render_plan(student, error=error.message, form=request.form), error.status_code


@bp.route("/plans/students/<int:student_id>/default", methods=["POST"])
@access(*OFFICE)
def plan_default(student_id: int):
    """Set the student's default mode on the chosen weekdays (all at once or one)."""
    student = office.get_student(_school(), student_id)
    try:
        office.set_weekday_defaults(
            _school(),
            _user(),
            student,
            _int_list(request.form.getlist("weekday")),
            request.form.get("mode", ""),
            request.form.get("bus_route"),
        )
    except DomainError as error:
        return _plan_form_failed(student_id, error)
    flash("Weekday plan saved.", "success")
    return redirect(url_for("carline.student_plan", student_id=student_id))


@bp.route("/plans/students/<int:student_id>/change", methods=["POST"])
@access(*OFFICE)
def plan_change(student_id: int):
    """Record a daily change (until the cutoff; after it only with an office override)."""
    school = _school()
    student = office.get_student(school, student_id)
    try:
        day = office.parse_day(request.form.get("day"), default=office.school_today(school))
        office.record_change(
            school,
            _user(),
            student,
            day,
            mode=request.form.get("mode", ""),
            bus_route=request.form.get("bus_route"),
            family_tag=request.form.get("family_tag"),
            early_pickup=request.form.get("early_pickup"),
            note=request.form.get("note", ""),
            override=request.form.get("override") == "1",
            reason=request.form.get("reason"),
        )
    except DomainError as error:
        return _plan_form_failed(student_id, error)
    flash(f"Change for {day:%a %b %d} saved.", "success")
    return redirect(url_for("carline.student_plan", student_id=student_id))


@bp.route("/plans/students/<int:student_id>/change/clear", methods=["POST"])
@access(*OFFICE)
def plan_change_clear(student_id: int):
    """Take back a daily change (the same cutoff rule as making one)."""
    school = _school()
    student = office.get_student(school, student_id)
    try:
        day = office.parse_day(request.form.get("day"))
        office.take_back_change(
            school,
            _user(),
            student,
            day,
            override=request.form.get("override") == "1",
            reason=request.form.get("reason"),
        )
    except DomainError as error:
        return _plan_form_failed(student_id, error)
    flash("Change taken back: the weekday plan applies.", "success")
    return redirect(url_for("carline.student_plan", student_id=student_id))


@bp.route("/plans/students/<int:student_id>/absence", methods=["POST"])
@access(*OFFICE)
def plan_absence(student_id: int):
    """Mark the student absent today (never called), or take the absence back."""
    school = _school()
    student = office.get_student(school, student_id)
    today = office.school_today(school)
    action = request.form.get("action")
    if action == "mark":
        office.mark_absent(school, _user(), student, today)
        flash("Marked absent today: the student will not be called.", "success")
    elif action == "clear":
        office.clear_absence(school, _user(), student, today)
        flash("The absence is taken back.", "success")
    else:
        raise InvalidInput("Choose to mark or clear the absence.")
    back = request.form.get("back")
    if back == "today":
        return redirect(url_for("carline.today_plans"))
    return redirect(url_for("carline.student_plan", student_id=student_id))


@bp.route("/today", methods=["GET", "POST"])
@access(*OFFICE)
def today_plans():
    """Today's daily changes and absences; POST finds a student to mark absent."""
    school = _school()
    today = office.school_today(school)
    search = request.form.get("q", "").strip()[:100] if request.method == "POST" else ""
    found = office.search_students(school, search) if search else None
    overview = office.day_overview(school, today)
    return render_template(
        "carline/plans/today.html",
        overview=overview,
        absent_ids={s.id for s in overview.absent},
        search=search,
        found=found,
        settings=office.carline_settings(school),
        after_cutoff=_after_cutoff(school),
        mode_labels=office.MODE_LABELS,
    )


@bp.route("/my-students")
@access("admin", "office", "teacher")
def my_students():
    """Today's dismissal changes and absences of the students in my classes."""
    school = _school()
    today = office.school_today(school)
    return render_template(
        "carline/plans/teacher.html",
        today=today,
        rows=office.teacher_changes(school, _user(), today),
        mode_labels=office.MODE_LABELS,
    )

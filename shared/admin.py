"""School admin views: overview, staff accounts, school settings, audit log."""

from babel.dates import get_day_names
from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from sqlalchemy import func, select

from shared import account_links, audit, mail, schools, staff, totp
from shared.access import access
from shared.audit_log import Filters as AuditFilters
from shared.audit_log import actions as audit_actions
from shared.audit_log import page as audit_page
from shared.errors import DomainError, rerender
from shared.extensions import db
from shared.forms import parse_bool
from shared.models import (
    ROLES,
    BellPeriod,
    Device,
    Family,
    Room,
    SchoolClass,
    Student,
)
from shared.students import search_students

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _count(model, *where) -> int:
    return db.session.scalar(
        select(func.count(model.id)).where(model.school_id == g.principal.school_id, *where)
    )


@bp.route("/")
@access("admin")
def index():
    """Overview of the school's data, with links to manage it."""
    counts = {
        _("Students"): _count(Student, Student.active.is_(True)),
        _("Classes"): _count(SchoolClass, SchoolClass.active.is_(True)),
        _("Rooms"): _count(Room, Room.active.is_(True)),
        _("Families"): _count(Family, Family.active.is_(True)),
        _("Bell periods"): _count(BellPeriod),
        _("Paired devices"): _count(Device, Device.revoked_at.is_(None)),
    }
    return render_template("admin/index.html", counts=counts)


@bp.route("/school", methods=["GET", "POST"])
@access("admin")
def school_settings():
    """Edit the school's name, time zone and language (its code is the district admin's)."""
    school = g.principal.school
    timezones = schools.timezone_choices()
    if request.method == "GET":
        return render_template("admin/school.html", school=school, timezones=timezones)
    try:
        schools.update_school(
            school,
            actor=audit.current_actor(),
            name=request.form.get("name", ""),
            timezone=request.form.get("timezone", ""),
            language=request.form.get("language", school.language),
        )
    except DomainError as error:
        return rerender("admin/school.html", error, school=school, timezones=timezones)
    flash(_("School settings saved."), "success")
    return redirect(url_for("admin.school_settings"))


@bp.route("/district", methods=["GET", "POST"])
@access("admin")
def district_settings():
    """Settings of the whole district (district admins change them): two-factor for admins."""
    if request.method == "POST":
        totp.set_admins_must_use_it(audit.current_actor(), parse_bool(request.form.get("totp")))
        flash(_("District settings saved."), "success")
        return redirect(url_for("admin.district_settings"))
    return render_template("admin/district.html", require_totp=totp.admins_must_use_it())


@bp.route("/staff")
@access("admin")
def staff_list():
    """Staff of this school with their roles, and the invitations not yet answered."""
    people = staff.school_staff(g.principal.school_id)
    mails = {
        user_id: mail.status_of(sent)
        for user_id, sent in mail.latest_by_user(g.principal.school_id).items()
    }
    return render_template(
        "admin/staff.html",
        people=people,
        invitations=staff.school_invitations(g.principal.school_id),
        roles=ROLES,
        mails=mails,
        failed_mails=sum(1 for status in mails.values() if status.state == "failed"),
        to_invite=len(account_links.without_sign_in(g.principal)),
        mail_configured=mail.configured(),
    )


@bp.route("/staff/invite-all", methods=["POST"])
@access("admin")
def staff_invite_all():
    """Invite every active staff member without a password or a working invitation."""
    invited = account_links.invite_all(g.principal)
    if not mail.configured():
        return render_template("admin/staff_links.html", invited=invited)
    flash(
        ngettext(
            "%(num)d invitation queued; its status shows below.",
            "%(num)d invitations queued; their status shows below.",
            len(invited),
        ),
        "success",
    )
    return redirect(url_for("admin.staff_list"))


@bp.route("/staff/<int:user_id>/invite", methods=["POST"])
@access("admin")
def staff_invite(user_id: int):
    """Send one staff member a link to set their password (or show it, without SMTP)."""
    person = staff.school_member(g.principal.school_id, user_id)
    invited = account_links.invite(g.principal, person)
    if invited.handover_url is not None:
        return render_template("admin/staff_links.html", invited=[invited])
    flash(
        _("An invitation to %(email)s is queued; its status shows below.", email=person.email),
        "success",
    )
    return redirect(url_for("admin.staff_list"))


@bp.route("/staff/new", methods=["GET", "POST"])
@access("admin")
def staff_new():
    """Add a staff member (an existing account is invited, or added by a district admin)."""
    if request.method == "GET":
        return render_template("admin/staff_new.html", roles=ROLES, form={})
    try:
        added = staff.add_staff(
            g.principal,
            email=request.form.get("email", ""),
            name=request.form.get("name", ""),
            roles=request.form.getlist("roles"),
        )
    except DomainError as error:
        return rerender("admin/staff_new.html", error, roles=ROLES, form=request.form)
    if added.invitation is not None:
        return render_template("admin/staff_invited.html", invitation=added.invitation)
    return render_template(
        "admin/staff_password.html", person=added.person, password=added.temporary_password
    )


@bp.route("/staff/invitations/<int:invitation_id>", methods=["POST"])
@access("admin")
def staff_invitation(invitation_id: int):
    """Cancel an invitation, or (district admin) add the invited account now."""
    action = request.form.get("action")
    if action not in ("confirm", "cancel"):
        raise DomainError(_("Unknown action."))
    staff.settle_invitation(g.principal, invitation_id, confirm=action == "confirm")
    flash(
        _("Added to this school.") if action == "confirm" else _("Invitation cancelled."), "success"
    )
    return redirect(url_for("admin.staff_list"))


@bp.route("/staff/<int:user_id>", methods=["GET", "POST"])
@access("admin")
def staff_edit(user_id: int):
    """Change a staff member's roles here, deactivate / reactivate the account, reset its
    password, or unlock it after too many failed sign-ins."""
    person = staff.school_member(g.principal.school_id, user_id)

    def page() -> dict:
        return {
            "person": person,
            "roles": ROLES,
            "held": staff.roles_at(person, g.principal.school_id),
            "two_factor_on": totp.enabled(person),
            "locked_for": staff.locked_for(person),
        }

    if request.method == "GET":
        return render_template("admin/staff_edit.html", **page())
    action = request.form.get("action")
    if action == "roles":
        try:
            staff.set_roles(g.principal, person, request.form.getlist("roles"))
        except DomainError as error:  # the roles form again, the message under it
            return rerender("admin/staff_edit.html", error, reload=page, roles_error=True)
        flash(_("Roles of %(name)s saved.", name=person.name), "success")
    elif action == "deactivate":
        staff.set_active(g.principal, person, False)
        flash(_("%(name)s is deactivated and signed out everywhere.", name=person.name), "success")
    elif action == "activate":
        staff.set_active(g.principal, person, True)
        flash(_("%(name)s can sign in again.", name=person.name), "success")
    elif action == "unlock":
        staff.unlock_member(g.principal, person)
        flash(_("%(name)s can try to sign in again now.", name=person.name), "success")
    elif action == "reset_password":
        temporary = staff.reset_password(g.principal, person)
        return render_template("admin/staff_password.html", person=person, password=temporary)
    else:
        raise DomainError(_("Unknown action."))
    return redirect(url_for("admin.staff_edit", user_id=person.id))


@bp.route("/audit")
@access("admin")
def audit_log():
    """Browse and filter the audit log of this school, newest first, a page at a time."""
    filters = AuditFilters.from_args(request.args)
    before = request.args.get("before", "").strip()
    page = audit_page(g.principal.school, filters, before)
    return render_template(
        "admin/audit.html",
        page=page,
        filters=filters,
        paged=bool(before),
        actions=audit_actions(g.principal.school_id),
    )


STUDENT_PAGE_SIZE = 100


@bp.route("/students", methods=["GET", "POST"])
@access("admin")
def students():
    """Students of this school, by grade; name search is a POST so names stay out of URLs."""
    school_id = g.principal.school_id
    grade = request.values.get("grade", "").strip()[:8]
    search = request.form.get("q", "").strip()[:100] if request.method == "POST" else ""
    page = max(request.args.get("page", 1, type=int), 1)
    if search:
        in_grade = select(Student.id).where(Student.grade == grade) if grade else None
        rows = search_students(
            g.principal.school,
            search,
            limit=STUDENT_PAGE_SIZE,
            among=in_grade,
            include_inactive=True,
        )
    else:
        query = select(Student).where(Student.school_id == school_id)
        if grade:
            query = query.where(Student.grade == grade)
        rows = db.session.scalars(
            query.order_by(Student.active.desc(), Student.last_name, Student.first_name, Student.id)
            .limit(STUDENT_PAGE_SIZE + 1)
            .offset((page - 1) * STUDENT_PAGE_SIZE)
        ).all()
    grades = db.session.scalars(
        select(Student.grade).where(Student.school_id == school_id).distinct()
    ).all()
    return render_template(
        "admin/students.html",
        students=rows[:STUDENT_PAGE_SIZE],
        has_more=len(rows) > STUDENT_PAGE_SIZE and not search,
        page=page,
        grade=grade,
        grades=sorted((g_ for g_ in grades if g_), key=_grade_order),
        search=search,
    )


def _grade_order(grade: str) -> tuple[int, str]:
    return (int(grade), grade) if grade.isascii() and grade.isdigit() else (-1, grade)


@bp.route("/schedule")
@access("admin")
def schedule():
    """The bell schedule, one column per weekday."""
    periods = db.session.scalars(
        select(BellPeriod)
        .where(BellPeriod.school_id == g.principal.school_id)
        .order_by(BellPeriod.weekday, BellPeriod.start_time)
    ).all()
    by_day: dict[int, list[BellPeriod]] = {}
    for period in periods:
        by_day.setdefault(period.weekday, []).append(period)
    weekdays = get_day_names("abbreviated", locale=get_locale() or "en")
    return render_template("admin/schedule.html", by_day=by_day, weekdays=weekdays)

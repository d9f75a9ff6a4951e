"""Hall pass settings views: destinations, rules, keep-apart groups, student limits.

The school's admin changes the settings; the front office may look at them. Student
searches are POST forms, so names never appear in a URL. A refused change re-renders
its form with the message next to it (and a 4xx status), having written nothing.
"""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from hallpass import bp, destinations, settings_forms, student_rules
from hallpass.policy import (
    classrooms,
    read_policy,
    rooms_with_own_cap,
    set_room_cap,
    update_policy,
)
from shared.access import access
from shared.errors import DomainError, InvalidInput, rerender
from shared.extensions import db
from shared.models import RoomKind, Student
from shared.schedule import period_names, school_today
from shared.students import search_students

VIEWERS = ("admin", "office")

#: A room's kind as the destination form names it.
ROOM_KIND_LABELS = {
    RoomKind.CLASSROOM: lazy_gettext("classroom"),
    RoomKind.RESTROOM: lazy_gettext("restroom"),
    RoomKind.NURSE: lazy_gettext("nurse"),
    RoomKind.OFFICE: lazy_gettext("office"),
    RoomKind.LIBRARY: lazy_gettext("library"),
    RoomKind.COUNSELOR: lazy_gettext("counselor"),
    RoomKind.OTHER: lazy_gettext("other"),
}


def _can_edit() -> bool:
    return g.principal.has_role("admin")


# -------------------------------------------------------------------- destinations


@bp.route("/settings")
@access(*VIEWERS)
def settings_index():
    """Hall pass settings: the destinations, with links to the other settings."""
    school = g.principal.school
    return render_template(
        "hallpass/settings/destinations.html",
        destinations=destinations.destinations(school),
        can_edit=_can_edit(),
    )


def _destination_form(destination=None, form=None, **extra):
    return dict(
        destination=destination,
        form=form,
        rooms=destinations.destination_rooms(g.principal.school),
        room_kinds=ROOM_KIND_LABELS,
        can_edit=_can_edit(),
        **extra,
    )


@bp.route("/settings/destinations/new", methods=["GET", "POST"])
@access("admin")
def destination_new():
    """Add a destination."""
    template = "hallpass/settings/destination_form.html"
    if request.method == "GET":
        return render_template(template, **_destination_form())
    try:
        destination = destinations.create_destination(
            g.principal.school, settings_forms.destination_values(request.form)
        )
    except DomainError as error:
        return rerender(template, error, reload=lambda: _destination_form(form=request.form))
    flash(_("%(name)s added.", name=destination.name), "success")
    return redirect(url_for("hallpass.settings_index"))


@bp.route("/settings/destinations/<int:destination_id>")
@access(*VIEWERS)
def destination_edit(destination_id: int):
    """One destination's settings (a form for the admin)."""
    destination = destinations.get_destination(g.principal.school, destination_id)
    return render_template(
        "hallpass/settings/destination_form.html",
        **_destination_form(destination, in_use=destinations.destination_in_use(destination)),
    )


@bp.route("/settings/destinations/<int:destination_id>", methods=["POST"])
@access("admin")
def destination_save(destination_id: int):
    """Save a destination's settings (deactivating one with students out is safe)."""
    school = g.principal.school
    destination = destinations.get_destination(school, destination_id)
    try:
        destinations.update_destination(
            school, destination.id, settings_forms.destination_values(request.form)
        )
    except DomainError as error:
        return rerender(
            "hallpass/settings/destination_form.html",
            error,
            reload=lambda: _saved_destination_form(school, destination_id, request.form),
        )
    flash(_("%(name)s saved.", name=destination.name), "success")
    return redirect(url_for("hallpass.settings_index"))


@bp.route("/settings/destinations/<int:destination_id>/delete", methods=["POST"])
@access("admin")
def destination_delete(destination_id: int):
    """Delete a destination that was never used (one with history is deactivated instead)."""
    name = destinations.delete_destination(g.principal.school, destination_id)
    flash(_("%(name)s deleted.", name=name), "success")
    return redirect(url_for("hallpass.settings_index"))


# -------------------------------------------------------------------------- rules


def _saved_destination_form(school, destination_id: int, form) -> dict:
    """The destination form as saved, with what was typed (after a refused change)."""
    destination = destinations.get_destination(school, destination_id)
    in_use = destinations.destination_in_use(destination)
    return _destination_form(destination, form=form, in_use=in_use)


def _rules_context(form=None, room_form=None) -> dict:
    school = g.principal.school
    return dict(
        policy=read_policy(school),
        periods=period_names(school),
        form=form,
        room_form=room_form,
        rooms_with_own_cap=rooms_with_own_cap(school),
        classrooms=classrooms(school),
        can_edit=_can_edit(),
    )


@bp.route("/settings/rules")
@access(*VIEWERS)
def rules():
    """The school's pass rules: daily limit, cooldown, building cap, no-pass windows."""
    return render_template("hallpass/settings/rules.html", **_rules_context())


@bp.route("/settings/rules", methods=["POST"])
@access("admin")
def rules_save():
    """Save the school's pass rules."""
    school = g.principal.school
    try:
        update_policy(school, settings_forms.policy_values(request.form), period_names(school))
    except DomainError as error:
        return rerender(
            "hallpass/settings/rules.html", error, reload=lambda: _rules_context(request.form)
        )
    flash(_("Pass rules saved."), "success")
    return redirect(url_for("hallpass.rules"))


@bp.route("/settings/rules/rooms", methods=["POST"])
@access("admin")
def room_cap_save():
    """Give one classroom its own limit of students out (blank: the school's limit)."""
    school = g.principal.school
    try:
        room = set_room_cap(school, **settings_forms.room_cap_values(request.form))
    except DomainError as error:
        return rerender(
            "hallpass/settings/rules.html",
            error,
            reload=lambda: _rules_context(room_form=request.form),
        )
    if room.pass_cap is None:
        flash(_("%(room)s follows the school's classroom limit again.", room=room.name), "success")
    else:
        flash(
            _("%(room)s: at most %(num)d out at once.", room=room.name, num=room.pass_cap),
            "success",
        )
    return redirect(url_for("hallpass.rules"))


# ------------------------------------------------------------- per-student limits


def _limits_context(**extra) -> dict:
    school = g.principal.school
    return dict(
        rows=student_rules.student_limits(school),
        policy=read_policy(school),
        can_edit=_can_edit(),
        **extra,
    )


@bp.route("/settings/limits")
@access(*VIEWERS)
def limits():
    """Students with their own daily limit (IEP / 504 and the like)."""
    return render_template("hallpass/settings/limits.html", **_limits_context())


@bp.route("/settings/limits", methods=["POST"])
@access("admin")
def limits_post():
    """Find a student (POST, so no names in URLs), set or remove their own limit."""
    school = g.principal.school
    action = request.form.get("action", "")
    template = "hallpass/settings/limits.html"
    if action == "search":
        query = request.form.get("q", "").strip()[:100]
        found = search_students(school, query)
        return render_template(template, **_limits_context(query=query, found=found))
    try:
        if action == "set":
            limit = student_rules.set_student_limit(
                school, **settings_forms.student_limit_values(request.form)
            )
            student = student_rules.school_student(school, limit.student_id)
            flash(_("Daily limit of %(name)s saved.", name=student.display_name), "success")
        elif action == "remove":
            student = student_rules.remove_student_limit(
                school, request.form.get("student_id", type=int)
            )
            flash(
                _("%(name)s follows the school's daily limit again.", name=student.display_name),
                "success",
            )
        else:
            raise InvalidInput(_("Unknown action."))
    except DomainError as error:
        return rerender(template, error, reload=lambda: _limits_context(form=request.form))
    return redirect(url_for("hallpass.limits"))


# -------------------------------------------------------------- keep-apart groups


def _groups_context(**extra) -> dict:
    school = g.principal.school
    return dict(
        groups=student_rules.keep_apart_groups(school),
        today=school_today(school),
        can_edit=_can_edit(),
        **extra,
    )


@bp.route("/settings/keep-apart")
@access(*VIEWERS)
def keep_apart():
    """Keep-apart groups: students who may not be out of class at the same time."""
    return render_template("hallpass/settings/keep_apart.html", **_groups_context())


@bp.route("/settings/keep-apart", methods=["POST"])
@access("admin")
def keep_apart_post():
    """Find students for a new group (POST search) or create the group."""
    school = g.principal.school
    template = "hallpass/settings/keep_apart.html"
    action = request.form.get("action", "")
    query = request.form.get("q", "").strip()[:100]
    try:
        chosen_ids = student_rules.parse_student_ids(request.form.getlist("student_ids"))
        if action == "search":
            chosen = _valid_students(school)
            found = [s for s in search_students(school, query) if s not in chosen]
            return render_template(
                template,
                **_groups_context(query=query, found=found, chosen=chosen, form=request.form),
            )
        if action != "create":
            raise InvalidInput(_("Unknown action."))
        student_rules.create_keep_apart_group(
            school,
            g.principal.user,
            chosen_ids,
            **settings_forms.keep_apart_values(request.form),
            today=school_today(school),
        )
    except DomainError as error:
        return rerender(
            template,
            error,
            reload=lambda: _groups_context(
                query=query, chosen=_valid_students(school), form=request.form
            ),
        )
    flash(_("Keep-apart group saved."), "success")
    return redirect(url_for("hallpass.keep_apart"))


def _valid_students(school) -> list:
    """The chosen students of a refused form that are students of this school."""
    chosen = []
    for value in request.form.getlist("student_ids"):
        value = value.strip()
        if value.isascii() and value.isdigit() and len(value) <= 12:
            student = db.session.get(Student, int(value))
            if student is not None and student.school_id == school.id and student not in chosen:
                chosen.append(student)
    return chosen


@bp.route("/settings/keep-apart/<int:group_id>", methods=["POST"])
@access("admin")
def keep_apart_change(group_id: int):
    """End a keep-apart group from today on, or delete it."""
    school = g.principal.school
    action = request.form.get("action", "")
    if action == "end":
        student_rules.end_keep_apart_group(school, group_id, today=school_today(school))
        flash(_("The group has ended."), "success")
    elif action == "delete":
        student_rules.delete_keep_apart_group(school, group_id)
        flash(_("The group is deleted."), "success")
    else:
        raise InvalidInput(_("Unknown action."))
    return redirect(url_for("hallpass.keep_apart"))

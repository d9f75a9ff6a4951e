"""The office's dismissal control page: start, live numbers, buses, walkers, undo, end, reopen.

Split from carline/views.py (the curb, the TV and the classroom view stay there) so each
module is one room; the URLs are the same. The writes are in `carline.dismissal`, the
numbers in `carline.progress`. A start with a bad number shows the start form again with
the message next to its field; the other forms are buttons the office cannot mistype.
"""

from __future__ import annotations

from datetime import UTC

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from carline import bp, progress
from carline.dismissal import (
    NOT_STARTED,
    UNDO_WINDOW,
    call_bus,
    end_dismissal,
    late_pickups,
    release_walkers,
    reopen_dismissal,
    start_dismissal,
    todays_dismissal,
)
from carline.models import Dismissal
from carline.recording import TOPIC
from carline.sending import undo_calls
from carline.settings import carline_settings
from carline.views import OFFICE, caller_school, open_dismissal
from shared import live
from shared.access import access
from shared.audit import current_actor
from shared.errors import Conflict, DomainError, InvalidInput, rerender
from shared.forms import parse_int, parse_int_list
from shared.schedule import school_today
from shared.timeutil import utcnow


def _render_status(dismissal: Dismissal | None, version: int | None = None) -> str:
    if version is None:
        version = live.current(caller_school().id, TOPIC)
    return render_template(
        "carline/run/partials/status.html",
        dismissal=dismissal,
        status=progress.status(dismissal) if dismissal is not None else None,
        version=version,
    )


@bp.route("/dismissal")
@access(*OFFICE)
def control():
    """The office's dismissal page: start, live numbers, buses, walkers, end, late pickups."""
    return render_template("carline/run/control.html", **_control_context())


def _control_context() -> dict:
    school = caller_school()
    dismissal = todays_dismissal(school)
    context: dict = {"dismissal": dismissal, "settings": carline_settings(school)}
    if dismissal is not None and dismissal.ended_at is None:
        grades, doors = progress.walker_groups(school, dismissal)
        context.update(
            buses=progress.bus_routes(school, dismissal),
            walker_grades=grades,
            walker_doors=doors,
            status_region=_render_status(dismissal),
            just_called_region=_render_just_called(dismissal),
        )
    elif dismissal is not None:
        context["late"] = late_pickups(dismissal)
    return context


@bp.route("/dismissal/status")
@access(*OFFICE)
def control_status():
    """Live region: the dismissal's numbers (204 while unchanged)."""
    school = caller_school()
    return live.poll(
        school.id,
        TOPIC,
        lambda version: _render_status(todays_dismissal(school), version),
    )


def _render_just_called(dismissal: Dismissal | None, version: int | None = None) -> str:
    if version is None:
        version = live.current(caller_school().id, TOPIC)
    groups = progress.undoable_groups(dismissal) if dismissal is not None else []
    wait = None
    if groups:
        oldest = min(group.called_at for group in groups)
        if oldest.tzinfo is None:  # SQLite gives back naive UTC
            oldest = oldest.replace(tzinfo=UTC)
        wait = max(1, int((oldest + UNDO_WINDOW - utcnow()).total_seconds()) + 1)
    return render_template(
        "carline/run/partials/just_called.html", undoable=groups, wait=wait, version=version
    )


@bp.route("/dismissal/just-called")
@access(*OFFICE)
def control_just_called():
    """Live region: the bus calls and walker releases that can still be undone (204 while
    unchanged). Asked without a version, as the region does once its oldest Undo has run
    out, it is rendered afresh."""
    school = caller_school()
    return live.poll(
        school.id,
        TOPIC,
        lambda version: _render_just_called(todays_dismissal(school), version),
    )


@bp.route("/dismissal/start", methods=["POST"])
@access(*OFFICE)
def control_start():
    """Start today's dismissal with its lanes and loading spots per lane."""
    form = {k: request.form.get(k, "") for k in ("lanes", "spots_per_lane")}
    school = caller_school()
    try:
        lanes = parse_int(form["lanes"], field="lanes", label=_("Lanes"))
        spots = parse_int(
            form["spots_per_lane"], field="spots_per_lane", label=_("Loading spots per lane")
        )
        dismissal = start_dismissal(school, current_actor(), lanes, spots, school_today(school))
    except DomainError as error:
        return rerender("carline/run/control.html", error, reload=_control_context, start_form=form)
    flash(
        ngettext(
            "Dismissal started: %(num)d loading spot.",
            "Dismissal started: %(num)d loading spots.",
            dismissal.spot_count,
        ),
        "success",
    )
    return redirect(url_for("carline.control"))


@bp.route("/dismissal/bus", methods=["POST"])
@access(*OFFICE)
def control_bus():
    """A bus arrived: call its riders."""
    calls = call_bus(
        caller_school(), open_dismissal(), request.form.get("route", ""), actor=current_actor()
    )
    route = calls[0].bus_route if calls else request.form.get("route", "").strip().upper()
    if calls:
        flash(
            _(
                "Bus %(route)s called: %(students)s. Undo below within a minute.",
                route=route,
                students=_students(len(calls)),
            ),
            "success",
        )
    else:
        flash(_("Every rider of bus %(route)s was already called.", route=route), "info")
    return redirect(url_for("carline.control"))


@bp.route("/dismissal/walkers", methods=["POST"])
@access(*OFFICE)
def control_walkers():
    """Release walkers: all of them, one grade, or the grades of one door."""
    school, dismissal = caller_school(), open_dismissal()
    scope = request.form.get("scope", "all")
    if scope == "all":
        calls, what = release_walkers(school, dismissal, actor=current_actor()), _("All walkers")
    elif scope == "grade":
        grade = request.form.get("grade", "").strip()
        if not grade or len(grade) > 8:
            raise InvalidInput(_("Choose a grade."), field="grade")
        calls = release_walkers(school, dismissal, grade, actor=current_actor())
        what = _("Grade %(grade)s walkers", grade=grade)
    elif scope == "door":
        door = request.form.get("door", "")
        doors = carline_settings(school).walker_doors
        if door not in doors:
            raise InvalidInput(_("Choose one of the school's walker doors."), field="door")
        calls = release_walkers(
            school, dismissal, grades=doors[door], door=door, actor=current_actor()
        )
        what = _("Walkers at %(door)s", door=door)
    else:
        raise InvalidInput(_("Choose all walkers, a grade or a door."), field="scope")
    if calls:
        flash(
            _(
                "%(what)s released: %(students)s. Undo below within a minute.",
                what=what,
                students=_students(len(calls)),
            ),
            "success",
        )
    else:
        flash(_("%(what)s: nobody left to release.", what=what), "info")
    return redirect(url_for("carline.control"))


def _students(count: int) -> str:
    return ngettext("%(num)d student", "%(num)d students", count)


@bp.route("/dismissal/undo", methods=["POST"])
@access(*OFFICE)
def control_undo():
    """Take back a bus call or walker release of the last minute (students not sent out yet)."""
    ids = parse_int_list(request.form.getlist("call_id"), field="call_id", label=_("Calls"))
    if not ids:
        raise InvalidInput(_("Choose a call to undo."), field="call_id")
    done = undo_calls(caller_school(), open_dismissal(), ids, actor=current_actor())
    message = ngettext(
        "Undone: %(num)d student no longer called.",
        "Undone: %(num)d students no longer called.",
        done.undone,
    )
    if done.kept:
        message += " " + ngettext(
            "%(num)d student already left the room and stays released.",
            "%(num)d students already left the room and stay released.",
            done.kept,
        )
    flash(message, "success" if not done.kept else "warning")
    return redirect(url_for("carline.control"))


@bp.route("/dismissal/end", methods=["POST"])
@access(*OFFICE)
def control_end():
    """End today's dismissal; the page then lists the late pickups."""
    late = end_dismissal(caller_school(), open_dismissal(), actor=current_actor())
    flash(
        ngettext(
            "Dismissal ended. %(num)d student is still at school.",
            "Dismissal ended. %(num)d students are still at school.",
            len(late),
        )
        if late
        else _("Dismissal ended. Every student has gone home."),
        "warning" if late else "success",
    )
    return redirect(url_for("carline.control"))


@bp.route("/dismissal/reopen", methods=["POST"])
@access(*OFFICE)
def control_reopen():
    """Reopen today's ended dismissal (the same day only): the curb takes entries again."""
    school = caller_school()
    dismissal = todays_dismissal(school)
    if dismissal is None:
        raise Conflict(NOT_STARTED)
    reopen_dismissal(school, dismissal, actor=current_actor())
    flash(_("Dismissal reopened: the curb takes entries again."), "success")
    return redirect(url_for("carline.control"))

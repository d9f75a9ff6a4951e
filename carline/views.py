"""Car line views for running dismissal: the curb, the dismissal TV and the classroom view.

Thin views: they parse the request, check who is asking and call the writes
(`carline.dismissal`, `carline.curb`) or the read side (`carline.progress` for the
office, the curb list and the TV; `carline.rooms` for who leaves from which room).
Every screen region that must stay current is one live partial on the school's
"dismissal" topic: it polls with the version it shows and gets 204 while nothing changed.
"""

from __future__ import annotations

import re

from flask import g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from carline import bp, progress
from carline.curb import curb_entry, mark_loaded
from carline.day_plans import MODE_LABELS
from carline.dismissal import (
    NOT_STARTED,
    mark_sent,
    todays_dismissal,
)
from carline.models import CalledStudent, Dismissal, QueueEntry
from carline.pickup import pickup_list
from carline.plan_lists import room_plan_notes
from carline.recording import TOPIC
from carline.rooms import room_student_ids
from carline.sending import send_all, undo_send_all
from carline.settings import carline_settings
from shared import live
from shared.access import ROOM_WATCH_ROLES, access, watched_room
from shared.audit import current_actor
from shared.errors import Conflict, Forbidden, InvalidInput, NotFound
from shared.extensions import db
from shared.forms import parse_int_list
from shared.models import Room
from shared.schedule import class_in_session, school_today, taught_room_ids
from shared.timeutil import utcnow

OFFICE = ("admin", "office")
STAFF = ("admin", "office", "teacher", "staff")
#: A typed tag number has at most this many digits (tag numbers go up to 999 999).
TAG_DIGITS = 7
#: What a hang tag's QR code may hold: its URL-safe random token.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")
_DIGITS = re.compile(r"[0-9]+")


def caller_school():
    """The school of whoever is asking (staff member or paired device)."""
    return g.principal.school


def open_dismissal() -> Dismissal:
    """Today's dismissal, which must be running."""
    dismissal = todays_dismissal(caller_school())
    if dismissal is None:
        raise Conflict(NOT_STARTED)
    if dismissal.ended_at is not None:
        raise Conflict(_("Today's dismissal has ended."))
    return dismissal


def _is_htmx() -> bool:
    return bool(request.htmx)


# The curb


def _render_curb_list(dismissal: Dismissal | None, version: int | None = None) -> str:
    if version is None:
        version = live.current(caller_school().id, TOPIC)
    return render_template(
        "carline/run/partials/curb_list.html",
        dismissal=dismissal,
        cars=progress.curb_cars(dismissal) if dismissal is not None else None,
        version=version,
    )


def _curb_page(answer: str | None = None, status: int = 200):
    dismissal = todays_dismissal(caller_school())
    return render_template(
        "carline/run/curb.html",
        dismissal=dismissal,
        curb_list=_render_curb_list(dismissal),
        answer=answer,
    ), status


@bp.route("/curb")
@access(*STAFF, "device:scanner")
def curb():
    """The curb phone: keypad, scanner input and camera, the answer, the live curb list."""
    return _curb_page()


def _parse_entry(raw: str | None) -> dict:
    """A typed tag number or a scanned tag token, as `curb_entry` takes them."""
    text = (raw or "").strip()
    if not text:
        raise InvalidInput(_("Enter a tag number or scan a tag."), field="entry")
    if _DIGITS.fullmatch(text):
        if len(text) > TAG_DIGITS:
            raise InvalidInput(_("That number is too long for a tag number."), field="entry")
        return {"tag_number": int(text)}
    if not _TOKEN.fullmatch(text):
        raise NotFound(_("This code is not a hang tag of this school."))
    return {"token": text}


@bp.route("/curb/entries", methods=["POST"])
@access(*STAFF, "device:scanner")
def curb_enter():
    """A car at the curb: its tag number or scanned token; idempotent by the client's key."""
    how = _parse_entry(request.form.get("entry"))
    key = request.form.get("key") or None
    result = curb_entry(caller_school(), idempotency_key=key, **how, actor=current_actor())
    answer = render_template(
        "carline/run/partials/curb_answer.html",
        result=result,
        pickup=pickup_list(result.family),
        waiting=progress.queue_rank(result.entry) if result.entry is not None else None,
    )
    if _is_htmx():
        return answer
    return _curb_page(answer)


@bp.route("/curb/list")
@access(*STAFF, "device:scanner")
def curb_list():
    """Live region: cars at the loading spots and the next cars waiting (204 unchanged)."""
    school = caller_school()
    return live.poll(
        school.id,
        TOPIC,
        lambda version: _render_curb_list(todays_dismissal(school), version),
    )


@bp.route("/curb/cars/<int:entry_id>/loaded", methods=["POST"])
@access(*STAFF, "device:scanner")
def curb_loaded(entry_id: int):
    """The car at a spot is loaded: it leaves and the next car moves up."""
    dismissal = open_dismissal()
    entry = db.session.get(QueueEntry, entry_id)
    if entry is None or entry.dismissal_id != dismissal.id:
        raise NotFound(_("That car is not in today's line."))
    mark_loaded(caller_school(), entry, actor=current_actor())
    if _is_htmx():
        return _render_curb_list(dismissal)
    return redirect(url_for("carline.curb"))


# The dismissal TV


def _tv_viewer() -> None:
    """Office and admin, or a display paired to show dismissal."""
    device = g.principal.device
    if device is not None and device.purpose != "dismissal":
        raise Forbidden(_("This display is not set up to show dismissal."))


def _render_tv_calls(dismissal: Dismissal | None, version: int) -> str:
    rows = progress.call_rows(dismissal) if dismissal is not None else []
    return render_template(
        "carline/run/partials/tv_calls.html",
        dismissal=dismissal,
        rows=rows,
        status=progress.status(dismissal) if dismissal is not None else None,
        version=version,
    )


@bp.route("/tv")
@access(*OFFICE, "device:display")
def tv():
    """The dismissal TV: every called student, oldest first, readable across the room."""
    _tv_viewer()
    school = caller_school()
    version = live.current(school.id, TOPIC)
    return render_template(
        "carline/run/tv.html",
        tv_calls=_render_tv_calls(todays_dismissal(school), version),
    )


@bp.route("/tv/calls")
@access(*OFFICE, "device:display")
def tv_calls():
    """Live region of the dismissal TV (204 while unchanged)."""
    _tv_viewer()
    school = caller_school()
    return live.poll(
        school.id,
        TOPIC,
        lambda version: _render_tv_calls(todays_dismissal(school), version),
        share="tv",  # the same for every TV of the school: rendered once per change
    )


# The classroom view


def _viewable_rooms() -> list[Room]:
    """Rooms the signed-in staff member may watch: any for the office, taught ones for teachers."""
    query = select(Room).where(Room.school_id == caller_school().id, Room.active.is_(True))
    if not g.principal.has_role(*ROOM_WATCH_ROLES):
        query = query.where(Room.id.in_(taught_room_ids(g.principal.user.id)))
    return list(db.session.scalars(query.order_by(Room.name)))


def _default_room() -> Room | None:
    """The room a classroom view opens on when none was chosen."""
    device = g.principal.device
    if device is not None:
        return device.room
    if g.principal.has_role("teacher"):
        section = class_in_session(caller_school(), g.principal.user.id, utcnow())
        if section is not None and section.room is not None:
            return section.room
    rooms = _viewable_rooms()
    return rooms[0] if len(rooms) == 1 else None


def _room_students(room: Room, dismissal: Dismissal | None) -> set[int]:
    at = dismissal.started_at if dismissal is not None else None
    return room_student_ids(caller_school(), room, at)


def _walker_doors() -> dict[str, list[str]]:
    """The school's walker doors and their grades: a room's walkers are grouped by door."""
    return carline_settings(caller_school()).walker_doors


def _render_classroom_calls(room: Room, version: int | None = None) -> str:
    if version is None:
        version = live.current(caller_school().id, TOPIC)
    dismissal = todays_dismissal(caller_school())
    rows = _room_rows(room, dismissal) if dismissal is not None else []
    doors = _walker_doors()
    return render_template(
        "carline/run/partials/classroom_calls.html",
        room=room,
        dismissal=dismissal,
        waiting=[r for r in rows if r.call.status == "called"],
        sent=[r for r in rows if r.call.status != "called"],
        groups=[g for g in progress.waiting_groups(rows, doors) if len(g.rows) > 1],
        just_sent=progress.just_sent_groups(rows, doors=doors),
        doors=doors,
        walker_door=progress.walker_door,
        version=version,
    )


def _room_rows(room: Room, dismissal: Dismissal) -> list[progress.CallRow]:
    """Today's calls of the students sent out from this room (gone ones too)."""
    return progress.call_rows(dismissal, _room_students(room, dismissal), include_gone=True)


def _render_classroom_changes(room: Room, version: int | None = None) -> str:
    if version is None:
        version = live.current(caller_school().id, TOPIC)
    school = caller_school()
    dismissal = todays_dismissal(school)
    notes = room_plan_notes(school, school_today(school), _room_students(room, dismissal))
    return render_template(
        "carline/run/partials/classroom_changes.html",
        room=room,
        notes=notes,
        mode_labels=MODE_LABELS,
        version=version,
    )


@bp.route("/classroom")
@access("admin", "office", "teacher", "device:classroom-display")
def classroom():
    """A room's dismissal calls (teacher's tablet or the room's display), with Sent buttons."""
    chosen = request.args.get("room_id", type=int)
    room = watched_room(chosen) if chosen is not None else _default_room()
    rooms = _viewable_rooms() if g.principal.user is not None else []
    if room is None:
        return render_template("carline/run/classroom.html", room=None, rooms=rooms)
    return render_template(
        "carline/run/classroom.html",
        room=room,
        rooms=rooms,
        calls_region=_render_classroom_calls(room),
        changes_region=_render_classroom_changes(room),
    )


@bp.route("/classroom/<int:room_id>/calls")
@access("admin", "office", "teacher", "device:classroom-display")
def classroom_calls(room_id: int):
    """Live region: this room's called students (204 while unchanged)."""
    room = watched_room(room_id)
    return live.poll(room.school_id, TOPIC, lambda version: _render_classroom_calls(room, version))


@bp.route("/classroom/<int:room_id>/changes")
@access("admin", "office", "teacher", "device:classroom-display")
def classroom_changes(room_id: int):
    """Live region: today's plan changes and absences of this room's students."""
    room = watched_room(room_id)
    return live.poll(
        room.school_id, TOPIC, lambda version: _render_classroom_changes(room, version)
    )


@bp.route("/calls/<int:call_id>/sent", methods=["POST"])
@access("admin", "office", "teacher", "device:classroom-display")
def call_sent(call_id: int):
    """The teacher sent a called student out of the room."""
    room = watched_room(request.form.get("room_id"))
    dismissal = open_dismissal()
    call = db.session.get(CalledStudent, call_id)
    if call is None or call.dismissal_id != dismissal.id:
        raise NotFound(_("That student is not called today."))
    if call.student_id not in _room_students(room, dismissal):
        raise Forbidden(_("This student is not dismissed from this room."))
    mark_sent(caller_school(), call, actor=current_actor())
    if _is_htmx():
        return _render_classroom_calls(room)
    return redirect(url_for("carline.classroom", room_id=room.id))


@bp.route("/classroom/<int:room_id>/send-all", methods=["POST"])
@access("admin", "office", "teacher", "device:classroom-display")
def classroom_send_all(room_id: int):
    """Send out all of the room's called riders of one bus, or all its called walkers."""
    room = watched_room(room_id)
    dismissal = open_dismissal()
    mode, route = request.form.get("mode"), request.form.get("route") or None
    if mode not in ("bus", "walker"):
        raise InvalidInput(_("Choose a bus or the walkers."), field="mode")
    group = next(
        (
            g
            for g in progress.waiting_groups(_room_rows(room, dismissal), _walker_doors())
            if g.mode == mode and g.route == route
        ),
        None,
    )
    if group is not None:
        send_all(caller_school(), dismissal, group.call_ids, actor=current_actor())
    if _is_htmx():
        return _render_classroom_calls(room)
    return redirect(url_for("carline.classroom", room_id=room.id))


@bp.route("/classroom/<int:room_id>/send-all/undo", methods=["POST"])
@access("admin", "office", "teacher", "device:classroom-display")
def classroom_send_all_undo(room_id: int):
    """Take back a "send all" of this room within a minute (the students are called again)."""
    room = watched_room(room_id)
    dismissal = open_dismissal()
    ids = set(parse_int_list(request.form.getlist("call_id"), field="call_id", label=_("Calls")))
    if not ids:
        raise InvalidInput(_("Choose the students to call again."), field="call_id")
    mine = {r.call.id for r in _room_rows(room, dismissal)}
    if not ids <= mine:
        raise Forbidden(_("These students are not dismissed from this room."))
    undo_send_all(caller_school(), dismissal, sorted(ids), actor=current_actor())
    if _is_htmx():
        return _render_classroom_calls(room)
    return redirect(url_for("carline.classroom", room_id=room.id))

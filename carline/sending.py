"""Taking back and sending at once: the office's undo of a bus call or walker release,
the classroom's "send all" of a called group and its undo, each within `UNDO_WINDOW`.

Split from `carline.dismissal` (a day's dismissal and its calls), whose rules these
follow: the same row lock (`lock_open`), flush and never commit, audited, and a bump of
the school's "dismissal" live version (`carline.recording`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import select

from carline.dismissal import UNDO_WINDOW, lock_open
from carline.models import CalledStudent, Dismissal
from carline.recording import record
from shared.audit import Actor
from shared.errors import Conflict, NotFound
from shared.extensions import db
from shared.models import School
from shared.timeutil import utcnow


@dataclass(frozen=True)
class Undone:
    """What `undo_calls` took back, and the students it kept (already out of the room)."""

    undone: int
    kept: int


def undo_calls(
    school: School,
    dismissal: Dismissal,
    call_ids: list[int],
    *,
    actor: Actor,
    now: datetime | None = None,
) -> Undone:
    """Take back a bus call or a walker release within `UNDO_WINDOW` of it.

    Its students not yet sent out are uncalled (the TV and the classrooms drop them);
    those a teacher already released stay released. Car calls are never undone here: a
    car leaves the line by being loaded.
    """
    dismissal = lock_open(school, dismissal.id)
    now = now or utcnow()
    calls = list(
        db.session.scalars(
            select(CalledStudent)
            .where(
                CalledStudent.dismissal_id == dismissal.id,
                CalledStudent.id.in_(call_ids),
                CalledStudent.mode != "car",
            )
            .execution_options(populate_existing=True)
        )
    )
    if not calls:
        raise NotFound(_("There is nothing to undo: those students were not called."))
    if any(c.called_at < now - UNDO_WINDOW for c in calls):
        raise Conflict(
            _(
                "Too late to undo: it was more than a minute ago. Ask the teachers to keep "
                "the students in class instead."
            )
        )
    undo = [c for c in calls if c.status == "called"]
    for call in undo:
        db.session.delete(call)
    db.session.flush()
    first = calls[0]
    record(
        "calls_undo",
        school,
        dismissal,
        actor=actor,
        mode=first.mode,
        route=first.bus_route,
        undone=len(undo),
        kept=len(calls) - len(undo),
    )
    return Undone(len(undo), len(calls) - len(undo))


def _group_calls(dismissal: Dismissal, call_ids: list[int], status: str) -> list[CalledStudent]:
    """The bus riders' and walkers' calls among `call_ids` that are in `status`, read
    fresh under the dismissal's lock (car riders are sent one by one, with their spot)."""
    return list(
        db.session.scalars(
            select(CalledStudent)
            .where(
                CalledStudent.dismissal_id == dismissal.id,
                CalledStudent.id.in_(call_ids),
                CalledStudent.mode != "car",
                CalledStudent.status == status,
            )
            .order_by(CalledStudent.id)
            .execution_options(populate_existing=True)
        )
    )


def send_all(
    school: School, dismissal: Dismissal, call_ids: list[int], *, actor: Actor
) -> list[CalledStudent]:
    """The teacher sent a whole called group out (one bus's riders, the walkers): released.

    The view chooses the calls (the room's waiting calls of the group); car riders are
    sent one by one, with their spot. One time for all, so `undo_send_all` finds them.
    """
    dismissal = lock_open(school, dismissal.id)
    calls = _group_calls(dismissal, call_ids, "called")
    if not calls:
        return []
    now = utcnow()
    for call in calls:
        call.status, call.sent_at, call.left_at = "released", now, now
    db.session.flush()
    record(
        "sent_all",
        school,
        dismissal,
        actor=actor,
        mode=calls[0].mode,
        route=calls[0].bus_route,
        sent=len(calls),
    )
    return calls


def undo_send_all(
    school: School,
    dismissal: Dismissal,
    call_ids: list[int],
    *,
    actor: Actor,
    now: datetime | None = None,
) -> int:
    """Take back a "send all" (or a bus rider's or walker's "Sent") within `UNDO_WINDOW`."""
    dismissal = lock_open(school, dismissal.id)
    now = now or utcnow()
    calls = _group_calls(dismissal, call_ids, "released")
    if not calls:
        raise NotFound(_("There is nothing to undo: those students were not sent."))
    if any(c.sent_at is None or c.sent_at < now - UNDO_WINDOW for c in calls):
        raise Conflict(_("Too late to undo: it was more than a minute ago."))
    for call in calls:
        call.status, call.sent_at, call.left_at = "called", None, None
    db.session.flush()
    record(
        "sent_undo",
        school,
        dismissal,
        actor=actor,
        mode=calls[0].mode,
        route=calls[0].bus_route,
        undone=len(calls),
    )
    return len(calls)

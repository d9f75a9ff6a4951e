"""Emergency events: start one for a school (drill or real), end it with a summary.

The event lives in the core because classes and students do; what it stops elsewhere is
contributed (shared/contributions.py `EmergencyHook`): the hall pass ends every pass and
blocks new ones through its sweep, in the event's own transaction. At most one event runs
per school, held by a partial unique index, so two offices starting at once get one
event and a clear message. Every screen of the school shows a banner while it runs
(`running_event`, read by the base template). Plain functions: they flush, never commit,
audit every write and bump the school's `TOPIC`.
"""

from __future__ import annotations

from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from shared import audit, live
from shared.access import school_record
from shared.audit import Actor
from shared.contributions import contributions
from shared.emergency_models import (
    KIND_LABELS,
    LOCATION_LENGTH,
    EmergencyEvent,
    EventKind,
)
from shared.errors import Conflict, InvalidInput
from shared.extensions import db
from shared.formats import format_time
from shared.models import School
from shared.timeutil import utcnow

#: The live-update topic of every emergency screen of a school (roll, command view).
TOPIC = "emergency"


def running_event(school: School | int | None) -> EmergencyEvent | None:
    """The event running at the school now, if any."""
    if school is None:
        return None
    school_id = school if isinstance(school, int) else school.id
    return db.session.scalar(
        select(EmergencyEvent).where(
            EmergencyEvent.school_id == school_id, EmergencyEvent.ended_at.is_(None)
        )
    )


def load_event(school: School, event_id: object) -> EmergencyEvent:
    return school_record(EmergencyEvent, event_id, school.id, _("No such emergency event."))


def past_events(school: School, limit: int = 20) -> list[EmergencyEvent]:
    """The school's ended events, newest first."""
    return list(
        db.session.scalars(
            select(EmergencyEvent)
            .where(EmergencyEvent.school_id == school.id, EmergencyEvent.ended_at.is_not(None))
            .order_by(EmergencyEvent.started_at.desc(), EmergencyEvent.id.desc())
            .limit(limit)
        )
    )


def _kind(kind: str | None) -> str:
    if kind not in set(EventKind):
        choices = ", ".join(str(label) for label in KIND_LABELS.values())
        raise InvalidInput(
            _("Choose what kind of event this is: %(choices)s.", choices=choices), field="kind"
        )
    return kind


def _location(location: str | None) -> str | None:
    cleaned = " ".join((location or "").split())
    if len(cleaned) > LOCATION_LENGTH:
        raise InvalidInput(
            _("Off-site location: at most %(num)d characters.", num=LOCATION_LENGTH),
            field="location",
        )
    return cleaned or None


def _already_running(school: School) -> Conflict:
    running = running_event(school)
    if running is None:
        return Conflict(_("An event is already running: end it before starting another."))
    return Conflict(
        _(
            "%(event)s is already running since %(time)s: end it before starting another.",
            event=running.title,
            time=format_time(running.started_at, school.timezone),
        )
    )


def start_event(
    school: School,
    actor: Actor,
    *,
    kind: str | None,
    drill: bool,
    location: str | None = None,
    now: datetime | None = None,
) -> EmergencyEvent:
    """Start an event: every contributed hook runs (hall passes end and stop)."""
    now = now or utcnow()
    event = EmergencyEvent(
        school_id=school.id,
        kind=_kind(kind),
        drill=bool(drill),
        location=_location(location),
        started_at=now,
        started_by_id=actor.user.id if actor.user else None,
        started_by_label=actor.audit_label[:254],
        out_on_pass=[],
    )
    try:
        with db.session.begin_nested():
            db.session.add(event)
            db.session.flush()
    except IntegrityError:
        raise _already_running(school) from None
    out: set[int] = set()
    for hook in contributions().emergency_hooks:
        out.update(hook.start(school, actor, now))
    event.out_on_pass = sorted(out)
    audit.record(
        "emergency.start",
        school_id=school.id,
        actor=actor,
        target=event,
        detail={
            "kind": event.kind,
            "drill": event.drill,
            "location": event.location,
            "out_on_pass": len(out),
        },
    )
    live.bump(school.id, TOPIC)
    return event


def end_event(
    school: School, actor: Actor, *, summary: dict, now: datetime | None = None
) -> EmergencyEvent:
    """End the running event with its summary (the counts at the end); hooks undo their
    blocks (hall passes work again)."""
    now = now or utcnow()
    event = running_event(school)
    if event is None:
        raise Conflict(_("No emergency event is running."))
    ended = db.session.execute(
        EmergencyEvent.__table__.update()
        .where(EmergencyEvent.id == event.id, EmergencyEvent.ended_at.is_(None))
        .values(ended_at=now, ended_by_label=actor.audit_label[:254], summary=summary)
    )
    if ended.rowcount != 1:
        raise Conflict(_("This event has already ended."))
    db.session.refresh(event)
    for hook in contributions().emergency_hooks:
        hook.end(school, actor)
    audit.record(
        "emergency.end",
        school_id=school.id,
        actor=actor,
        target=event,
        detail={"drill": event.drill, "summary": summary},
    )
    live.bump(school.id, TOPIC)
    return event


def running_banner() -> EmergencyEvent | None:
    """The event the base template's banner shows: the caller's school's running event."""
    from flask import g

    principal = g.get("principal")
    if principal is None or principal.school is None:
        return None
    cached = g.get("emergency_banner", False)
    if cached is False:
        cached = running_event(principal.school)
        g.emergency_banner = cached
    return cached

"""Browsing a school's audit log: filters, pages by key, and the list of its actions.

A school's log grows by a million events a year, so nothing here reads the whole of it:
a page starts where the last one ended (the time and id of its oldest event) instead of
counting rows off with OFFSET, and the action list is read by hopping from one distinct
action to the next along the (school, action, time) index, one probe per action, instead
of a DISTINCT over every event. An action filter (an exact action, or a prefix ending in
".": "roster.") becomes `action IN (...)` over that list, which the same index answers on
any database and collation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import and_, func, or_, select, text

from shared.errors import InvalidInput
from shared.extensions import db
from shared.forms import parse_date
from shared.models import AuditEvent, School
from shared.schedule import school_day_bounds

PAGE_SIZE = 100
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

#: One probe of the (school_id, action, at) index per distinct action.
_ACTIONS = text(
    """
    WITH RECURSIVE actions(action) AS (
        SELECT MIN(action) FROM audit_events WHERE school_id = :school_id
        UNION ALL
        SELECT (
            SELECT MIN(e.action) FROM audit_events e
            WHERE e.school_id = :school_id AND e.action > actions.action
        )
        FROM actions WHERE actions.action IS NOT NULL
    )
    SELECT action FROM actions WHERE action IS NOT NULL
    """
)


@dataclass(frozen=True)
class Filters:
    """What the person asked for, as typed (shown back in the form and the links)."""

    action: str = ""
    actor: str = ""
    since: str = ""
    until: str = ""

    @classmethod
    def from_args(cls, args) -> Filters:
        return cls(**{name: args.get(name, "").strip() for name in cls.__dataclass_fields__})

    def as_args(self) -> dict[str, str]:
        return {name: value for name, value in self.__dict__.items() if value}


@dataclass(frozen=True)
class Page:
    events: list[AuditEvent]
    #: The `before` key of the next (older) page, or None on the last page.
    older: str | None


def actions(school_id: int) -> list[str]:
    """Every action the school's log holds, in order."""
    return list(db.session.scalars(_ACTIONS, {"school_id": school_id}))


def _cursor(event: AuditEvent) -> str:
    return f"{(event.at - _EPOCH) // _MICROSECOND}.{event.id}"


def _parse_cursor(raw: str) -> tuple[datetime, int]:
    micros, _dot, event_id = raw.partition(".")
    if not (micros.isdigit() and event_id.isdigit()):
        raise InvalidInput(_("That page link is not valid: start from the newest events."))
    return _EPOCH + int(micros) * _MICROSECOND, int(event_id)


def page(school: School, filters: Filters, before: str = "") -> Page:
    """One page of the school's events matching `filters`, newest first, older than
    `before` (a key from the previous page)."""
    query = select(AuditEvent).where(AuditEvent.school_id == school.id)
    if filters.action:
        wanted = [
            action
            for action in actions(school.id)
            if action == filters.action
            or (filters.action.endswith(".") and action.startswith(filters.action))
        ]
        query = query.where(AuditEvent.action.in_(wanted))
    if filters.actor:
        query = query.where(
            func.lower(AuditEvent.actor_label).contains(filters.actor.lower(), autoescape=True)
        )
    since = parse_date(filters.since, field="since", label=_("Since"))
    until = parse_date(filters.until, field="until", label=_("Until"))
    if since is not None:
        query = query.where(AuditEvent.at >= school_day_bounds(school, since)[0])
    if until is not None:  # the whole of the last day
        query = query.where(AuditEvent.at < school_day_bounds(school, until)[1])
    if before:
        at, event_id = _parse_cursor(before)
        # "at <= key" keeps the index range; the OR settles events of the same instant.
        query = query.where(
            AuditEvent.at <= at,
            or_(AuditEvent.at < at, and_(AuditEvent.at == at, AuditEvent.id < event_id)),
        )
    events = db.session.scalars(
        query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(PAGE_SIZE + 1)
    ).all()
    older = _cursor(events[PAGE_SIZE - 1]) if len(events) > PAGE_SIZE else None
    return Page(events=list(events[:PAGE_SIZE]), older=older)

"""The audit log: every sign-in and every write, with actor, time and client address.

Who did it, one convention for every service:

- A view takes the caller from the request: `current_actor()` (the signed-in staff
  member, the paired device, or nobody for an anonymous student's phone) and passes
  it to the service as `actor`; a job or the command line passes `SYSTEM`.
- A service that takes an `actor` hands it to `record(..., actor=actor)`, so what is
  audited is what the service was told, even outside a request (tests, jobs).
- `record` without an `actor` falls back on `current_actor()`: the request's principal,
  or `SYSTEM` outside a request. `actor_user` / `actor_label` name someone the request
  does not know yet (signing in, a failed sign-in's email).

The audit label reads: the staff member's email, "device: <label>", "anonymous" (a
request nobody is signed in to) or "system". A substitute for the day reads
"substitute: <name> for <absent teacher's email>", and their events carry
`substitute_id` in the detail (the actor user is the absent teacher they stand in for).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import g, has_request_context, request

from shared.extensions import db
from shared.models import AuditEvent, Device, Guardian, SubstituteAssignment, User

#: Keys never written to the audit detail, whatever a caller passes.
_SECRET_KEYS = {"password", "password_hash", "secret", "token", "code", "csrf_token"}


@dataclass(frozen=True)
class Actor:
    """Who makes a change: a staff member, a paired device, both, a guardian, nobody
    (anonymous), or the system (`label="system"`, see `SYSTEM`). A guardian is named in the
    label and by `actor_guardian_id` in the event's detail."""

    user: User | None = None
    device: Device | None = None
    #: Overrides the label worked out from user and device ("system" for jobs).
    label: str | None = None
    #: A guardian on their family's page (never with a user or a device).
    guardian: Guardian | None = None
    #: A substitute for the day, standing in for `user` (the absent teacher).
    substitute: SubstituteAssignment | None = None

    @property
    def audit_label(self) -> str:
        """How the audit log names this actor."""
        if self.label is not None:
            return self.label
        if self.substitute is not None:
            teacher = self.user.email if self.user is not None else "?"
            return f"substitute: {self.substitute.name} for {teacher}"
        if self.user is not None:
            return self.user.email
        if self.device is not None:
            return f"device: {self.device.label}"
        if self.guardian is not None:
            return f"guardian: {self.guardian.name}"
        return "anonymous"


#: Housekeeping jobs, the command line and other work nobody asked for in a request.
SYSTEM = Actor(label="system")


def current_actor() -> Actor:
    """The actor of this request (its principal: user and/or device), or `SYSTEM` outside one."""
    if not has_request_context():
        return SYSTEM
    principal = g.get("principal")
    return Actor(
        user=getattr(principal, "user", None),
        device=getattr(principal, "device", None),
        guardian=getattr(principal, "guardian", None),
        substitute=getattr(principal, "substitute", None),
    )


def record(
    action: str,
    *,
    school_id: int | None = None,
    target: Any = None,
    detail: dict[str, Any] | None = None,
    actor: Actor | None = None,
    actor_label: str | None = None,
    actor_user: User | None = None,
) -> AuditEvent:
    """Add an audit event to the current transaction (it commits with the change).

    The actor is `actor`, else the request's (see the module docstring); `actor_user`
    names the user where the request has none yet (signing in), `actor_label` overrides
    the label. The school defaults to the request principal's.
    """
    if actor is None:
        actor = current_actor()
        if actor_user is not None:
            actor = Actor(user=actor_user, device=actor.device)
    elif actor_user is not None:
        actor = Actor(user=actor_user, device=actor.device, label=actor.label)
    principal = g.get("principal") if has_request_context() else None
    if school_id is None and principal is not None:
        school_id = principal.school_id
    label = actor_label if actor_label is not None else actor.audit_label
    clean = {k: v for k, v in (detail or {}).items() if k not in _SECRET_KEYS}
    if actor.guardian is not None:  # the audit row's actor columns are for staff and devices
        clean["actor_guardian_id"] = actor.guardian.id
    if actor.substitute is not None:  # the flag reports and the audit page read
        clean["substitute_id"] = actor.substitute.id
    event = AuditEvent(
        school_id=school_id,
        actor_user_id=actor.user.id if actor.user is not None else None,
        actor_device_id=actor.device.id if actor.device is not None else None,
        actor_label=label[:254],
        action=action,
        target_type=type(target).__name__ if target is not None else None,
        target_id=getattr(target, "id", None),
        client_address=request.remote_addr if has_request_context() else None,
        detail=clean,
    )
    db.session.add(event)
    return event

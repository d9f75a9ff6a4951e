"""The audit log: every sign-in and every write, with actor, time and client address."""

from typing import Any

from flask import g, has_request_context, request

from shared.extensions import db
from shared.models import AuditEvent, User

#: Keys never written to the audit detail, whatever a caller passes.
_SECRET_KEYS = {"password", "password_hash", "secret", "token", "code", "csrf_token"}


def record(
    action: str,
    *,
    school_id: int | None = None,
    target: Any = None,
    detail: dict[str, Any] | None = None,
    actor_label: str | None = None,
    actor_user: User | None = None,
) -> AuditEvent:
    """Add an audit event to the current transaction (it commits with the change).

    The actor is the request's principal; `actor_user` names one where there is none
    yet (signing in).
    """
    principal = g.get("principal") if has_request_context() else None
    user = actor_user or getattr(principal, "user", None)
    device = getattr(principal, "device", None)
    if school_id is None and principal is not None:
        school_id = principal.school_id
    if actor_label is None:
        if user is not None:
            actor_label = user.email
        elif device is not None:
            actor_label = f"device: {device.label}"
        else:
            actor_label = "system" if not has_request_context() else "anonymous"
    clean = {k: v for k, v in (detail or {}).items() if k not in _SECRET_KEYS}
    event = AuditEvent(
        school_id=school_id,
        actor_user_id=user.id if user is not None else None,
        actor_device_id=device.id if device is not None else None,
        actor_label=actor_label[:254],
        action=action,
        target_type=type(target).__name__ if target is not None else None,
        target_id=getattr(target, "id", None),
        client_address=request.remote_addr if has_request_context() else None,
        detail=clean,
    )
    db.session.add(event)
    return event

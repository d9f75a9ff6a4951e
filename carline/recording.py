"""How a car line write is recorded: audited, and announced to the dismissal screens.

Every car line module that writes calls `record` once per write, so the audit action
names (`carline.<action>`), the actor (a staff member, or a paired device named in the
log) and the live topic the screens poll are decided in one place.
(A record of another school is refused by `shared.access.of_school`.)
"""

from __future__ import annotations

from typing import Any

from shared import audit, live
from shared.audit import Actor
from shared.models import Device, School, User

#: The live topic of every car line screen (curb, TV, classrooms, office).
TOPIC = "dismissal"


def record(
    action: str,
    school: School,
    target: Any,
    *,
    user: User | None,
    device: Device | None,
    **detail: Any,
) -> None:
    """Audit a car line write and announce it to the dismissal screens.

    The audit actor is the staff member and/or device the service was given (neither:
    the request's, or the system outside one), labelled as `shared.audit.Actor` says.
    """
    told = user is not None or device is not None
    audit.record(
        f"carline.{action}",
        school_id=school.id,
        target=target,
        detail=detail,
        actor=Actor(user=user, device=device) if told else None,
    )
    live.bump(school.id, TOPIC)

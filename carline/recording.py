"""How a car line write is recorded: audited, and announced to the dismissal screens.

Every car line module that writes calls `record` once per write, so the audit action
names (`carline.<action>`), the actor (a staff member, or a paired device named in the
log) and the live topic the screens poll are decided in one place.
(A record of another school is refused by `shared.access.of_school`.)
"""

from __future__ import annotations

from typing import Any

from shared import audit, live
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
    """Audit a car line write and announce it to the dismissal screens."""
    label = f"device: {device.label}" if device is not None and user is None else None
    audit.record(
        f"carline.{action}",
        school_id=school.id,
        target=target,
        detail=detail,
        actor_user=user,
        actor_label=label,
    )
    live.bump(school.id, TOPIC)

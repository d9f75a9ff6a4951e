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
from shared.models import School

#: The live topic of every car line screen (curb, TV, classrooms, office).
TOPIC = "dismissal"


def record(
    action: str,
    school: School,
    target: Any,
    *,
    actor: Actor,
    **detail: Any,
) -> None:
    """Audit a car line write and announce it to the dismissal screens.

    The audit actor is the one the service was given (`shared.audit.Actor`).
    """
    audit.record(
        f"carline.{action}",
        school_id=school.id,
        target=target,
        detail=detail,
        actor=actor,
    )
    live.bump(school.id, TOPIC)

"""Who may pick a family's children up: the one list the curb, the office and the
reunification gates show.

A family's pickup list is the office's authorized adults (`Family.pickup_adults`, one per
line) followed by its guardians who may pick up, and apart from them the guardians who
must not (`Guardian.may_pick_up` false). Every guardian's note goes with their name; a
note that says not to release the children ("Do not release to ...") is an alert, shown
to staff above everything else. Read for any number of families in one statement
(`pickup_lists`); nothing here writes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select

from shared.extensions import db
from shared.models import Family, Guardian

#: A note that forbids a release: shown to staff as an alert, not as a remark.
_ALERT = re.compile(r"\b(do not|don't|never|no)\s+(release|pick)", re.IGNORECASE)


def is_alert(note: str) -> bool:
    """Does this note tell staff not to release the children to someone?"""
    return bool(_ALERT.search(note or ""))


@dataclass(frozen=True)
class PickupPerson:
    """One adult of a pickup list, with the relationship and note staff should see."""

    name: str
    #: "Mother", "Grandfather"...; "" for the office's authorized adults.
    relationship: str = ""
    note: str = ""
    #: The guardian row, None for a name from the authorized adults.
    guardian_id: int | None = None

    @property
    def alert(self) -> bool:
        return is_alert(self.note)


@dataclass(frozen=True)
class PickupList:
    """Who may pick up (authorized adults, then guardians), who must not, and the alerts."""

    may: list[PickupPerson] = field(default_factory=list)
    may_not: list[PickupPerson] = field(default_factory=list)

    @property
    def alerts(self) -> list[PickupPerson]:
        """Everyone whose note forbids a release, or who must not pick up, alerts first."""
        flagged = [p for p in [*self.may, *self.may_not] if p.alert]
        return flagged + [p for p in self.may_not if not p.alert]

    @property
    def names(self) -> list[str]:
        return [person.name for person in self.may]

    def __bool__(self) -> bool:
        return bool(self.may)


def _adults(family: Family) -> list[PickupPerson]:
    lines = (family.pickup_adults or "").splitlines()
    return [PickupPerson(line.strip()) for line in lines if line.strip()]


def pickup_lists(families: Iterable[Family]) -> dict[int, PickupList]:
    """Each family's pickup list, by family id (one statement for the guardians)."""
    families = list(families)
    if not families:
        return {}
    guardians = db.session.scalars(
        select(Guardian)
        .where(Guardian.family_id.in_({f.id for f in families}))
        .order_by(Guardian.family_id, Guardian.name, Guardian.id)
    )
    may: dict[int, list[PickupPerson]] = {f.id: _adults(f) for f in families}
    may_not: dict[int, list[PickupPerson]] = {f.id: [] for f in families}
    for guardian in guardians:
        person = PickupPerson(guardian.name, guardian.relationship, guardian.note, guardian.id)
        (may if guardian.may_pick_up else may_not)[guardian.family_id].append(person)
    return {f.id: PickupList(may[f.id], may_not[f.id]) for f in families}


def pickup_list(family: Family) -> PickupList:
    """The family's pickup list (see the module docstring)."""
    return pickup_lists([family])[family.id]

"""Who may take a student home: the one list the curb, the office and the reunification
gates read.

A family's pickup list (`pickup_lists`) is the office's authorized adults
(`Family.pickup_adults`, one per line) followed by its guardians who may pick up, and
apart from them the guardians who must not (`Guardian.may_pick_up` false). Every
guardian's note goes with their name; a note that says not to release the children
("Do not release to ...") is an alert, shown to staff above everything else, as is the
family's custody or "do not release" note (`Family.release_note`). `who_may_take` gives
the same for one student across all their families, for the reunification gates. It also
finds students by an adult's name (the request gate looks up a parent) and a student's
siblings (students sharing a family). Nothing here writes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from flask_babel import gettext as _
from sqlalchemy import func, or_, select

from shared.contributions import ReleaseAdult, ReleaseList
from shared.extensions import db
from shared.models import Family, Guardian, School, Student, family_students
from shared.students import like_contains, search_text

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


def adult_lines(family: Family) -> list[str]:
    """A family's authorized adults, one a line."""
    return [line.strip() for line in (family.pickup_adults or "").splitlines() if line.strip()]


def _families(student: Student) -> list[Family]:
    return list(
        db.session.scalars(
            select(Family)
            .join(family_students, family_students.c.family_id == Family.id)
            .where(family_students.c.student_id == student.id, Family.active.is_(True))
            .order_by(Family.tag_number)
        )
    )


def who_may_take(student: Student) -> ReleaseList:
    """Everyone who may take `student`, every note about it, and the siblings."""
    families = _families(student)
    lists = pickup_lists(families)
    adults: list[ReleaseAdult] = []
    notes: list[str] = []
    for family in families:
        tag = family.tag_number
        if (family.release_note or "").strip():
            notes.append(_("Tag %(tag)s: %(note)s", tag=tag, note=family.release_note.strip()))
        listed = lists[family.id]
        for person in listed.may:
            if person.guardian_id is None:
                adults.append(
                    ReleaseAdult(person.name, _("Authorized adult, tag %(tag)s", tag=tag))
                )
            elif person.relationship:
                kind = _(
                    "Guardian (%(relationship)s), tag %(tag)s",
                    relationship=person.relationship,
                    tag=tag,
                )
                adults.append(ReleaseAdult(person.name, kind))
            else:
                adults.append(ReleaseAdult(person.name, _("Guardian, tag %(tag)s", tag=tag)))
            if person.note:
                notes.append(
                    _(
                        "Tag %(tag)s, %(name)s: %(note)s",
                        tag=tag,
                        name=person.name,
                        note=person.note,
                    )
                )
        for person in listed.may_not:
            if person.note:
                notes.append(
                    _(
                        "Tag %(tag)s: do not release to %(name)s: %(note)s",
                        tag=tag,
                        name=person.name,
                        note=person.note,
                    )
                )
            else:
                notes.append(
                    _("Tag %(tag)s: do not release to %(name)s", tag=tag, name=person.name)
                )
    siblings = []
    if families:
        siblings = list(
            db.session.scalars(
                select(Student.id)
                .join(family_students, family_students.c.student_id == Student.id)
                .where(
                    family_students.c.family_id.in_([f.id for f in families]),
                    Student.id != student.id,
                    Student.active.is_(True),
                )
                .distinct()
            )
        )
    return ReleaseList(adults=adults, notes=notes, sibling_ids=sorted(siblings))


def students_of_adult(school: School, text: str, limit: int = 20) -> list[int]:
    """Students whose families list an adult whose name contains `text`."""
    words = search_text(text).lower()
    if len(words) < 2:
        return []
    return list(
        db.session.scalars(
            select(family_students.c.student_id)
            .join(Family, Family.id == family_students.c.family_id)
            .where(
                Family.school_id == school.id,
                Family.active.is_(True),
                or_(
                    func.lower(Family.pickup_adults).like(like_contains(words), escape="\\"),
                    Family.id.in_(
                        select(Guardian.family_id).where(
                            Guardian.school_id == school.id,
                            Guardian.may_pick_up.is_(True),
                            func.lower(Guardian.name).like(like_contains(words), escape="\\"),
                        )
                    ),
                ),
            )
            .distinct()
            .limit(limit)
        )
    )

"""guardians.csv: a family's guardians, read, planned and written by the roster import.

Each row names its family by `tag_number` (a family of `families.csv` or already at the
school) and is matched to a stored guardian of that family by email, else by name
(ignoring case), so importing again updates instead of duplicating. The details are
checked by `shared.guardians.clean_fields`, the office's rule; a problem is a row error.
A column that is not in the file keeps what is stored; guardians missing from the file
are left alone (the office removes a guardian on the family screen).

`apply_guardians` writes the guardian changes of either format: these, and those of a
OneRoster export (oneroster_guardians.py), whose records make their guardian the same way
(`new_guardian`) and whose delta may remove guardians.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from shared.errors import InvalidInput
from shared.extensions import db
from shared.guardians import GuardianFields, clean_fields, delete_guardian, yes_no
from shared.models import Family, Guardian
from shared.roster.results import Change, Plan, RowError
from shared.roster.rows import Cells, Roster, Where

REQUIRED = ("tag_number", "name")
#: Optional columns: absent from the file, the stored value is kept.
OPTIONAL = ("email", "mobile", "language", "relationship", "may_pick_up", "note")
_MAX_TAG = 2**31 - 1


@dataclass
class GuardianRecord:
    tag_number: int
    fields: GuardianFields
    #: The optional columns the file has (the others keep their stored values).
    columns: frozenset[str]
    where: Where

    def updates_for(self, guardian: Guardian) -> dict[str, Any]:
        wanted = {
            k: v for k, v in self.fields.columns().items() if k == "name" or k in self.columns
        }
        return {k: v for k, v in wanted.items() if getattr(guardian, k) != v}

    def new_guardian(self, school_id: int, families: dict[int, Family]) -> Guardian:
        """The guardian to add, in the family of its tag (`families`: by tag number)."""
        return Guardian(
            school_id=school_id,
            family_id=families[self.tag_number].id,
            **self.fields.columns(),
        )


def parse_guardian_row(cells: Cells) -> list[tuple[Any, Any]]:
    raw_tag = cells.get("tag_number")
    tag = int(raw_tag) if raw_tag.isascii() and raw_tag.isdigit() else 0
    if not 0 < tag <= _MAX_TAG:
        cells.fail("tag_number", _("%(value)s is not a positive whole number", value=repr(raw_tag)))
    try:
        may = yes_no(cells.get("may_pick_up"))
    except ValueError as exc:
        cells.fail("may_pick_up", _("%(problem)s; use yes or no", problem=exc))
        may = True
    try:
        fields = clean_fields(
            name=cells.get("name"),
            email=cells.get("email"),
            mobile=cells.get("mobile"),
            language=cells.get("language") or None,
            relationship=cells.get("relationship"),
            may_pick_up=may,
            note=cells.get("note"),
        )
    except InvalidInput as error:
        cells.fail(error.field, error.message.split(": ", 1)[-1])
        return []
    if not cells.ok:
        return []
    present = frozenset(c for c in OPTIONAL if c in cells.row.values)
    key = (f"tag {tag}", fields.email or fields.name.casefold())
    return [(key, GuardianRecord(tag, fields, present, cells.where))]


def _match(guardians: list[Guardian], record: GuardianRecord) -> Guardian | None:
    email = record.fields.email
    if email is not None:
        for guardian in guardians:
            if guardian.email == email:
                return guardian
    name = record.fields.name.casefold()
    for guardian in guardians:
        if guardian.name.casefold() == name and guardian.email in (None, email):
            return guardian
    return None


def plan_guardians(plan: Plan, roster: Roster, families: dict[int, Family]) -> None:
    """Fill the plan's guardian changes (`families`: the school's families by tag)."""
    records = roster.guardians
    if records is None:
        return
    coming = set(roster.families or ())
    ids = [f.id for f in families.values()]
    stored: dict[int, list[Guardian]] = {}
    if ids:
        for guardian in db.session.scalars(
            select(Guardian).where(Guardian.family_id.in_(ids)).order_by(Guardian.id)
        ):
            stored.setdefault(guardian.family_id, []).append(guardian)
    claimed: set[int] = set()
    changes = plan.kinds["guardians"]
    for record in records.values():
        family = families.get(record.tag_number)
        if family is None and record.tag_number not in coming:
            plan.errors.append(
                RowError(
                    *record.where,
                    "tag_number",
                    _("no family has tag %(number)s", number=record.tag_number),
                )
            )
            continue
        label = _("%(name)s (tag %(number)s)", name=record.fields.name, number=record.tag_number)
        guardian = _match(stored.get(family.id, []), record) if family is not None else None
        if guardian is not None and guardian.id in claimed:
            plan.errors.append(
                RowError(*record.where, "name", _("the same guardian is on an earlier row"))
            )
            continue
        if guardian is None:
            changes.created.append(Change(label, record.fields.relationship, record=record))
            continue
        claimed.add(guardian.id)
        updates = record.updates_for(guardian)
        if updates:
            changes.changed.append(
                Change(label, ", ".join(sorted(updates)), target=guardian, updates=updates)
            )


def apply_guardians(plan: Plan) -> None:
    """Write the plan's guardian changes (after the families: a new family's guardians)."""
    changes = plan.kinds["guardians"]
    if not changes.total():
        return
    db.session.flush()
    families = {
        f.tag_number: f
        for f in db.session.scalars(select(Family).where(Family.school_id == plan.school.id))
    }
    for change in changes.created:
        db.session.add(change.record.new_guardian(plan.school.id, families))
    for change in changes.changed:
        for key, value in change.updates.items():
            setattr(change.target, key, value)
    for change in changes.removed:
        delete_guardian(change.target)

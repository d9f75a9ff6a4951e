"""OneRoster guardians: parent, guardian and relative users, made guardians of families.

Its own room because guardians are read, linked and planned differently from every
other OneRoster user: they are never staff accounts, they belong to a car line family
(which OneRoster does not have), and they are found through the agents of the school's
students. The steps, in order:

1. Reading (`GuardianRows`, a mixin of `OneRosterReader`): a user whose role is parent,
   guardian or relative (1.1: users.csv `role`; 1.2: a roles.csv row at any org of the
   export) has their details checked by `shared.guardians.clean_fields`, the office's
   rule, a problem being a row error on the column it came from. The name is
   preferredGivenName / preferredFamilyName when given (1.2), else givenName /
   familyName; the email is stored lower case; the mobile number is `sms`, else `phone`;
   the relationship is the role word (Parent, Guardian, Relative).
2. Linking (`link_guardians`): a guardian's students are the users their own
   agentSourcedIds names plus the students whose agentSourcedIds names them (the two
   directions the format allows), kept when they are students of this school. An agent
   sourcedId that is not in users.csv (nor, in a delta, a student or guardian the school
   already has) is a row warning on that row's agentSourcedIds. A guardian of no student
   of the school is left out (counted), unless a delta lists a guardian already stored.
3. Planning (`plan_oneroster_guardians`): a guardian is matched by the OneRoster
   sourcedId stored on it (`Guardian.sourced_id`), else, the first time, by email then
   name among the unlinked guardians of their students' family (one made by the office
   or a guardians.csv), so re-imports update and never duplicate. A new guardian joins
   the family of their students; when the students have no family yet (OneRoster has no
   families: they come from families.csv or the office), or are in several, the row is a
   warning and the guardian waits for the next import. A stored guardian stays in the
   family the office has it in.

What an import changes on a stored guardian: the name, the email and the mobile number
when the export gives them (a blank cell keeps what is stored), and the relationship only
while it is blank (the office's "Grandmother" is more precise than "Relative"). Language,
may pick up (yes for a new guardian, as in guardians.csv) and the note are the office's.
A bulk users.csv leaves guardians it does not list alone, as a guardians.csv does; a
delta row marked tobedeleted (or a disabled user) removes the stored guardian with that
sourcedId, ending their family sessions, as the office's remove button does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask_babel import gettext as _

from shared.errors import InvalidInput
from shared.guardians import GuardianFields, clean_fields
from shared.models import Family, Guardian, Student
from shared.roster.describe import field_label
from shared.roster.results import Change, Plan, RowError
from shared.roster.rows import Cells, Roster, Row, Where, split_cell

if TYPE_CHECKING:
    from shared.roster.existing import Existing

#: The relationship stored for each OneRoster guardian role (the SIS's own word).
RELATIONSHIPS = {"parent": "Parent", "guardian": "Guardian", "relative": "Relative"}


@dataclass
class OneRosterGuardian:
    """A guardian user of the export, with the students of this school they are agent of."""

    sourced_id: str
    fields: GuardianFields
    #: Student numbers (of this import or of the school) this guardian is an agent of.
    student_numbers: list[str]
    where: Where
    #: Set by the planner for a guardian to create: the family they join.
    family_id: int | None = None

    def updates_for(self, guardian: Guardian) -> dict[str, Any]:
        """What an import changes on the stored guardian (see the module docstring)."""
        wanted: dict[str, Any] = {"name": self.fields.name, "sourced_id": self.sourced_id}
        if self.fields.email is not None:
            wanted["email"] = self.fields.email
        if self.fields.mobile is not None:
            wanted["mobile"] = self.fields.mobile
        if not guardian.relationship:
            wanted["relationship"] = self.fields.relationship
        return {k: v for k, v in wanted.items() if getattr(guardian, k) != v}

    def new_guardian(self, school_id: int, families: dict[int, Family]) -> Guardian:
        assert self.family_id is not None
        return Guardian(
            school_id=school_id,
            family_id=self.family_id,
            sourced_id=self.sourced_id,
            **self.fields.columns(),
        )


@dataclass
class _Pending:
    """A guardian row read, waiting for the agents of the whole file to be known."""

    cells: Cells
    fields: GuardianFields
    agents: list[str]
    students: dict[str, None]


#: clean_fields' field -> the users.csv column it is read from (for row errors).
_COLUMNS = {"name": "givenName", "email": "email", "language": None, "relationship": "role"}


class GuardianRows:
    """Reading guardian users and linking them to students: mixed into `OneRosterReader`."""

    def start_guardians(self) -> None:
        self.pending_guardians: dict[str, _Pending] = {}
        #: Student sourcedId -> (row, the agentSourcedIds it lists).
        self.student_agents: dict[str, tuple[Row, list[str]]] = {}
        self.roster.oneroster_guardians = {}
        self.plan.present.append("guardians")

    def note_agents(self, cells: Cells, sourced_id: str) -> None:
        """A student's agentSourcedIds, linked once every users.csv row is read."""
        agents = split_cell(cells.get("agentSourcedIds"))
        if agents:
            self.student_agents[sourced_id] = (cells.row, agents)

    def read_guardian(self, cells: Cells, sourced_id: str, role: str) -> None:
        """A parent, guardian or relative user: checked as the office's form checks."""
        mobile_column = "sms" if cells.get("sms") else "phone"
        given = cells.get("preferredGivenName") or cells.get("givenName")
        family = cells.get("preferredFamilyName") or cells.get("familyName")
        try:
            fields = clean_fields(
                name=f"{given} {family}",
                email=cells.get("email"),
                mobile=cells.get(mobile_column),
                relationship=RELATIONSHIPS.get(role.lower(), role),
            )
        except InvalidInput as error:
            column = mobile_column if error.field == "mobile" else _COLUMNS.get(error.field or "")
            cells.fail(column, error.message.split(": ", 1)[-1])
            return
        self.pending_guardians[sourced_id] = _Pending(
            cells, fields, split_cell(cells.get("agentSourcedIds")), {}
        )

    def guardian_deleted(self, row: Row, sourced_id: str) -> bool:
        """A delta user marked for deletion that is a stored guardian: to be removed."""
        if not self.delta("users.csv"):
            return False
        if sourced_id not in self.existing.guardians_by_sourced_id:
            return False
        self.roster.removed_guardians[sourced_id] = (row.file, row.line)
        return True

    def student_number_of(self, sourced_id: str) -> str | None:
        """The student number of a student of this school with this sourcedId, if any."""
        user = self.users.get(sourced_id)
        if user is not None and user[0] == "student":
            return user[1]
        if user is None and "students" in self.roster.delta:
            student: Student | None = self.existing.students_by_sourced_id.get(sourced_id)
            return student.student_number if student is not None else None
        return None

    def known_agent(self, sourced_id: str) -> bool:
        """Whether an agent sourcedId names someone: a user of the file or (delta) stored."""
        if sourced_id in self.users or sourced_id in self.pending_guardians:
            return True
        return self.delta("users.csv") and (
            sourced_id in self.existing.students_by_sourced_id
            or sourced_id in self.existing.guardians_by_sourced_id
        )

    def unknown_agent(self, row: Row, sourced_id: str) -> None:
        self.warn(
            row,
            "agentSourcedIds",
            _(
                "agent %(value)s is not a user in users.csv; that link is not imported",
                value=repr(sourced_id),
            ),
        )

    def link_guardians(self) -> None:
        """Each guardian's students, from both directions of agentSourcedIds."""
        for student_id, (row, agents) in self.student_agents.items():
            number = self.users[student_id][1]
            for agent in agents:
                pending = self.pending_guardians.get(agent)
                if pending is not None:
                    pending.students.setdefault(number)
                elif not self.known_agent(agent):
                    self.unknown_agent(row, agent)
        guardians = self.roster.oneroster_guardians
        assert guardians is not None
        for sourced_id, pending in self.pending_guardians.items():
            row = pending.cells.row
            for agent in pending.agents:
                number = self.student_number_of(agent)
                if number is not None:
                    pending.students.setdefault(number)
                elif not self.known_agent(agent):
                    self.unknown_agent(row, agent)
            stored = sourced_id in self.existing.guardians_by_sourced_id
            if not pending.students and not stored:
                self.leave_out(row, _("guardians of no student of this school"))
                continue
            guardians[sourced_id] = OneRosterGuardian(
                sourced_id, pending.fields, list(pending.students), pending.cells.where
            )


def _unlinked_match(guardians: list[Guardian], record: OneRosterGuardian) -> Guardian | None:
    """A guardian of the family not yet linked to OneRoster: by email, else by name."""
    unlinked = [g for g in guardians if g.sourced_id is None]
    if record.fields.email is not None:
        for guardian in unlinked:
            if guardian.email == record.fields.email:
                return guardian
    name = record.fields.name.casefold()
    for guardian in unlinked:
        if guardian.name.casefold() == name and guardian.email in (None, record.fields.email):
            return guardian
    return None


def plan_oneroster_guardians(plan: Plan, roster: Roster, existing: Existing) -> None:
    """Fill the plan's guardian changes from the OneRoster guardians read."""
    records = roster.oneroster_guardians
    if records is None and not roster.removed_guardians:
        return
    families = {f.id: f for f in existing.families.values()}
    families_of: dict[str, list[Family]] = {}
    for family in families.values():
        if family.active:
            for student in family.students:
                families_of.setdefault(student.student_number, []).append(family)
    by_family: dict[int, list[Guardian]] = {}
    for guardian in existing.guardians:
        by_family.setdefault(guardian.family_id, []).append(guardian)
    stored = existing.guardians_by_sourced_id
    changes = plan.kinds["guardians"]
    claimed: dict[int, Where] = {}
    #: (family id, email) -> the row that gives a guardian of that family this address.
    addresses: dict[tuple[int, str], Where] = {}
    # Translated once: a district's school has a guardian per student waiting for a family.
    no_family = _(
        "not imported yet: no family has this guardian's students (%(numbers)s); add "
        "their family (families.csv or the Families page) and import again"
    )
    for record in (records or {}).values():
        guardian = stored.get(record.sourced_id)
        family = families.get(guardian.family_id) if guardian is not None else None
        if guardian is None:
            family, guardian = _family_of(plan, record, families_of, by_family, no_family)
            if family is None:
                continue
        if guardian is not None and guardian.id in claimed:
            plan.errors.append(
                RowError(
                    *record.where,
                    "sourcedId",
                    _(
                        "%(name)s is already the guardian of row %(row)d",
                        name=guardian.name,
                        row=claimed[guardian.id][1],
                    ),
                )
            )
            continue
        assert family is not None
        if not _address_free(plan, record, family, guardian, by_family, addresses):
            continue
        label = _("%(name)s (tag %(number)s)", name=record.fields.name, number=family.tag_number)
        if guardian is None:
            record.family_id = family.id
            changes.created.append(Change(label, record.fields.relationship, record=record))
            continue
        claimed[guardian.id] = record.where
        updates = record.updates_for(guardian)
        if updates:
            detail = ", ".join(field_label(key) for key in sorted(updates))
            changes.changed.append(Change(label, detail, target=guardian, updates=updates))
    for sourced_id in roster.removed_guardians:
        guardian = stored[sourced_id]
        family = families.get(guardian.family_id)
        label = _(
            "%(name)s (tag %(number)s)",
            name=guardian.name,
            number=family.tag_number if family else "?",
        )
        changes.removed.append(Change(label, guardian.relationship, target=guardian))


def _family_of(
    plan: Plan,
    record: OneRosterGuardian,
    families_of: dict[str, list[Family]],
    by_family: dict[int, list[Guardian]],
    no_family: str,
) -> tuple[Family | None, Guardian | None]:
    """The family a guardian not linked yet joins, and the guardian there it already is
    (`no_family`: the translated warning when none has their students)."""
    found: dict[int, Family] = {}
    for number in record.student_numbers:
        for family in families_of.get(number, []):
            found.setdefault(family.id, family)
    matches = [
        (family, match)
        for family in found.values()
        if (match := _unlinked_match(by_family.get(family.id, []), record)) is not None
    ]
    if len(matches) == 1:
        return matches[0]
    if len(found) == 1:
        return next(iter(found.values())), None
    numbers = ", ".join(record.student_numbers)
    if not found:
        reason = no_family % {"numbers": numbers}
    else:
        reason = _(
            "not imported: this guardian's students (%(numbers)s) are in several families "
            "(tags %(tags)s); add the guardian on the right family's page",
            numbers=numbers,
            tags=", ".join(str(f.tag_number) for f in sorted(found.values(), key=_tag)),
        )
    plan.row_warnings.append(RowError(*record.where, "agentSourcedIds", reason))
    return None, None


def _tag(family: Family) -> int:
    return family.tag_number


def _address_free(
    plan: Plan,
    record: OneRosterGuardian,
    family: Family,
    guardian: Guardian | None,
    by_family: dict[int, list[Guardian]],
    addresses: dict[tuple[int, str], Where],
) -> bool:
    """A family's guardians have different emails (the database holds it): else an error."""
    email = record.fields.email
    if email is None:
        return True
    earlier = addresses.get((family.id, email))
    taken = any(
        g.email == email and g is not guardian and g.sourced_id != record.sourced_id
        for g in by_family.get(family.id, [])
    )
    if earlier is None and not taken:
        addresses[(family.id, email)] = record.where
        return True
    reason = (
        _(
            "%(value)s is already the email of the guardian on row %(row)d",
            value=repr(email),
            row=earlier[1],
        )
        if earlier is not None
        else _("another guardian of this family has this email address")
    )
    plan.errors.append(RowError(*record.where, "email", reason))
    return False

"""The OneRoster CSV format, versions 1.1 and 1.2, read into a `Roster` for one school org.

`OneRosterReader` reads manifest.csv first (manifest.py: the version, and whether each
file is bulk, delta or absent), picks the school's org in orgs.csv (by the school's
stored sourcedId, the one given, or the only school org), reads its students, staff and
guardians (parent, guardian and relative users, through agentSourcedIds) from users.csv,
its classes of the current term from classes.csv and academicSessions.csv, and the class
members from enrollments.csv. Rows marked for deletion and disabled users are skipped in
a bulk file.

Version 1.1 gives each user's role and orgs in users.csv. Version 1.2 moves them to
roles.csv (read in oneroster_roles.py, with the one table from the OneRoster role
vocabulary to passline roles), and users.csv gains preferredGivenName /
preferredFamilyName, userMasterIdentifier and primaryOrgSourcedId:

- A student's `preferred_name` is preferredGivenName (1.1: a preferredFirstName column);
  first_name / last_name stay the legal givenName / familyName. passline keeps one family
  name per student, so a preferredFamilyName that differs is a row warning, not stored.
- A staff account has one name: preferredGivenName / preferredFamilyName when given,
  else givenName / familyName (the account's name is what people see).
- The student number is `identifier`, else (1.2) `userMasterIdentifier`, else `username`.

A delta file (manifest `file.<name>` delta) changes only the records it lists: students,
classes and enrollments it does not mention are left alone (`Roster.delta` tells the
planner), and a row marked `tobedeleted` (or a disabled user) does what a bulk import
does when a record disappears: a student or class is deactivated, an enrollment removed;
staff and roles are never removed by an import. Records a delta row refers to but does
not list (an enrollment of a student imported last week) are looked up in the school's
data. demographics.csv is never opened.

No row is left out without a word: a row with a problem the import can do without (a
user with a role passline does not import, an enrollment in a class the files do not
hold or of a user left out) is a row warning by file, row and column; rows left out by
design (other schools' rows, rows marked for deletion, classes of other terms) are
counted in one warning per file and reason, naming their first rows.

The reading is split in rooms of one sitting each: this module holds the reader itself
(which files, which org, delta or bulk, the left-out counts) and the order of the steps;
oneroster_users.py reads users (and roles, oneroster_roles.py), oneroster_guardians.py
reads the parents, guardians and relatives among them and links them to the students
they are agents of, oneroster_classes.py reads classes, terms and enrollments.
`OneRosterReader` is the one class the planner uses; the other modules are its mixins.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask_babel import gettext as _
from flask_babel import ngettext

from shared.roster.existing import Existing
from shared.roster.files import Bundle
from shared.roster.manifest import Manifest, read_manifest
from shared.roster.oneroster_classes import ClassRows
from shared.roster.oneroster_guardians import GuardianRows
from shared.roster.oneroster_users import UserRows
from shared.roster.results import Plan, RowError
from shared.roster.rows import Roster, Row, Table, oneroster_deleted, read_table

#: Rows named in a warning that counts rows left out by design.
LEFT_OUT_ROWS_NAMED = 10


class _Users(dict):
    """users.csv sourcedId -> what the user became; a district export's users of the other
    schools read as skipped users (without copying the district's users for every school)."""

    def __init__(self, elsewhere: dict[str, int]) -> None:
        super().__init__()
        self.elsewhere = elsewhere

    def __missing__(self, sourced_id: str) -> tuple[str, str]:
        return ("skip", str(self.elsewhere[sourced_id]))

    def get(self, sourced_id, default=None):
        found = dict.get(self, sourced_id)
        if found is None and sourced_id in self.elsewhere:
            return ("skip", str(self.elsewhere[sourced_id]))
        return default if found is None else found

    def __contains__(self, sourced_id: object) -> bool:
        return dict.__contains__(self, sourced_id) or sourced_id in self.elsewhere


class OneRosterReader(UserRows, GuardianRows, ClassRows):
    """Turns the OneRoster files into a Roster for the chosen school org."""

    def __init__(
        self,
        bundle: Bundle,
        plan: Plan,
        today: date,
        org_sourced_id: str | None,
        existing: Existing | None = None,
    ) -> None:
        self.bundle = bundle
        self.plan = plan
        self.today = today
        self.wanted_org = org_sourced_id or plan.school.sourced_id
        self.existing = existing or Existing(plan.school.id)
        self.manifest = Manifest()
        self.roster = Roster()
        #: users.csv sourcedId -> ("student", number) / ("staff", email) / ("skip", line);
        #: a district import's school starts with the users of the other schools, skipped.
        self.users: dict[str, tuple[str, str]] = (
            _Users(bundle.elsewhere) if bundle.elsewhere else {}
        )
        #: classes.csv sourcedIds of the school's classes left out (other terms, deleted).
        self.left_out_classes: set[str] = set()
        #: Every sourcedId in classes.csv.
        self.all_classes: set[str] = set()
        #: (file, reason) -> [how many rows, the first rows] left out by design, for one
        #: counting warning each (only the first are kept: a district has many).
        self.left_out: dict[tuple[str, str], list[Any]] = {}

    def table(self, name: str, required: tuple[str, ...]) -> Table | None:
        if name not in self.bundle.files or self.manifest.mode(name) == "absent":
            return None
        return read_table(self.bundle, name, required, self.plan.errors)

    def has(self, name: str) -> bool:
        """Whether the export holds this file (one the manifest calls absent is ignored)."""
        return name in self.bundle.files and self.manifest.mode(name) != "absent"

    def delta(self, name: str) -> bool:
        return self.manifest.is_delta(name) and name in self.bundle.files

    def read(self) -> Roster:
        manifest = read_manifest(self.bundle, self.plan)
        if manifest is None:
            return self.roster
        self.manifest = manifest
        if "demographics.csv" in self.bundle.files:
            self.plan.warnings.append(
                _("demographics.csv is not read: passline keeps no demographic data.")
            )
        org = self.choose_org()
        if org is None:
            return self.roster
        if self.delta("users.csv") or (manifest.version == "1.2" and self.delta("roles.csv")):
            self.roster.delta |= {"staff", "students"}
        if self.delta("classes.csv"):
            self.roster.delta.add("classes")
        if self.delta("enrollments.csv"):
            self.roster.delta.add("enrollments")
        if manifest.version == "1.2":
            self.read_users_12(org)
        else:
            self.read_users(org)
        class_rows = self.table("classes.csv", ("sourcedId", "title", "schoolSourcedId"))
        if class_rows is not None:
            self.read_classes(class_rows, org)
            self.read_enrollments()
        elif "enrollments" in self.roster.delta:
            self.read_enrollments()
        elif self.has("enrollments.csv"):
            self.plan.warnings.append(
                _("enrollments.csv is left out: without classes.csv its classes are unknown.")
            )
        self.count_left_out()
        return self.roster

    def warn(self, row: Row, column: str | None, reason: str) -> None:
        """A row that is not imported, for a reason the admin should see (by row)."""
        self.plan.row_warnings.append(RowError(row.file, row.line, column, reason))

    def leave_out(self, row: Row, reason: str) -> None:
        """A row not imported by design (another school's, marked for deletion...)."""
        counted = self.left_out.setdefault((row.file, reason), [0, []])
        counted[0] += 1
        if len(counted[1]) < LEFT_OUT_ROWS_NAMED:
            counted[1].append(row.line)

    def count_left_out(self) -> None:
        for (file, reason), (count, lines) in self.left_out.items():
            named = ", ".join(str(line) for line in lines)
            if count > LEFT_OUT_ROWS_NAMED:
                named = _("%(rows)s and %(num)d more", rows=named, num=count - LEFT_OUT_ROWS_NAMED)
            self.plan.warnings.append(
                ngettext(
                    "%(file)s: %(num)d row left out, %(reason)s (row %(rows)s).",
                    "%(file)s: %(num)d rows left out, %(reason)s (rows %(rows)s).",
                    count,
                    file=file,
                    reason=reason,
                    rows=named,
                )
            )

    def choose_org(self) -> str | None:
        rows = self.table("orgs.csv", ("sourcedId", "name", "type"))
        if rows is None:
            if self.has("orgs.csv"):
                return None  # unreadable: its errors are in the plan
            if self.wanted_org:
                # A delta export without orgs.csv: the school's stored org (or --org).
                return self.wanted_org
            if self.has("users.csv") or self.has("roles.csv"):
                self.plan.errors.append(
                    RowError(
                        "orgs.csv",
                        None,
                        None,
                        _(
                            "the export has no orgs.csv and this school is not linked to a "
                            "OneRoster org yet: import a bulk export first, or give the org "
                            "(flask roster import --org SOURCEDID)"
                        ),
                    )
                )
            return None
        schools = [
            r for r in rows if r.get("type").lower() == "school" and not oneroster_deleted(r)
        ]
        chosen = [r for r in rows if self.wanted_org and r.get("sourcedId") == self.wanted_org]
        if not chosen and self.wanted_org and self.manifest.is_delta("orgs.csv"):
            return self.wanted_org
        if chosen or len(schools) == 1:
            org = (chosen or schools)[0]
            if org.get("sourcedId") != self.plan.school.sourced_id:
                # Said by the preview (Plan.link_line) and done by apply_import only.
                self.plan.school_sourced_id = org.get("sourcedId")
                self.plan.school_org_name = org.get("name")
            return org.get("sourcedId")
        found = ", ".join(f"{r.get('name')} ({r.get('sourcedId')})" for r in schools) or _("none")
        self.plan.errors.append(
            RowError(
                "orgs.csv",
                None,
                "sourcedId",
                _(
                    "cannot tell which school org is this school; school orgs found: %(found)s. "
                    "Set the school's OneRoster sourcedId (flask roster import --org SOURCEDID).",
                    found=found,
                ),
            )
        )
        return None

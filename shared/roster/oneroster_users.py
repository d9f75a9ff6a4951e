"""OneRoster users: users.csv (1.1 and 1.2) into the Roster's students and staff.

Its own room because users are the largest part of a OneRoster export and the one that
differs most between the versions: 1.1 gives each user's role and orgs in users.csv, 1.2
takes them from roles.csv (oneroster_roles.py). This module turns each users.csv row into
a student, a staff account, or a row left out with a reason, and records which passline
record each user sourcedId became (`users`), which enrollments (oneroster_classes.py)
look up. It is a mixin of `OneRosterReader` (oneroster.py), whose `table`, `delta`,
`warn` and `leave_out` it uses.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from flask_babel import gettext as _
from sqlalchemy import select

from shared.extensions import db
from shared.models import Student, User
from shared.roster.oneroster_roles import (
    ONEROSTER_ROLES,
    RoleRows,
    not_imported_reason,
    read_roles,
)
from shared.roster.results import RowError
from shared.roster.rows import (
    Cells,
    Row,
    StaffRecord,
    StudentRecord,
    column_limit,
    oneroster_deleted,
    oneroster_grade,
    split_cell,
)


class UserRows:
    """Reading users.csv (and, in 1.2, roles.csv): mixed into `OneRosterReader`."""

    def start_users(self, rows: Iterable[Row]) -> Iterator[tuple[Cells, str]]:
        """Each users.csv row with its sourcedId, as it is read (a district's users are
        never all held); a sourcedId seen twice is an error."""
        self.plan.present += ["staff", "students"]
        self.roster.staff, self.roster.students = {}, {}
        self.start_guardians()
        sourced_rows: dict[str, int] = {}
        for row in rows:
            cells = Cells(row, self.plan.errors)
            sourced_id = cells.text("sourcedId", column_limit(User.sourced_id))
            if sourced_id is None:
                continue
            if sourced_id in sourced_rows:
                cells.fail(
                    "sourcedId",
                    _(
                        "%(value)s is already on row %(row)d",
                        value=repr(sourced_id),
                        row=sourced_rows[sourced_id],
                    ),
                )
                continue
            sourced_rows[sourced_id] = row.line
            self.users[sourced_id] = ("skip", str(row.line))
            yield cells, sourced_id

    def useroneroster_deleted(self, row: Row, sourced_id: str) -> None:
        """A user marked for deletion or disabled: left out, and in a delta, deactivated."""
        if self.delta("users.csv") and sourced_id in self.existing.students_by_sourced_id:
            self.roster.removed_students[sourced_id] = (row.file, row.line)
        elif self.guardian_deleted(row, sourced_id):
            pass  # a stored guardian: removed (oneroster_guardians.py)
        elif self.delta("users.csv"):
            self.leave_out(
                row, _("users marked for deletion that are not students (staff are kept)")
            )
        else:
            self.leave_out(row, _("users marked for deletion or disabled"))

    def read_users(self, org: str) -> None:
        """OneRoster 1.1: each user's role and orgs are in users.csv."""
        rows = self.table(
            "users.csv", ("sourcedId", "orgSourcedIds", "role", "givenName", "familyName")
        )
        if rows is None:
            return
        for cells, sourced_id in self.start_users(rows):
            row = cells.row
            role = cells.get("role").lower()
            mapped = ONEROSTER_ROLES.get(role)
            if mapped == "guardian" and oneroster_deleted(row):
                self.user_deleted(row, sourced_id)
            elif mapped == "guardian":
                # Of any org: what ties a guardian to the school is being a student's agent.
                self.read_guardian(cells, sourced_id, role)
            elif org not in split_cell(cells.get("orgSourcedIds")):
                self.leave_out(row, _("users of other orgs"))
            elif oneroster_deleted(row):
                self.useroneroster_deleted(row, sourced_id)
            elif mapped == "student":
                self.read_student(cells, sourced_id)
            elif mapped is not None:
                self.read_staff(cells, sourced_id, mapped)
            elif role in ONEROSTER_ROLES:
                self.leave_out(
                    row,
                    _("role %(role)s (passline imports students, staff and guardians)", role=role),
                )
            else:
                self.warn(row, "role", not_imported_reason(cells.get("role")))
        self.link_guardians()

    def read_users_12(self, org: str) -> None:
        """OneRoster 1.2: roles come from roles.csv, by user and org."""
        roles = read_roles(self, org)
        rows = self.table("users.csv", ("sourcedId", "givenName", "familyName"))
        if rows is None:
            if roles:
                self.plan.present += ["staff"]
                self.roster.staff = {}
                self.roles_of_unlisted_users(roles, set())
            return
        listed = set()
        for cells, sourced_id in self.start_users(rows):
            listed.add(sourced_id)
            row = cells.row
            mine = (roles or {}).get(sourced_id)
            if oneroster_deleted(row):
                self.useroneroster_deleted(row, sourced_id)
            elif mine is None:
                self.user_without_role(cells, sourced_id, roles is None)
            elif mine.student:
                self.read_student(cells, sourced_id)
                for role, where in mine.roles.items():
                    if role != "student":
                        self.plan.row_warnings.append(
                            RowError(
                                *where,
                                "role",
                                _("this user is a student at the school; not imported as staff"),
                            )
                        )
            else:
                # A guardian role makes a guardian, never an account; a staff role at the
                # school too (a teacher whose child is a student there) makes both.
                if mine.guardian_role is not None:
                    self.read_guardian(cells, sourced_id, mine.guardian_role)
                if mine.best() is not None:
                    self.read_staff(cells, sourced_id, mine.best())
        self.roles_of_unlisted_users(roles or {}, listed)
        self.link_guardians()

    def user_without_role(self, cells: Cells, sourced_id: str, no_roles_file: bool) -> None:
        """A 1.2 user with no role at the school today: in a delta, maybe one we know."""
        row = cells.row
        if "students" in self.roster.delta:
            student = self.existing.students_by_sourced_id.get(sourced_id)
            if student is not None:
                self.read_student(cells, sourced_id)
                return
            user = self.account(sourced_id)
            if user is not None and user.email.lower() == cells.get("email").strip().lower():
                self.read_staff(cells, sourced_id, None)
                return
            guardian = self.existing.guardians_by_sourced_id.get(sourced_id)
            if guardian is not None:
                # A stored guardian's new details; the word only fills a blank relationship.
                self.read_guardian(cells, sourced_id, guardian.relationship or "guardian")
                return
        if no_roles_file:
            self.warn(row, None, _("there is no roles.csv, so this user's role is unknown"))
        else:
            self.leave_out(row, _("users without a role at this school today"))

    def roles_of_unlisted_users(self, roles: dict[str, RoleRows], listed: set[str]) -> None:
        """roles.csv rows of users not in users.csv: known accounts (a delta), else errors."""
        for sourced_id, mine in roles.items():
            if sourced_id in listed:
                continue
            user = self.account(sourced_id) if "staff" in self.roster.delta else None
            student = self.existing.students_by_sourced_id.get(sourced_id)
            first = mine.first
            assert first is not None
            if mine.best() is None and not mine.student and mine.guardian_role is not None:
                if sourced_id not in self.existing.guardians_by_sourced_id:
                    self.warn(
                        first,
                        "userSourcedId",
                        _(
                            "the guardian %(value)s is not in users.csv, so they are not imported",
                            value=repr(sourced_id),
                        ),
                    )
            elif user is not None and not mine.student and self.roster.staff is not None:
                email = user.email.lower()
                role = mine.best() or "staff"
                self.roster.staff.setdefault(
                    email,
                    StaffRecord(
                        email, user.name, frozenset({role}), None, (first.file, first.line)
                    ),
                )
                self.users[sourced_id] = ("staff", email)
            elif student is not None and "students" in self.roster.delta:
                self.users[sourced_id] = ("student", student.student_number)
            else:
                self.plan.errors.append(
                    RowError(
                        first.file,
                        first.line,
                        "userSourcedId",
                        _("%(value)s is not in users.csv", value=repr(sourced_id)),
                    )
                )

    def account(self, sourced_id: str) -> User | None:
        """The staff account with this SIS id (for delta rows that do not list the user)."""
        return db.session.scalar(select(User).where(User.sourced_id == sourced_id))

    def read_student(self, cells: Cells, sourced_id: str) -> None:
        students = self.roster.students
        assert students is not None
        column = next(
            (c for c in ("identifier", "userMasterIdentifier") if cells.get(c)), "username"
        )
        number = cells.text(column, column_limit(Student.student_number))
        if number is None:
            return
        first = cells.text("givenName", column_limit(Student.first_name))
        last = cells.text("familyName", column_limit(Student.last_name))
        preferred_column = (
            "preferredGivenName" if cells.get("preferredGivenName") else "preferredFirstName"
        )
        preferred = cells.text(
            preferred_column, column_limit(Student.preferred_name), required=False
        )
        preferred_family = cells.get("preferredFamilyName")
        if preferred_family and preferred_family != last:
            self.warn(
                cells.row,
                "preferredFamilyName",
                _(
                    "the preferred family name %(name)s is not stored: passline keeps one "
                    "family name per student (familyName)",
                    name=repr(preferred_family),
                ),
            )
        grades = split_cell(cells.get("grades"))
        known, grade = oneroster_grade(grades[0] if grades else "")
        if not known:
            cells.fail(
                "grades", _("%(value)s is not a OneRoster grade code", value=repr(grades[0]))
            )
        if number in students:
            cells.fail(
                column,
                _(
                    "student number %(number)s is already on row %(row)d",
                    number=repr(number),
                    row=students[number].where[1],
                ),
            )
        if not cells.ok:
            return
        students[number] = StudentRecord(
            number, first, last, preferred, grade, sourced_id, cells.where
        )
        self.users[sourced_id] = ("student", number)
        self.note_agents(cells, sourced_id)

    def read_staff(self, cells: Cells, sourced_id: str, role: str | None) -> None:
        """A staff account; `role` None (a delta naming a known account) adds no role."""
        staff = self.roster.staff
        assert staff is not None
        email = cells.email("email", cells.get("email"))
        given = cells.get("preferredGivenName") or cells.get("givenName")
        family = cells.get("preferredFamilyName") or cells.get("familyName")
        name = f"{given} {family}".strip()
        if not name or len(name) > column_limit(User.name):
            cells.fail(
                "givenName",
                _("the name must have 1 to %(num)d characters", num=column_limit(User.name)),
            )
        if email in staff:
            cells.fail(
                "email",
                _(
                    "%(value)s is already on row %(row)d",
                    value=repr(email),
                    row=staff[email].where[1],
                ),
            )
        if not cells.ok:
            return
        roles = frozenset({role}) if role else frozenset()
        staff[email] = StaffRecord(email, name, roles, sourced_id, cells.where)
        self.users[sourced_id] = ("staff", email)

"""The OneRoster v1.1 CSV format, read into a `Roster` for one school org.

`OneRosterReader` picks the school's org in orgs.csv (by the school's stored sourcedId,
the one given, or the only school org), reads its students and staff from users.csv, its
classes of the current term from classes.csv and academicSessions.csv, and the class
members from enrollments.csv. Rows marked for deletion and disabled users are skipped.

No row is left out without a word: a row with a problem the import can do without (a
user with a role passline does not import, an enrollment in a class the files do not
hold or of a user left out) is a row warning by file, row and column; rows left out by
design (other schools' rows, rows marked for deletion, classes of other terms) are
counted in one warning per file and reason, naming their first rows.
"""

from __future__ import annotations

from datetime import date

from shared.models import Room, SchoolClass, Student, User
from shared.roster.files import Bundle
from shared.roster.results import Plan, RowError
from shared.roster.rows import (
    Cells,
    ClassRecord,
    Roster,
    Row,
    StaffRecord,
    StudentRecord,
    Where,
    column_limit,
    oneroster_grade,
    parse_cell_date,
    read_table,
    split_cell,
)

#: OneRoster staff roles and the passline role each one gets.
ONEROSTER_STAFF_ROLES = {"teacher": "teacher", "administrator": "staff", "aide": "staff"}
#: OneRoster v1.1 roles passline knows and does not import from users.csv.
ONEROSTER_OTHER_ROLES = ("guardian", "parent", "relative", "proctor")
#: Rows named in a warning that counts rows left out by design.
LEFT_OUT_ROWS_NAMED = 10


def _deleted(row: Row) -> bool:
    """A OneRoster row marked for deletion (or a disabled user)."""
    return (
        row.get("status").lower() in ("tobedeleted", "inactive")
        or row.get("enabledUser").lower() == "false"
    )


class OneRosterReader:
    """Turns the OneRoster files into a Roster for the chosen school org."""

    def __init__(self, bundle: Bundle, plan: Plan, today: date, org_sourced_id: str | None) -> None:
        self.bundle = bundle
        self.plan = plan
        self.today = today
        self.wanted_org = org_sourced_id or plan.school.sourced_id
        self.roster = Roster()
        #: users.csv sourcedId -> ("student", number) / ("staff", email) / ("skip", line).
        self.users: dict[str, tuple[str, str]] = {}
        #: classes.csv sourcedIds of the school's classes left out (other terms, deleted).
        self.left_out_classes: set[str] = set()
        #: Every sourcedId in classes.csv.
        self.all_classes: set[str] = set()
        #: (file, reason) -> rows left out by design, for one counting warning each.
        self.left_out: dict[tuple[str, str], list[int]] = {}

    def table(self, name: str, required: tuple[str, ...]) -> list[Row] | None:
        if name not in self.bundle.files:
            return None
        return read_table(self.bundle, name, required, self.plan.errors)

    def read(self) -> Roster:
        self.check_manifest()
        org = self.choose_org()
        if org is None:
            return self.roster
        self.read_users(org)
        class_rows = self.table("classes.csv", ("sourcedId", "title", "schoolSourcedId"))
        if class_rows is not None:
            self.read_classes(class_rows, org)
            self.read_enrollments()
        elif "enrollments.csv" in self.bundle.files:
            self.plan.warnings.append(
                "enrollments.csv is left out: without classes.csv its classes are unknown."
            )
        self.count_left_out()
        return self.roster

    def warn(self, row: Row, column: str | None, reason: str) -> None:
        """A row that is not imported, for a reason the admin should see (by row)."""
        self.plan.row_warnings.append(RowError(row.file, row.line, column, reason))

    def leave_out(self, row: Row, reason: str) -> None:
        """A row not imported by design (another school's, marked for deletion...)."""
        self.left_out.setdefault((row.file, reason), []).append(row.line)

    def count_left_out(self) -> None:
        for (file, reason), lines in self.left_out.items():
            named = ", ".join(str(line) for line in lines[:LEFT_OUT_ROWS_NAMED])
            more = (
                f" and {len(lines) - LEFT_OUT_ROWS_NAMED} more"
                if len(lines) > LEFT_OUT_ROWS_NAMED
                else ""
            )
            noun = "row" if len(lines) == 1 else "rows"
            self.plan.warnings.append(
                f"{file}: {len(lines)} {noun} left out, {reason} ({noun} {named}{more})."
            )

    def check_manifest(self) -> None:
        rows = self.table("manifest.csv", ("propertyName", "value")) or []
        for row in rows:
            version = row.get("value")
            if row.get("propertyName") == "oneroster.version" and version not in ("1.0", "1.1"):
                self.plan.warnings.append(
                    f"manifest.csv says OneRoster version {version}; passline reads version 1.1."
                )

    def choose_org(self) -> str | None:
        rows = self.table("orgs.csv", ("sourcedId", "name", "type"))
        if rows is None:
            return None
        schools = [r for r in rows if r.get("type").lower() == "school" and not _deleted(r)]
        chosen = [r for r in rows if self.wanted_org and r.get("sourcedId") == self.wanted_org]
        if chosen or len(schools) == 1:
            org = (chosen or schools)[0]
            if org.get("sourcedId") != self.plan.school.sourced_id:
                # Said by the preview (Plan.link_line) and done by apply_import only.
                self.plan.school_sourced_id = org.get("sourcedId")
                self.plan.school_org_name = org.get("name")
            return org.get("sourcedId")
        found = ", ".join(f"{r.get('name')} ({r.get('sourcedId')})" for r in schools) or "none"
        self.plan.errors.append(
            RowError(
                "orgs.csv",
                None,
                "sourcedId",
                f"cannot tell which school org is this school; school orgs found: {found}. "
                "Set the school's OneRoster sourcedId (flask roster import --org SOURCEDID).",
            )
        )
        return None

    def read_users(self, org: str) -> None:
        rows = self.table(
            "users.csv", ("sourcedId", "orgSourcedIds", "role", "givenName", "familyName")
        )
        if rows is None:
            return
        self.plan.present += ["staff", "students"]
        staff: dict[str, StaffRecord] = {}
        students: dict[str, StudentRecord] = {}
        sourced_rows: dict[str, int] = {}
        for row in rows:
            cells = Cells(row, self.plan.errors)
            sourced_id = cells.text("sourcedId", column_limit(User.sourced_id))
            if sourced_id is None:
                continue
            if sourced_id in sourced_rows:
                cells.fail(
                    "sourcedId", f"{sourced_id!r} is already on row {sourced_rows[sourced_id]}"
                )
                continue
            sourced_rows[sourced_id] = row.line
            self.users[sourced_id] = ("skip", str(row.line))
            role = cells.get("role").lower()
            if org not in split_cell(cells.get("orgSourcedIds")):
                self.leave_out(row, "users of other orgs")
            elif _deleted(cells.row):
                self.leave_out(row, "users marked for deletion or disabled")
            elif role == "student":
                self.read_student(cells, sourced_id, students)
            elif role in ONEROSTER_STAFF_ROLES:
                self.read_staff(cells, sourced_id, ONEROSTER_STAFF_ROLES[role], staff)
            elif role in ONEROSTER_OTHER_ROLES:
                self.leave_out(row, f"role {role} (passline imports students and staff)")
            else:
                self.warn(
                    row,
                    "role",
                    f"unknown role {cells.get('role')!r}: this user is not imported "
                    "(OneRoster roles: student, teacher, administrator, aide)",
                )
        self.roster.staff = staff
        self.roster.students = students

    def read_student(
        self, cells: Cells, sourced_id: str, students: dict[str, StudentRecord]
    ) -> None:
        column = "identifier" if cells.get("identifier") else "username"
        number = cells.text(column, column_limit(Student.student_number))
        if number is None:
            return
        first = cells.text("givenName", column_limit(Student.first_name))
        last = cells.text("familyName", column_limit(Student.last_name))
        preferred = cells.text(
            "preferredFirstName", column_limit(Student.preferred_name), required=False
        )
        grades = split_cell(cells.get("grades"))
        known, grade = oneroster_grade(grades[0] if grades else "")
        if not known:
            cells.fail("grades", f"{grades[0]!r} is not a OneRoster grade code")
        if number in students:
            cells.fail(
                column, f"student number {number!r} is already on row {students[number].where[1]}"
            )
        if not cells.ok:
            return
        students[number] = StudentRecord(
            number, first, last, preferred, grade, sourced_id, cells.where
        )
        self.users[sourced_id] = ("student", number)

    def read_staff(
        self, cells: Cells, sourced_id: str, role: str, staff: dict[str, StaffRecord]
    ) -> None:
        email = cells.email("email", cells.get("email"))
        name = f"{cells.get('givenName')} {cells.get('familyName')}".strip()
        if not name or len(name) > column_limit(User.name):
            cells.fail("givenName", f"the name must have 1 to {column_limit(User.name)} characters")
        if email in staff:
            cells.fail("email", f"{email!r} is already on row {staff[email].where[1]}")
        if not cells.ok:
            return
        staff[email] = StaffRecord(email, name, frozenset({role}), sourced_id, cells.where)
        self.users[sourced_id] = ("staff", email)

    def current_terms(self) -> set[str] | None:
        """Sessions that cover today; None without academicSessions.csv."""
        rows = self.table("academicsessions.csv", ("sourcedId", "startDate", "endDate"))
        if rows is None:
            return None
        current = set()
        for row in rows:
            cells = Cells(row, self.plan.errors)
            try:
                start, end = (
                    parse_cell_date(row.get("startDate")),
                    parse_cell_date(row.get("endDate")),
                )
            except ValueError:
                cells.fail("startDate", "startDate and endDate must be dates like 2026-08-01")
                continue
            if start <= self.today <= end and not _deleted(cells.row):
                current.add(row.get("sourcedId"))
        return current

    def read_classes(self, rows: list[Row], org: str) -> None:
        self.plan.present.append("classes")
        current = self.current_terms()
        self.all_classes = {r.get("sourcedId") for r in rows}
        mine = []
        for row in rows:
            if row.get("schoolSourcedId") != org:
                self.leave_out(row, "classes of other schools")
            elif _deleted(row):
                self.leave_out(row, "classes marked for deletion")
            else:
                mine.append(row)
        in_term = [
            r for r in mine if current and current & set(split_cell(r.get("termSourcedIds")))
        ]
        if in_term:
            kept = {id(row) for row in in_term}
            for row in mine:
                if id(row) not in kept:
                    self.leave_out(
                        row, f"classes of terms that do not cover {self.today.isoformat()}"
                    )
            mine = in_term
        else:
            why = (
                "There is no academicSessions.csv"
                if current is None
                else f"No class has a term covering {self.today.isoformat()}"
            )
            self.plan.warnings.append(f"{why}; all {len(mine)} classes of the school are imported.")
        classes: dict[str, ClassRecord] = {}
        for row in mine:
            cells = Cells(row, self.plan.errors)
            key = cells.text("sourcedId", column_limit(SchoolClass.sourced_id))
            name = cells.text("title", column_limit(SchoolClass.name))
            room = cells.text("location", column_limit(Room.name), required=False)
            periods = split_cell(cells.get("periods"))
            period = periods[0] if periods else None
            if period is not None and len(period) > column_limit(SchoolClass.period):
                cells.fail("periods", f"longer than {column_limit(SchoolClass.period)} characters")
            if key in classes:
                cells.fail("sourcedId", f"{key!r} is already on row {classes[key].where[1]}")
            if cells.ok:
                classes[key] = ClassRecord(key, name, room, period, [], cells.where)
        self.roster.classes = classes
        self.left_out_classes = self.all_classes - set(classes)

    def read_enrollments(self) -> None:
        rows = self.table("enrollments.csv", ("classSourcedId", "userSourcedId", "role"))
        if rows is None:
            return
        self.plan.present.append("enrollments")
        enrollments: dict[tuple[str, str], Where] = {}
        classes = self.roster.classes or {}
        for row in rows:
            cells = Cells(row, self.plan.errors)
            class_id = row.get("classSourcedId")
            school_class = classes.get(class_id)
            if _deleted(cells.row):
                self.leave_out(row, "enrollments marked for deletion")
                continue
            if school_class is None:
                self.class_left_out(row, class_id)
                continue
            if self.ended(cells):
                self.leave_out(row, f"enrollments that ended before {self.today.isoformat()}")
                continue
            user = self.users.get(row.get("userSourcedId"))
            if user is None:
                cells.fail("userSourcedId", f"{row.get('userSourcedId')!r} is not in users.csv")
                continue
            kind, key = user
            role = row.get("role").lower()
            if kind == "skip":
                self.warn(
                    row,
                    "userSourcedId",
                    f"the user of users.csv row {key} is not imported, so neither is this "
                    f"enrollment in {school_class.name}",
                )
            elif role == "student" and kind == "student":
                enrollments.setdefault((school_class.key, key), cells.where)
            elif role == "teacher" and kind == "staff":
                if key not in school_class.teacher_emails:
                    school_class.teacher_emails.append(key)
            elif role == "student" and kind == "staff":
                cells.fail("role", "this user is staff, not a student")
            else:
                self.warn(
                    row,
                    "role",
                    f"a {kind} enrolled as {row.get('role') or 'no role'!r}: only students "
                    "(role student) and teachers (role teacher) of a class are imported",
                )
        self.roster.enrollments = enrollments

    def class_left_out(self, row: Row, class_id: str) -> None:
        """An enrollment in a class that is not imported: by design, or an unknown class."""
        if class_id in self.left_out_classes:
            self.leave_out(row, "enrollments in classes left out")
        else:
            self.warn(row, "classSourcedId", f"unknown class {class_id!r}: not in classes.csv")

    def ended(self, cells: Cells) -> bool:
        if not cells.get("endDate"):
            return False
        try:
            return parse_cell_date(cells.get("endDate")) < self.today
        except ValueError:
            cells.fail("endDate", "endDate must be a date like 2027-06-30")
            return True

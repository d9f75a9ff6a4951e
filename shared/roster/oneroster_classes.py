"""OneRoster classes: classes.csv, academicSessions.csv and enrollments.csv.

Its own room because classes and their members follow rules of their own that users do
not share: only classes of a term covering the import day count, a delta enrollment may
name a class or a user the files do not list (one the school already has), and a bulk
enrollments.csv gives every teacher of a class while a delta one gives changes. It is a
mixin of `OneRosterReader` (oneroster.py), whose `table`, `warn` and `leave_out` it uses,
and it looks users up in what oneroster_users.py read (`users`, `account`).
"""

from __future__ import annotations

from collections.abc import Iterable

from flask_babel import gettext as _
from flask_babel import ngettext

from shared.models import Room, SchoolClass
from shared.roster.rows import (
    Cells,
    ClassRecord,
    Row,
    Where,
    column_limit,
    oneroster_deleted,
    parse_cell_date,
    split_cell,
)


class ClassRows:
    """Reading classes, terms and enrollments: mixed into `OneRosterReader`."""

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
                cells.fail("startDate", _("startDate and endDate must be dates like 2026-08-01"))
                continue
            if start <= self.today <= end and not oneroster_deleted(cells.row):
                current.add(row.get("sourcedId"))
        return current

    def read_classes(self, rows: Iterable[Row], org: str) -> None:
        self.plan.present.append("classes")
        current = self.current_terms()
        self.all_classes = {r.get("sourcedId") for r in rows}
        delta = "classes" in self.roster.delta
        mine = []
        for row in rows:
            if row.get("schoolSourcedId") != org:
                self.leave_out(row, _("classes of other schools"))
            elif oneroster_deleted(row) and delta:
                self.roster.removed_classes[row.get("sourcedId")] = (row.file, row.line)
            elif oneroster_deleted(row):
                self.leave_out(row, _("classes marked for deletion"))
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
                        row,
                        _(
                            "classes of terms that do not cover %(day)s",
                            day=self.today.isoformat(),
                        ),
                    )
            mine = in_term
        elif mine:
            if current is None:
                warning = ngettext(
                    "There is no academicSessions.csv; the %(num)d class of the school is "
                    "imported.",
                    "There is no academicSessions.csv; all %(num)d classes of the school are "
                    "imported.",
                    len(mine),
                )
            else:
                warning = ngettext(
                    "No class has a term covering %(day)s; the %(num)d class of the school is "
                    "imported.",
                    "No class has a term covering %(day)s; all %(num)d classes of the school "
                    "are imported.",
                    len(mine),
                    day=self.today.isoformat(),
                )
            self.plan.warnings.append(warning)
        classes: dict[str, ClassRecord] = {}
        for row in mine:
            cells = Cells(row, self.plan.errors)
            key = cells.text("sourcedId", column_limit(SchoolClass.sourced_id))
            name = cells.text("title", column_limit(SchoolClass.name))
            room = cells.text("location", column_limit(Room.name), required=False)
            periods = split_cell(cells.get("periods"))
            period = periods[0] if periods else None
            if period is not None and len(period) > column_limit(SchoolClass.period):
                cells.fail(
                    "periods",
                    _("longer than %(num)d characters", num=column_limit(SchoolClass.period)),
                )
            if key in classes:
                cells.fail(
                    "sourcedId",
                    _(
                        "%(value)s is already on row %(row)d",
                        value=repr(key),
                        row=classes[key].where[1],
                    ),
                )
            if cells.ok:
                teachers = self.kept_teachers(key)
                classes[key] = ClassRecord(key, name, room, period, teachers, cells.where)
        self.roster.classes = classes
        self.left_out_classes = self.all_classes - set(classes)

    def kept_teachers(self, key: str) -> list[str]:
        """A class's teachers before enrollments.csv is read: none, unless it is not bulk.

        A bulk enrollments.csv lists every teacher of a class; a delta one (or none at all
        with a delta classes.csv) lists changes, so the class keeps the teachers it has.
        """
        if "enrollments" not in self.roster.delta and (
            "classes" not in self.roster.delta or self.has("enrollments.csv")
        ):
            return []
        school_class = self.existing.classes.get(key)
        return [t.email.lower() for t in school_class.teachers] if school_class else []

    # enrollments ----------------------------------------------------------

    def known_class(self, class_id: str) -> ClassRecord | None:
        """A delta enrollment's class that classes.csv does not list: the school's own."""
        if "classes" not in self.roster.delta and self.roster.classes is not None:
            return None
        school_class = self.existing.classes.get(class_id)
        if school_class is None or not school_class.active:
            return None
        record = ClassRecord(
            class_id,
            school_class.name,
            school_class.room.name if school_class.room else None,
            school_class.period,
            self.kept_teachers(class_id),
            ("enrollments.csv", 0),
        )
        if self.roster.classes is None:
            self.roster.classes = {}
            self.roster.delta.add("classes")
        self.roster.classes[class_id] = record
        return record

    def known_user(self, sourced_id: str, *, deleted: bool = False) -> tuple[str, str] | None:
        """A user of users.csv, else (delta) the school's student or account with that id.

        A delta enrollment marked for deletion looks in the school's students first: its
        student is often one the same delta deactivates (so users.csv skips them).
        """
        user = self.users.get(sourced_id)
        delta = "enrollments" in self.roster.delta
        if not delta or (user is not None and not (deleted and user[0] == "skip")):
            return user
        student = self.existing.students_by_sourced_id.get(sourced_id)
        if student is not None:
            return ("student", student.student_number)
        account = self.account(sourced_id)
        return ("staff", account.email.lower()) if account is not None else user

    def read_enrollments(self) -> None:
        rows = self.table("enrollments.csv", ("classSourcedId", "userSourcedId", "role"))
        if rows is None:
            return
        self.plan.present.append("enrollments")
        delta = "enrollments" in self.roster.delta
        enrollments: dict[tuple[str, str], Where] = {}
        for row in rows:
            cells = Cells(row, self.plan.errors)
            class_id = row.get("classSourcedId")
            school_class = (self.roster.classes or {}).get(class_id)
            if school_class is None and delta:
                school_class = self.known_class(class_id)
            if oneroster_deleted(cells.row) and not delta:
                self.leave_out(row, _("enrollments marked for deletion"))
                continue
            if school_class is None:
                self.class_left_out(row, class_id)
                continue
            if self.ended(cells):
                self.leave_out(
                    row,
                    _("enrollments that ended before %(day)s", day=self.today.isoformat()),
                )
                continue
            user = self.known_user(row.get("userSourcedId"), deleted=oneroster_deleted(cells.row))
            if user is None:
                cells.fail(
                    "userSourcedId",
                    _("%(value)s is not in users.csv", value=repr(row.get("userSourcedId"))),
                )
                continue
            kind, key = user
            role = row.get("role").lower()
            if kind == "skip":
                self.warn(
                    row,
                    "userSourcedId",
                    _(
                        "the user of users.csv row %(row)s is not imported, so neither is this "
                        "enrollment in %(name)s",
                        row=key,
                        name=school_class.name,
                    ),
                )
            elif oneroster_deleted(cells.row):
                self.remove_enrollment(row, school_class, kind, key, role)
            elif role == "student" and kind == "student":
                enrollments.setdefault((school_class.key, key), cells.where)
            elif role == "teacher" and kind == "staff":
                if key not in school_class.teacher_emails:
                    school_class.teacher_emails.append(key)
            elif role == "student" and kind == "staff":
                cells.fail("role", _("this user is staff, not a student"))
            else:
                self.warn(
                    row,
                    "role",
                    _(
                        "a %(kind)s enrolled as %(role)s: only students (role student) and "
                        "teachers (role teacher) of a class are imported",
                        kind=kind,
                        role=repr(row.get("role") or "no role"),
                    ),
                )
        self.roster.enrollments = enrollments

    def remove_enrollment(
        self, row: Row, school_class: ClassRecord, kind: str, key: str, role: str
    ) -> None:
        """A delta enrollment marked for deletion: the student leaves, the teacher too."""
        if role == "student" and kind == "student":
            self.roster.removed_enrollments[(school_class.key, key)] = (row.file, row.line)
        elif role == "teacher" and kind == "staff":
            if key in school_class.teacher_emails:
                school_class.teacher_emails.remove(key)
        else:
            self.leave_out(row, _("enrollments marked for deletion"))

    def class_left_out(self, row: Row, class_id: str) -> None:
        """An enrollment in a class that is not imported: by design, or an unknown class."""
        if class_id in self.left_out_classes or class_id in self.roster.removed_classes:
            self.leave_out(row, _("enrollments in classes left out"))
        else:
            self.warn(
                row,
                "classSourcedId",
                _("unknown class %(value)s: not in classes.csv", value=repr(class_id)),
            )

    def ended(self, cells: Cells) -> bool:
        if not cells.get("endDate"):
            return False
        try:
            return parse_cell_date(cells.get("endDate")) < self.today
        except ValueError:
            cells.fail("endDate", _("endDate must be a date like 2027-06-30"))
            return True

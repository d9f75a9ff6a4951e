"""The dry run: `plan_import` checks a bundle against the school's data and returns a `Plan`.

`Existing` (existing.py) loads each kind of the school's rows once, on first use, into
dicts; `_Planner` matches the imported records to those rows by key (sourced id, student
number, email, class id, tag number) and fills the plan with what would be created,
changed, deactivated or removed, plus row errors and warnings. Nothing here writes.
One cohesive thing (one matching pass per kind of record, in the order the import
applies them), so it stays one module of about the usual size; how a change is worded
for the preview is in describe.py.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select

from shared.extensions import db
from shared.models import (
    WEEKDAYS,
    Family,
    School,
    Student,
    User,
)
from shared.roster.describe import class_summary, class_updates, describe, student_label
from shared.roster.existing import Existing
from shared.roster.files import Bundle
from shared.roster.guardians import plan_guardians
from shared.roster.oneroster import OneRosterReader
from shared.roster.passline_csv import parse_csv_bundle
from shared.roster.results import Change, KindChanges, Plan, RowError
from shared.roster.rows import (
    FamilyRecord,
    RoomRecord,
    Roster,
    StaffRecord,
    StudentRecord,
    Where,
)
from shared.schedule import school_today


def plan_import(
    school: School,
    bundle: Bundle,
    *,
    today: date | None = None,
    org_sourced_id: str | None = None,
    attach_accounts: bool = True,
) -> Plan:
    """Check a bundle against the school's data: what an import would do, and row errors.

    `attach_accounts=False` (a school admin's upload): an account that exists but has no
    role at this school is only invited, shown by its address, never renamed or given
    roles here (district IT's command line and district admins attach it directly).
    """
    today = today or school_today(school)
    plan = Plan(school=school, format="oneroster" if bundle.is_oneroster else "csv")
    if bundle.ignored:
        plan.warnings.append("Ignored (not part of a roster): " + ", ".join(bundle.ignored))
    if bundle.is_oneroster:
        roster = OneRosterReader(bundle, plan, today, org_sourced_id).read()
    else:
        roster = parse_csv_bundle(bundle, plan)
    _Planner(plan, roster, attach_accounts).run()
    return plan


class _Planner:
    """Compares a Roster with the school's rows and fills the plan with changes."""

    def __init__(self, plan: Plan, roster: Roster, attach_accounts: bool = True) -> None:
        self.plan = plan
        self.roster = roster
        self.attach_accounts = attach_accounts
        #: Emails of existing accounts of elsewhere that the import only invites.
        self.invited: set[str] = set()
        self.school = plan.school
        self.existing = Existing(plan.school.id)
        plan.existing = self.existing
        #: Student number -> existing student id, or None for a student to create.
        self.student_refs: dict[str, int | None] = {}
        #: Class id -> existing class id, or None for a class to create.
        self.class_refs: dict[str, int | None] = {}
        #: Room names (casefolded) that exist or will be created.
        self.room_names: set[str] = set()

    def changes(self, kind: str) -> KindChanges:
        return self.plan.kinds[kind]

    def error(self, where: Where, column: str | None, reason: str) -> None:
        self.plan.errors.append(RowError(where[0], where[1], column, reason))

    def run(self) -> None:
        self.check_school_link()
        if self.roster.staff is not None or self.roster.classes is not None:
            self.existing.load_accounts(self.roster.staff or ())
        self.plan_rooms()
        self.plan_staff()
        self.plan_students()
        self.plan_classes()
        self.plan_enrollments()
        self.plan_bell_schedule()
        self.plan_families()
        plan_guardians(self.plan, self.roster, self.existing.families)

    def check_school_link(self) -> None:
        sourced_id = self.plan.school_sourced_id
        if sourced_id is None:
            return
        other = db.session.scalar(
            select(School).where(School.sourced_id == sourced_id, School.id != self.school.id)
        )
        if other is not None:
            reason = f"this export is for {other.name} ({other.code}), not for {self.school.name}"
            self.plan.errors.append(RowError("orgs.csv", None, "sourcedId", reason))

    # rooms ----------------------------------------------------------------

    def plan_rooms(self) -> None:
        self.room_names = set(self.existing.rooms) if self.wants_rooms() else set()
        if self.roster.rooms is None:
            return
        for key, record in self.roster.rooms.items():
            self.room_names.add(key)
            room = self.existing.rooms.get(key)
            if room is None:
                self.changes("rooms").created.append(
                    Change(record.name, record.kind, record=record)
                )
                continue
            updates: dict[str, Any] = {}
            if room.kind != record.kind:
                updates["kind"] = record.kind
            if not room.active:
                updates["active"] = True
            if updates:
                self.changes("rooms").changed.append(
                    Change(room.name, describe(room, updates), target=room, updates=updates)
                )

    def wants_rooms(self) -> bool:
        return self.roster.rooms is not None or self.roster.classes is not None

    def room_for_class(self, name: str | None) -> None:
        """Plan a classroom for a class's room when no such room exists yet."""
        if name is None or name.casefold() in self.room_names:
            return
        self.room_names.add(name.casefold())
        self.changes("rooms").created.append(
            Change(name, "classroom, named by a class", record=RoomRecord(name, "classroom", None))
        )

    # staff ----------------------------------------------------------------

    def plan_staff(self) -> None:
        records = self.roster.staff
        if records is None:
            return
        owners = self.existing.user_sourced_ids(
            {r.sourced_id for r in records.values() if r.sourced_id}
        )
        for email, record in records.items():
            user = self.existing.accounts.get(email)
            sourced_id = self.staff_sourced_id(record, user, owners)
            if user is None:
                roles = ", ".join(sorted(record.roles))
                self.changes("staff").created.append(
                    Change(
                        f"{record.name} <{email}>",
                        f"{roles}; no password until an admin sets one",
                        record=record,
                        updates={"sourced_id": sourced_id},
                    )
                )
                continue
            if not self.attach_accounts and not any(
                m.school_id == self.school.id for m in user.memberships
            ):
                # Another school's account (or nobody's): nothing about it is shown here.
                self.invited.add(email)
                self.changes("staff").changed.append(
                    Change(
                        email,
                        "invited: joins once they accept or a district admin adds them",
                        target=user,
                        updates={"invite": sorted(record.roles)},
                    )
                )
                continue
            updates = self.staff_updates(user, record, sourced_id)
            if updates:
                self.changes("staff").changed.append(
                    Change(
                        f"{user.name} <{email}>",
                        describe(user, updates),
                        target=user,
                        updates=updates,
                    )
                )

    def staff_sourced_id(
        self, record: StaffRecord, user: User | None, owners: dict[str, int]
    ) -> str | None:
        """The SIS id to store on the account, if it is free and the account has none."""
        if record.sourced_id is None or (user is not None and user.sourced_id is not None):
            return None
        owner = owners.get(record.sourced_id)
        if owner is None:
            return record.sourced_id
        if user is None or owner != user.id:
            self.plan.warnings.append(
                f"The SIS id {record.sourced_id} of {record.email} belongs to another account; "
                "it is not stored."
            )
        return None

    def staff_updates(
        self, user: User, record: StaffRecord, sourced_id: str | None
    ) -> dict[str, Any]:
        held = {m.role for m in user.memberships if m.school_id == self.school.id}
        updates: dict[str, Any] = {}
        if record.roles - held:
            updates["roles"] = sorted(record.roles - held)
        only_here = all(m.school_id == self.school.id for m in user.memberships)
        if user.name != record.name and only_here and not user.is_district_admin:
            updates["name"] = record.name
        if sourced_id is not None:
            updates["sourced_id"] = sourced_id
        return updates

    # students -------------------------------------------------------------

    def plan_students(self) -> None:
        records = self.roster.students
        if records is None:
            if self.roster.enrollments is not None or self.roster.families is not None:
                self.student_refs = {
                    s.student_number: s.id for s in self.existing.students if s.active
                }
            return
        claimed: dict[int, StudentRecord] = {}
        for number, record in records.items():
            student, conflict = self.match_student(record, claimed)
            self.student_refs[number] = student.id if student else None
            if conflict:
                self.error(record.where, "student_number", f"{number!r} {conflict}")
                continue
            if student is None:
                grade = f"grade {record.grade}" if record.grade else ""
                self.changes("students").created.append(
                    Change(student_label(record), grade, record=record)
                )
                continue
            updates = {k: v for k, v in record.columns().items() if getattr(student, k) != v}
            if record.sourced_id is None:
                updates.pop("sourced_id", None)
            if not student.active:
                updates["active"] = True
            if updates:
                self.changes("students").changed.append(
                    Change(
                        student_label(record),
                        describe(student, updates),
                        target=student,
                        updates=updates,
                    )
                )
        for student in self.existing.students:
            if student.active and student.id not in claimed:
                self.changes("students").deactivated.append(
                    Change(
                        f"{student.first_name} {student.last_name} ({student.student_number})",
                        target=student,
                    )
                )

    def match_student(
        self, record: StudentRecord, claimed: dict[int, StudentRecord]
    ) -> tuple[Student | None, str | None]:
        """(existing student, None) for a row, by sourced id else number; or (None, conflict)."""
        by_number = self.existing.students_by_number.get(record.student_number)
        student = self.existing.students_by_sourced_id.get(record.sourced_id or "")
        if student is None and by_number is not None:
            if record.sourced_id and by_number.sourced_id not in (None, record.sourced_id):
                return None, f"belongs to another student (SIS id {by_number.sourced_id})"
            student = by_number
        elif student is not None and by_number not in (None, student):
            return None, "belongs to another student at this school"
        if student is not None and student.id in claimed:
            file, row = claimed[student.id].where
            return None, f"is the same student as {file} row {row}"
        if student is not None:
            claimed[student.id] = record
        return student, None

    # classes --------------------------------------------------------------

    def plan_classes(self) -> None:
        records = self.roster.classes
        if records is None:
            if self.roster.enrollments is not None:
                self.class_refs = {k: c.id for k, c in self.existing.classes.items() if c.active}
            return
        staff_emails = (set(self.roster.staff or ()) | set(self.existing.accounts)) - self.invited
        for key, record in records.items():
            school_class = self.existing.classes.get(key)
            self.class_refs[key] = school_class.id if school_class else None
            invited = [e for e in record.teacher_emails if e in self.invited]
            if invited:
                self.error(
                    record.where,
                    "teacher_emails",
                    "invited, not staff of this school until they accept (import the class "
                    f"again then): {', '.join(invited)}",
                )
                continue
            unknown = [e for e in record.teacher_emails if e not in staff_emails]
            if unknown:
                self.error(
                    record.where,
                    "teacher_emails",
                    f"not staff of this school and not in staff.csv: {', '.join(unknown)}",
                )
                continue
            self.room_for_class(record.room)
            if school_class is None:
                self.changes("classes").created.append(
                    Change(f"{record.name} ({key})", class_summary(record), record=record)
                )
                continue
            updates = class_updates(school_class, record)
            if updates:
                self.changes("classes").changed.append(
                    Change(
                        f"{record.name} ({key})",
                        describe(school_class, updates),
                        target=school_class,
                        updates=updates,
                    )
                )
        for key, school_class in self.existing.classes.items():
            if school_class.active and key not in records:
                self.changes("classes").deactivated.append(
                    Change(f"{school_class.name} ({key})", target=school_class)
                )

    # enrollments ----------------------------------------------------------

    def plan_enrollments(self) -> None:
        pairs = self.roster.enrollments
        if pairs is None:
            return
        keep: set[tuple[int, int]] = set()
        for (class_key, number), where in pairs.items():
            if class_key not in self.class_refs:
                self.error(where, "class_id", f"unknown class {class_key!r}")
                continue
            if number not in self.student_refs:
                self.error(where, "student_number", f"unknown student number {number!r}")
                continue
            class_id, student_id = self.class_refs[class_key], self.student_refs[number]
            if (class_id, student_id) in self.existing.enrollments:
                keep.add((class_id, student_id))
                continue
            label = f"{self.student_name(number)} in {self.class_name(class_key)}"
            self.changes("enrollments").created.append(Change(label, record=(class_key, number)))
        classes = {c.id: c for c in self.existing.classes.values()}
        students = {s.id: s for s in self.existing.students}
        for pair, enrollment_id in self.existing.enrollments.items():
            if pair not in keep:
                student, school_class = students[pair[1]], classes[pair[0]]
                label = (
                    f"{student.first_name} {student.last_name} ({student.student_number}) "
                    f"in {school_class.name}"
                )
                self.changes("enrollments").removed.append(Change(label, target=enrollment_id))

    def student_name(self, number: str) -> str:
        """'Ava Nguyen (1001)': from the import, else the school's student."""
        record = (self.roster.students or {}).get(number)
        if record is not None:
            return student_label(record)
        student = self.existing.students_by_number.get(number)
        if student is not None:
            return f"{student.first_name} {student.last_name} ({number})"
        return number

    def class_name(self, key: str) -> str:
        """The class's name (from the import, else the school's class), not its id."""
        record = (self.roster.classes or {}).get(key)
        if record is not None:
            return record.name
        school_class = self.existing.classes.get(key)
        return school_class.name if school_class is not None else key

    # bell schedule --------------------------------------------------------

    def plan_bell_schedule(self) -> None:
        records = self.roster.bell_schedule
        if records is None:
            return
        for key, record in records.items():
            period = self.existing.bell_periods.get(key)
            label = f"{WEEKDAYS[record.weekday]} {record.period}"
            times = f"{record.start:%H:%M}-{record.end:%H:%M}"
            if period is None:
                self.changes("bell_schedule").created.append(Change(label, times, record=record))
            elif (period.start_time, period.end_time) != (record.start, record.end):
                updates = {"start_time": record.start, "end_time": record.end}
                self.changes("bell_schedule").changed.append(
                    Change(label, times, target=period, updates=updates)
                )
        for key, period in self.existing.bell_periods.items():
            if key not in records:
                label = f"{WEEKDAYS[period.weekday]} {period.name}"
                self.changes("bell_schedule").removed.append(Change(label, target=period))

    # families -------------------------------------------------------------

    def plan_families(self) -> None:
        records = self.roster.families
        if records is None:
            return
        for tag, record in records.items():
            unknown = [n for n in record.student_numbers if n not in self.student_refs]
            if unknown:
                self.error(
                    record.where,
                    "student_numbers",
                    f"unknown student number {', '.join(unknown)}",
                )
                continue
            family = self.existing.families.get(tag)
            label = f"Tag {tag}"
            if family is None:
                detail = f"{len(record.student_numbers)} students"
                self.changes("families").created.append(Change(label, detail, record=record))
                continue
            updates = self.family_updates(family, record)
            if updates:
                detail = ", ".join("reactivated" if k == "active" else k for k in updates)
                self.changes("families").changed.append(
                    Change(label, detail, target=family, updates=updates)
                )

    def family_updates(self, family: Family, record: FamilyRecord) -> dict[str, Any]:
        wanted = {self.student_refs[n] for n in record.student_numbers}
        updates: dict[str, Any] = {}
        if None in wanted or wanted != {s.id for s in family.students}:
            updates["students"] = record.student_numbers
        if record.pickup_adults is not None and record.pickup_adults != family.pickup_adults:
            updates["pickup_adults"] = record.pickup_adults
        if not family.active:
            updates["active"] = True
        return updates

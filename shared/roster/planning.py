"""The dry run: `plan_import` checks a bundle against the school's data and returns a `Plan`.

`Existing` (existing.py) loads each kind of the school's rows once, on first use, into
dicts; `_Planner` matches the imported records to those rows by key (sourced id, student
number, email, class id, tag number) and fills the plan with what would be created,
changed, deactivated or removed, plus row errors and warnings. Nothing here writes.
One cohesive thing (one matching pass per kind of record, in the order the import
applies them), so it stays one module, a little over the usual size; how a change is worded
for the preview is in describe.py.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from babel.dates import get_day_names
from flask import has_request_context
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from sqlalchemy import select

from shared.extensions import db
from shared.formats import format_time
from shared.models import (
    ROLE_LABELS,
    Family,
    School,
    Student,
    User,
)
from shared.roster.describe import (
    class_summary,
    class_updates,
    describe,
    field_label,
    student_label,
)
from shared.roster.existing import Existing
from shared.roster.files import Bundle
from shared.roster.guardians import plan_guardians
from shared.roster.oneroster import OneRosterReader
from shared.roster.oneroster_guardians import plan_oneroster_guardians
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
        plan.warnings.append(
            _("Ignored (not part of a roster): %(files)s", files=", ".join(bundle.ignored))
        )
    existing = Existing(school.id)
    if bundle.is_oneroster:
        roster = OneRosterReader(bundle, plan, today, org_sourced_id, existing).read()
    else:
        roster = parse_csv_bundle(bundle, plan)
    _Planner(plan, roster, attach_accounts, existing).run()
    return plan


class _Planner:
    """Compares a Roster with the school's rows and fills the plan with changes."""

    def __init__(
        self,
        plan: Plan,
        roster: Roster,
        attach_accounts: bool = True,
        existing: Existing | None = None,
    ) -> None:
        self.plan = plan
        self.roster = roster
        self.attach_accounts = attach_accounts
        #: Emails of existing accounts of elsewhere that the import only invites.
        self.invited: set[str] = set()
        self.school = plan.school
        self.existing = existing or Existing(plan.school.id)
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
        plan_oneroster_guardians(self.plan, self.roster, self.existing)

    def check_school_link(self) -> None:
        sourced_id = self.plan.school_sourced_id
        if sourced_id is None:
            return
        other = db.session.scalar(
            select(School).where(School.sourced_id == sourced_id, School.id != self.school.id)
        )
        if other is not None:
            reason = _(
                "this export is for %(other)s (%(code)s), not for %(school)s",
                other=other.name,
                code=other.code,
                school=self.school.name,
            )
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
            Change(
                name, _("classroom, named by a class"), record=RoomRecord(name, "classroom", None)
            )
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
                roles = ", ".join(str(ROLE_LABELS.get(role, role)) for role in sorted(record.roles))
                self.changes("staff").created.append(
                    Change(
                        f"{record.name} <{email}>",
                        _("%(roles)s; no password until an admin sets one", roles=roles),
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
                        _("invited: joins once they accept or a district admin adds them"),
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
                _(
                    "The SIS id %(id)s of %(email)s belongs to another account; it is not stored.",
                    id=record.sourced_id,
                    email=record.email,
                )
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
        if "students" in self.roster.delta:
            # A delta names some students; enrollments may name the others.
            self.student_refs = {s.student_number: s.id for s in self.existing.students if s.active}
        in_grade = _("grade %(grade)s")  # translated once: thousands of students
        for number, record in records.items():
            student, conflict = self.match_student(record, claimed)
            self.student_refs[number] = student.id if student else None
            if conflict:
                self.error(record.where, "student_number", conflict)
                continue
            if student is None:
                grade = in_grade % {"grade": record.grade} if record.grade else ""
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
        if "students" in self.roster.delta:
            self.deactivate_removed_students(claimed)
            return
        for student in self.existing.students:
            if student.active and student.id not in claimed:
                self.changes("students").deactivated.append(
                    Change(
                        f"{student.first_name} {student.last_name} ({student.student_number})",
                        target=student,
                    )
                )

    def deactivate_removed_students(self, claimed: dict[int, StudentRecord]) -> None:
        """A delta's students marked for deletion: deactivated, as a bulk import would."""
        for sourced_id in self.roster.removed_students:
            student = self.existing.students_by_sourced_id.get(sourced_id)
            if student is None or not student.active or student.id in claimed:
                continue
            self.student_refs.pop(student.student_number, None)
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
                return None, _(
                    "%(number)s belongs to another student (SIS id %(id)s)",
                    number=repr(record.student_number),
                    id=by_number.sourced_id,
                )
            student = by_number
        elif student is not None and by_number not in (None, student):
            return None, _(
                "%(number)s belongs to another student at this school",
                number=repr(record.student_number),
            )
        if student is not None and student.id in claimed:
            file, row = claimed[student.id].where
            return None, _(
                "%(number)s is the same student as %(file)s row %(row)s",
                number=repr(record.student_number),
                file=file,
                row=row,
            )
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
        delta = "classes" in self.roster.delta
        if delta:
            self.class_refs = {k: c.id for k, c in self.existing.classes.items() if c.active}
        for key, record in records.items():
            school_class = self.existing.classes.get(key)
            self.class_refs[key] = school_class.id if school_class else None
            invited = [e for e in record.teacher_emails if e in self.invited]
            if invited:
                self.error(
                    record.where,
                    "teacher_emails",
                    _(
                        "invited, not staff of this school until they accept (import the class "
                        "again then): %(emails)s",
                        emails=", ".join(invited),
                    ),
                )
                continue
            unknown = [e for e in record.teacher_emails if e not in staff_emails]
            if unknown:
                self.error(
                    record.where,
                    "teacher_emails",
                    _(
                        "not staff of this school and not in staff.csv: %(emails)s",
                        emails=", ".join(unknown),
                    ),
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
            gone = key in self.roster.removed_classes if delta else key not in records
            if school_class.active and gone and key not in records:
                self.changes("classes").deactivated.append(
                    Change(f"{school_class.name} ({key})", target=school_class)
                )

    # enrollments ----------------------------------------------------------

    def plan_enrollments(self) -> None:
        pairs = self.roster.enrollments
        if pairs is None:
            return
        keep: set[tuple[int, int]] = set()
        # Translated once: a district school has thousands of enrollments.
        in_class = _("%(student)s in %(class_name)s")
        for (class_key, number), where in pairs.items():
            if class_key not in self.class_refs:
                self.error(where, "class_id", _("unknown class %(key)s", key=repr(class_key)))
                continue
            if number not in self.student_refs:
                self.error(
                    where,
                    "student_number",
                    _("unknown student number %(number)s", number=repr(number)),
                )
                continue
            class_id, student_id = self.class_refs[class_key], self.student_refs[number]
            if (class_id, student_id) in self.existing.enrollments:
                keep.add((class_id, student_id))
                continue
            label = in_class % {
                "student": self.student_name(number),
                "class_name": self.class_name(class_key),
            }
            self.changes("enrollments").created.append(Change(label, record=(class_key, number)))
        classes = {c.id: c for c in self.existing.classes.values()}
        students = {s.id: s for s in self.existing.students}
        removed = self.removed_enrollments() if "enrollments" in self.roster.delta else None
        for pair, enrollment_id in self.existing.enrollments.items():
            if pair not in keep and (removed is None or pair in removed):
                student, school_class = students[pair[1]], classes[pair[0]]
                label = in_class % {
                    "student": f"{student.first_name} {student.last_name} "
                    f"({student.student_number})",
                    "class_name": school_class.name,
                }
                self.changes("enrollments").removed.append(Change(label, target=enrollment_id))

    def removed_enrollments(self) -> set[tuple[int, int]]:
        """A delta's enrollments marked for deletion, as (class id, student id)."""
        pairs = set()
        for class_key, number in self.roster.removed_enrollments:
            class_id = self.class_refs.get(class_key)
            student = self.existing.students_by_number.get(number)
            if class_id is not None and student is not None:
                pairs.add((class_id, student.id))
        return pairs

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
        weekdays = get_day_names(
            "abbreviated", locale=(get_locale() if has_request_context() else None) or "en"
        )
        for key, record in records.items():
            period = self.existing.bell_periods.get(key)
            label = f"{weekdays[record.weekday]} {record.period}"
            times = f"{format_time(record.start)} - {format_time(record.end)}"
            if period is None:
                self.changes("bell_schedule").created.append(Change(label, times, record=record))
            elif (period.start_time, period.end_time) != (record.start, record.end):
                updates = {"start_time": record.start, "end_time": record.end}
                self.changes("bell_schedule").changed.append(
                    Change(label, times, target=period, updates=updates)
                )
        for key, period in self.existing.bell_periods.items():
            if key not in records:
                label = f"{weekdays[period.weekday]} {period.name}"
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
                    ngettext(
                        "unknown student number %(numbers)s",
                        "unknown student numbers %(numbers)s",
                        len(unknown),
                        numbers=", ".join(unknown),
                    ),
                )
                continue
            family = self.existing.families.get(tag)
            label = _("Tag %(number)s", number=tag)
            if family is None:
                detail = ngettext(
                    "%(num)d student", "%(num)d students", len(record.student_numbers)
                )
                self.changes("families").created.append(Change(label, detail, record=record))
                continue
            updates = self.family_updates(family, record)
            if updates:
                detail = ", ".join(
                    _("reactivated") if k == "active" else field_label(k) for k in updates
                )
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

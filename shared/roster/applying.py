"""Writing a plan: `apply_import` carries out a `Plan` without errors and audits it.

It works inside the caller's transaction (flush only) and records one `roster.import`
audit event; the caller commits once. `_Writer` makes the changes kind by kind, resolving
references (rooms, teachers, students) to rows created earlier in the same import.
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from sqlalchemy import delete, insert, select

from shared import audit
from shared.errors import InvalidInput
from shared.extensions import db
from shared.models import (
    BellPeriod,
    Enrollment,
    Family,
    Membership,
    Room,
    SchoolClass,
    Student,
    User,
    class_teachers,
)
from shared.roster.existing import CHUNK
from shared.roster.guardians import apply_guardians
from shared.roster.results import KindChanges, Plan
from shared.roster.rows import BellRecord, ClassRecord, FamilyRecord, StaffRecord
from shared.staff import invite_account


def apply_import(plan: Plan, *, source: str) -> dict[str, dict[str, int]]:
    """Write a plan without errors in the caller's transaction (flush only) and audit it."""
    if plan.errors:
        raise InvalidInput(_("The import has errors; nothing was written."))
    writer = _Writer(plan)
    writer.rooms()
    writer.staff()
    writer.students()
    db.session.flush()
    writer.classes()
    db.session.flush()
    writer.enrollments()
    writer.bell_schedule()
    writer.families()
    apply_guardians(plan)
    if plan.school_sourced_id is not None:
        plan.school.sourced_id = plan.school_sourced_id
    db.session.flush()
    counts = plan.counts()
    audit.record(
        "roster.import",
        school_id=plan.school.id,
        target=plan.school,
        detail={
            "format": plan.format,
            "source": source,
            "counts": counts,
            "warnings": len(plan.warnings),
            "row_warnings": len(plan.row_warnings),
        },
    )
    return counts


class _Writer:
    """Carries out a plan's changes, kind by kind, resolving references as it goes."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.school_id = plan.school.id
        self.existing = plan.existing
        self.room_by_name: dict[str, Room] = {}
        #: Ids of the school's students by number, and classes by key, old and new.
        self.student_ids: dict[str, int] = {}
        self.class_ids: dict[str, int] = {}
        self.student_by_number: dict[str, Student] = {}

    def kind(self, name: str) -> KindChanges:
        return self.plan.kinds[name]

    def rooms(self) -> None:
        for change in self.kind("rooms").created:
            room = Room(school_id=self.school_id, name=change.record.name, kind=change.record.kind)
            db.session.add(room)
            self.room_by_name[room.name.casefold()] = room
        for change in self.kind("rooms").changed:
            _set(change.target, change.updates)

    def staff(self) -> None:
        for change in self.kind("staff").created:
            record: StaffRecord = change.record
            user = User(
                email=record.email,
                name=record.name,
                password_hash=None,
                sourced_id=change.updates["sourced_id"],
            )
            db.session.add(user)
            for role in sorted(record.roles):
                user.memberships.append(Membership(school_id=self.school_id, role=role))
            self.existing.accounts[record.email] = user
        for change in self.kind("staff").changed:
            user = change.target
            if "invite" in change.updates:
                invite_account(self.school_id, user, change.label, set(change.updates["invite"]))
                continue
            for role in change.updates.get("roles", ()):
                user.memberships.append(Membership(school_id=self.school_id, role=role))
            _set(user, {k: v for k, v in change.updates.items() if k != "roles"})

    def students(self) -> None:
        for change in self.kind("students").changed:
            _set(change.target, change.updates)
        for change in self.kind("students").deactivated:
            change.target.active = False
        rows = [
            {"school_id": self.school_id, "active": True, **change.record.columns()}
            for change in self.kind("students").created
        ]
        ids = _insert_many(Student, rows)
        if self.kind("enrollments").created:
            self.student_ids = {s.student_number: s.id for s in self.existing.students}
            self.student_ids.update(zip((row["student_number"] for row in rows), ids, strict=True))

    def room(self, name: str | None) -> Room | None:
        if name is None:
            return None
        key = name.casefold()
        return self.room_by_name.get(key) or self.existing.rooms[key]

    def classes(self) -> None:
        accounts = self.existing.accounts
        for change in self.kind("classes").changed:
            updates = dict(change.updates)
            if "room" in updates:
                change.target.room = self.room(updates.pop("room"))
            if "teachers" in updates:
                change.target.teachers = [accounts[e] for e in updates.pop("teachers")]
            _set(change.target, updates)
        for change in self.kind("classes").deactivated:
            change.target.active = False
        created: list[ClassRecord] = [change.record for change in self.kind("classes").created]
        rows = []
        for record in created:
            room = self.room(record.room)
            rows.append(
                {
                    "school_id": self.school_id,
                    "sourced_id": record.key,
                    "name": record.name,
                    "period": record.period,
                    "room_id": room.id if room is not None else None,
                    "active": True,
                }
            )
        ids = _insert_many(SchoolClass, rows)
        self.class_ids = {key: c.id for key, c in self.existing.classes.items()}
        self.class_ids.update(zip((record.key for record in created), ids, strict=True))
        teachers = [
            {"class_id": class_id, "user_id": user_id}
            for record, class_id in zip(created, ids, strict=True)
            for user_id in dict.fromkeys(accounts[email].id for email in record.teacher_emails)
        ]
        _insert_many(class_teachers, teachers, returning=False)

    def enrollments(self) -> None:
        rows = [
            {"class_id": self.class_ids[class_key], "student_id": self.student_ids[number]}
            for class_key, number in (c.record for c in self.kind("enrollments").created)
        ]
        _insert_many(Enrollment, rows, returning=False)
        ids = [change.target for change in self.kind("enrollments").removed]
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            db.session.execute(delete(Enrollment).where(Enrollment.id.in_(chunk)))

    def bell_schedule(self) -> None:
        for change in self.kind("bell_schedule").removed:
            db.session.delete(change.target)
        for change in self.kind("bell_schedule").changed:
            _set(change.target, change.updates)
        db.session.flush()
        for change in self.kind("bell_schedule").created:
            record: BellRecord = change.record
            db.session.add(
                BellPeriod(
                    school_id=self.school_id,
                    name=record.period,
                    weekday=record.weekday,
                    start_time=record.start,
                    end_time=record.end,
                )
            )

    def families(self) -> None:
        if not self.kind("families").total():
            return
        # The students created above were inserted without ORM objects: loaded here, once.
        students = db.session.scalars(select(Student).where(Student.school_id == self.school_id))
        self.student_by_number = {student.student_number: student for student in students}
        for change in self.kind("families").created:
            record: FamilyRecord = change.record
            db.session.add(
                Family(
                    school_id=self.school_id,
                    tag_number=record.tag_number,
                    pickup_adults=record.pickup_adults or "",
                    students=[self.student_by_number[n] for n in record.student_numbers],
                )
            )
        for change in self.kind("families").changed:
            updates = dict(change.updates)
            if "students" in updates:
                numbers = updates.pop("students")
                change.target.students = [self.student_by_number[n] for n in numbers]
            _set(change.target, updates)


#: Rows sent in one INSERT statement's parameter list (SQLAlchemy pages them further:
#: insertmanyvalues, many rows per INSERT ... VALUES, ids back by RETURNING in order).
INSERT_BATCH = 5000


def _insert_many(target: Any, rows: list[dict[str, Any]], *, returning: bool = True) -> list[int]:
    """Insert `rows` into a model's (or an association's) table in batches, without ORM
    objects; the new ids in the rows' order (with `returning`)."""
    if not rows:
        return []
    # The session's pending changes go first, as in the unit of work (updates before
    # inserts: a changed row may give up a number or key a new row takes).
    db.session.flush()
    table = getattr(target, "__table__", target)
    statement = insert(table)
    if returning:
        statement = statement.returning(table.c.id, sort_by_parameter_order=True)
    ids: list[int] = []
    for start in range(0, len(rows), INSERT_BATCH):
        result = db.session.execute(statement, rows[start : start + INSERT_BATCH])
        if returning:
            ids.extend(result.scalars())
    return ids


def _set(row: Any, values: dict[str, Any]) -> None:
    for key, value in values.items():
        setattr(row, key, value)

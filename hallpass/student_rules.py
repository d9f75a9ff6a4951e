"""Rules for one student or a few: their own daily limit, keep-apart groups, and finding them.

The admin's settings pages make a student exempt from the daily limit (or give them a
limit of their own) and keep students apart who must not be out at once; both need the
student search. The pass rules that read these live in `rules`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from flask_babel import gettext as _
from sqlalchemy import select

from hallpass.models import (
    KeepApartGroup,
    StudentPassLimit,
)
from shared import audit
from shared.access import school_record
from shared.errors import InvalidInput, NotFound
from shared.extensions import db
from shared.models import School, Student, User

MAX_NOTE = 1000
#: How many students one keep-apart group may hold.
MAX_GROUP_SIZE = 12


def school_student(school: School, student_id: int | None) -> Student:
    """A student of this school (404 otherwise)."""
    return school_record(Student, student_id, school.id, _("No such student at this school."))


def parse_student_ids(raw: list[str]) -> list[int]:
    """Distinct student ids from form values, in the order given (bad values refused)."""
    ids: list[int] = []
    for value in raw:
        text = (value or "").strip()
        if not (text.isascii() and text.isdigit()) or len(text) > 12:
            raise InvalidInput(_("Choose students from the search results."), field="student_ids")
        if int(text) not in ids:
            ids.append(int(text))
    return ids


@dataclass(frozen=True)
class LimitRow:
    """A student's exception to the daily limit, for the settings list."""

    student: Student
    limit: StudentPassLimit


def student_limits(school: School) -> list[LimitRow]:
    """Every per-student limit of the school's students, by name."""
    rows = db.session.execute(
        select(Student, StudentPassLimit)
        .join(StudentPassLimit, StudentPassLimit.student_id == Student.id)
        .where(Student.school_id == school.id)
        .order_by(Student.last_name, Student.first_name, Student.id)
    ).all()
    return [LimitRow(student, limit) for student, limit in rows]


def set_student_limit(
    school: School, student_id: int, *, daily_limit: int | None, note: str
) -> StudentPassLimit:
    """Make a student exempt from the daily limit (`daily_limit` None) or give them their
    own limit, with a note."""
    student = school_student(school, student_id)
    note = note.strip()
    if len(note) > MAX_NOTE:
        raise InvalidInput(_("Note: at most %(num)d characters.", num=MAX_NOTE), field="note")
    existing = db.session.get(StudentPassLimit, student.id)
    before = None if existing is None else {"daily_limit": existing.daily_limit}
    if existing is None:
        existing = StudentPassLimit(student_id=student.id)
        db.session.add(existing)
    note_changed = existing.note != note
    existing.daily_limit = daily_limit
    existing.note = note
    db.session.flush()
    audit.record(
        "hallpass.student_limit_set",
        school_id=school.id,
        target=student,
        detail={
            "before": before,
            "after": {"daily_limit": daily_limit, "exempt": daily_limit is None},
            "note_changed": note_changed,
        },
    )
    return existing


def remove_student_limit(school: School, student_id: int | None) -> Student:
    """Remove a student's exception: the school's daily limit applies again."""
    student = school_student(school, student_id)
    existing = db.session.get(StudentPassLimit, student.id)
    if existing is None:
        raise NotFound(_("This student has no limit of their own."))
    audit.record(
        "hallpass.student_limit_remove",
        school_id=school.id,
        target=student,
        detail={"before": {"daily_limit": existing.daily_limit}},
    )
    db.session.delete(existing)
    db.session.flush()
    return student


def keep_apart_groups(school: School) -> list[KeepApartGroup]:
    """The school's keep-apart groups, newest first."""
    return list(
        db.session.scalars(
            select(KeepApartGroup)
            .where(KeepApartGroup.school_id == school.id)
            .order_by(KeepApartGroup.created_at.desc(), KeepApartGroup.id.desc())
        )
    )


def get_group(school: School, group_id: int) -> KeepApartGroup:
    """A keep-apart group of this school (404 otherwise)."""
    return school_record(KeepApartGroup, group_id, school.id, _("No such keep-apart group."))


def group_is_current(group: KeepApartGroup, today: date) -> bool:
    """True while the group applies (no end date, or it ends today or later)."""
    return group.ends_on is None or group.ends_on >= today


def create_keep_apart_group(
    school: School,
    user: User | None,
    student_ids: list[int],
    *,
    note: str,
    ends_on: date | None,
    today: date,
) -> KeepApartGroup:
    """A group of two or more students who may not be out at once, with a staff note."""
    if len(student_ids) < 2:
        raise InvalidInput(_("Choose at least two students."), field="student_ids")
    if len(student_ids) > MAX_GROUP_SIZE:
        raise InvalidInput(
            _("A group holds at most %(num)d students.", num=MAX_GROUP_SIZE), field="student_ids"
        )
    students = list(
        db.session.scalars(
            select(Student).where(Student.id.in_(student_ids), Student.school_id == school.id)
        )
    )
    if len(students) != len(student_ids) or not all(s.active for s in students):
        raise InvalidInput(_("Choose active students of this school."), field="student_ids")
    note = note.strip()
    if not note:
        raise InvalidInput(_("Note: say why (staff see it when a pass is refused)."), field="note")
    if len(note) > MAX_NOTE:
        raise InvalidInput(_("Note: at most %(num)d characters.", num=MAX_NOTE), field="note")
    if ends_on is not None and ends_on < today:
        raise InvalidInput(_("End date: choose today or a later day."), field="ends_on")
    group = KeepApartGroup(
        school_id=school.id,
        note=note,
        ends_on=ends_on,
        created_by_id=user.id if user else None,
        members=sorted(students, key=lambda s: s.id),
    )
    db.session.add(group)
    db.session.flush()
    audit.record(
        "hallpass.keep_apart_create",
        school_id=school.id,
        target=group,
        detail={
            "student_ids": sorted(student_ids),
            "ends_on": ends_on.isoformat() if ends_on else None,
        },
    )
    return group


def end_keep_apart_group(school: School, group_id: int, *, today: date) -> KeepApartGroup:
    """End a group from today on (it stays listed, as ended, with its history)."""
    group = get_group(school, group_id)
    if not group_is_current(group, today):
        raise InvalidInput(_("This group has already ended."), field="group_id")
    before = group.ends_on.isoformat() if group.ends_on else None
    group.ends_on = today - timedelta(days=1)
    db.session.flush()
    audit.record(
        "hallpass.keep_apart_end",
        school_id=school.id,
        target=group,
        detail={"before": {"ends_on": before}, "after": {"ends_on": group.ends_on.isoformat()}},
    )
    return group


def delete_keep_apart_group(school: School, group_id: int) -> None:
    """Delete a group altogether (its members may be out at once from now on)."""
    group = get_group(school, group_id)
    audit.record(
        "hallpass.keep_apart_delete",
        school_id=school.id,
        target=group,
        detail={
            "student_ids": sorted(s.id for s in group.members),
            "ends_on": group.ends_on.isoformat() if group.ends_on else None,
        },
    )
    db.session.delete(group)
    db.session.flush()

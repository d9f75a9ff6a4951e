"""The passline CSV format: one file per kind, named after it (students.csv, rooms.csv...).

`_CSV_FILES` gives each kind its required columns, its row parser and its key column;
`parse_csv_bundle` parses the files of a bundle into a `Roster`. The columns are
documented in docs/roster-import.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask_babel import gettext as _

from shared.models import ROLES, ROOM_KINDS, BellPeriod, Room, SchoolClass, Student, User
from shared.roster.files import Bundle
from shared.roster.guardians import REQUIRED as GUARDIAN_COLUMNS
from shared.roster.guardians import parse_guardian_row
from shared.roster.results import Plan
from shared.roster.rows import (
    BellRecord,
    Cells,
    ClassRecord,
    FamilyRecord,
    RoomRecord,
    Roster,
    StaffRecord,
    StudentRecord,
    collect_rows,
    column_limit,
    csv_grade,
    parse_cell_clock,
    parse_days,
    read_table,
    split_cell,
)

#: Roles an import may grant; the admin role is only ever given on the Staff page.
IMPORT_ROLES = tuple(role for role in ROLES if role != "admin")
_MAX_TAG = 2**31 - 1


def _parse_staff_row(cells: Cells) -> list[tuple[Any, Any]]:
    email = cells.email("email", cells.get("email"))
    name = cells.text("name", column_limit(User.name))
    roles = {role.lower() for role in split_cell(cells.get("roles"), r"[;,\s]+")}
    if not roles:
        cells.fail("roles", _("at least one role is required"))
    elif "admin" in roles:
        cells.fail(
            "roles", _("the admin role is not given by an import; give it on the Staff page")
        )
    elif not roles <= set(IMPORT_ROLES):
        unknown = ", ".join(sorted(roles - set(IMPORT_ROLES)))
        cells.fail(
            "roles",
            _("unknown role %(role)s; use %(roles)s", role=unknown, roles=", ".join(IMPORT_ROLES)),
        )
    sourced_id = cells.text("sourced_id", column_limit(User.sourced_id), required=False)
    if not cells.ok:
        return []
    return [(email, StaffRecord(email, name, frozenset(roles), sourced_id, cells.where))]


def _parse_room_row(cells: Cells) -> list[tuple[Any, Any]]:
    name = cells.text("name", column_limit(Room.name))
    kind = cells.get("kind").lower() or "classroom"
    if kind not in ROOM_KINDS:
        cells.fail(
            "kind",
            _(
                "unknown room kind %(kind)s; use %(kinds)s",
                kind=repr(kind),
                kinds=", ".join(ROOM_KINDS),
            ),
        )
    if not cells.ok:
        return []
    return [(name.casefold(), RoomRecord(name, kind, cells.where))]


def _parse_student_row(cells: Cells) -> list[tuple[Any, Any]]:
    number = cells.text("student_number", column_limit(Student.student_number))
    first = cells.text("first_name", column_limit(Student.first_name))
    last = cells.text("last_name", column_limit(Student.last_name))
    preferred = cells.text("preferred_name", column_limit(Student.preferred_name), required=False)
    grade = None
    if cells.get("grade"):
        grade = csv_grade(cells.get("grade"))
        if grade is None:
            cells.fail(
                "grade",
                _("%(value)s is not a grade; use PK, K or 1-12", value=repr(cells.get("grade"))),
            )
    sourced_id = cells.text("sourced_id", column_limit(Student.sourced_id), required=False)
    if not cells.ok:
        return []
    record = StudentRecord(number, first, last, preferred, grade, sourced_id, cells.where)
    return [(number, record)]


def _parse_class_row(cells: Cells) -> list[tuple[Any, Any]]:
    key = cells.text("class_id", column_limit(SchoolClass.sourced_id))
    name = cells.text("name", column_limit(SchoolClass.name))
    room = cells.text("room", column_limit(Room.name), required=False)
    period = cells.text("period", column_limit(SchoolClass.period), required=False)
    emails = [cells.email("teacher_emails", e) for e in split_cell(cells.get("teacher_emails"))]
    if not cells.ok:
        return []
    teachers = list(dict.fromkeys(e for e in emails if e))
    return [(key, ClassRecord(key, name, room, period, teachers, cells.where))]


def _parse_enrollment_row(cells: Cells) -> list[tuple[Any, Any]]:
    key = cells.text("class_id", column_limit(SchoolClass.sourced_id))
    number = cells.text("student_number", column_limit(Student.student_number))
    return [((key, number), cells.where)] if cells.ok else []


def _parse_bell_row(cells: Cells) -> list[tuple[Any, Any]]:
    period = cells.text("period", column_limit(BellPeriod.name))
    days: list[int] = []
    start = end = None
    for column, parse in (
        ("days", parse_days),
        ("start", parse_cell_clock),
        ("end", parse_cell_clock),
    ):
        if not cells.get(column):
            cells.fail(column, _("a value is required"))
            continue
        try:
            value = parse(cells.get(column))
        except ValueError as exc:
            cells.fail(column, str(exc))
            continue
        if column == "days":
            days = value
        elif column == "start":
            start = value
        else:
            end = value
    if start is not None and end is not None and start >= end:
        cells.fail("end", _("the period must end after it starts"))
    if not cells.ok:
        return []
    return [((period, day), BellRecord(period, day, start, end, cells.where)) for day in days]


def _parse_family_row(cells: Cells) -> list[tuple[Any, Any]]:
    raw_tag = cells.get("tag_number")
    tag = int(raw_tag) if raw_tag.isascii() and raw_tag.isdigit() else 0
    if not 0 < tag <= _MAX_TAG:
        cells.fail("tag_number", _("%(value)s is not a positive whole number", value=repr(raw_tag)))
    numbers = list(dict.fromkeys(split_cell(cells.get("student_numbers"))))
    if not numbers:
        cells.fail("student_numbers", _("at least one student number is required"))
    adults = None
    if "pickup_adults" in cells.row.values:
        adults = "\n".join(split_cell(cells.get("pickup_adults"), r";"))
    if not cells.ok:
        return []
    return [(tag, FamilyRecord(tag, numbers, adults, cells.where))]


_CSV_FILES: dict[str, tuple[tuple[str, ...], Callable[[Cells], list], str]] = {
    "staff": (("email", "name", "roles"), _parse_staff_row, "email"),
    "rooms": (("name", "kind"), _parse_room_row, "name"),
    "students": (
        ("student_number", "first_name", "last_name"),
        _parse_student_row,
        "student_number",
    ),
    "classes": (("class_id", "name"), _parse_class_row, "class_id"),
    "enrollments": (("class_id", "student_number"), _parse_enrollment_row, "student_number"),
    "bell_schedule": (("period", "days", "start", "end"), _parse_bell_row, "days"),
    "families": (("tag_number", "student_numbers"), _parse_family_row, "tag_number"),
    "guardians": (GUARDIAN_COLUMNS, parse_guardian_row, "name"),
}


def parse_csv_bundle(bundle: Bundle, plan: Plan) -> Roster:
    roster = Roster()
    for kind, (required, parse, key_column) in _CSV_FILES.items():
        name = f"{kind}.csv"
        if name not in bundle.files:
            continue
        plan.present.append(kind)
        rows = read_table(bundle, name, required, plan.errors)
        if rows is not None:
            setattr(roster, kind, collect_rows(rows, plan.errors, parse, key_column))
    return roster

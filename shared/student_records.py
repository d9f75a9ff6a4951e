"""Everything stored about one student: export (JSON, CSV) and hard delete.

For records requests and data-sharing agreements. The records are found from the schema
itself: every table with a column that refers to `students.id` (passes, requests, calls,
plan changes, enrollments, family and keep-apart memberships...), the families the
student belongs to with their guardians and the guardians' family-page sign-ins, and
the audit events about the student. A new table that refers to
students is included without any change here. Secrets (tokens, hashes) are left out.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from sqlalchemy import Table, delete, select

from shared import audit
from shared.access import school_record
from shared.contributions import contributions
from shared.csvfile import csv_text
from shared.errors import Conflict
from shared.extensions import db
from shared.models import (
    AuditEvent,
    Family,
    FamilyCode,
    Guardian,
    GuardianSession,
    School,
    Student,
    family_students,
)

#: Columns never exported: they open doors (QR tokens, hashes), they do not describe anyone.
SECRET_COLUMNS = {"token", "secret_hash", "token_hash", "code_hash", "password_hash"}


def student_of(school: School, student_id: int) -> Student:
    """The student, if they belong to this school (else 404)."""
    return school_record(Student, student_id, school.id, "No such student at this school.")


def _tables_referring_to_students() -> list[tuple[Table, str]]:
    found = []
    for table in db.metadata.sorted_tables:
        for column in table.columns:
            if any(fk.column.table.name == "students" for fk in column.foreign_keys):
                found.append((table, column.name))
    return found


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return value


def _rows(table: Table, where) -> list[dict[str, Any]]:
    columns = [c for c in table.columns if c.name not in SECRET_COLUMNS]
    result = db.session.execute(select(*columns).where(where)).mappings()
    return [{key: _plain(value) for key, value in row.items()} for row in result]


def collect(student: Student) -> dict[str, list[dict[str, Any]]]:
    """Every record about the student, by table name (and the audit events about them)."""
    records = {"students": _rows(Student.__table__, Student.id == student.id)}
    for table, column in _tables_referring_to_students():
        rows = _rows(table, table.c[column] == student.id)
        if rows:
            records.setdefault(table.name, []).extend(rows)
    family_ids = select(family_students.c.family_id).where(
        family_students.c.student_id == student.id
    )
    families = _rows(Family.__table__, Family.id.in_(family_ids))
    if families:
        records["families"] = families
        # The families' guardians, their sign-ins to the family page and their family
        # codes (no token or code hash).
        guardian_ids = select(Guardian.id).where(Guardian.family_id.in_(family_ids))
        for table, where in (
            (Guardian.__table__, Guardian.id.in_(guardian_ids)),
            (GuardianSession.__table__, GuardianSession.guardian_id.in_(guardian_ids)),
            (FamilyCode.__table__, FamilyCode.guardian_id.in_(guardian_ids)),
        ):
            rows = _rows(table, where)
            if rows:
                records[table.name] = rows
    about = AuditEvent.target_type == "Student"
    about &= AuditEvent.target_id == student.id
    class_names = {m.local_table.name: m.class_.__name__ for m in db.Model.registry.mappers}
    for table, rows in records.items():
        ids = [row["id"] for row in rows if row.get("id") is not None]
        if table in class_names and table != "students" and ids:
            about |= (AuditEvent.target_type == class_names[table]) & AuditEvent.target_id.in_(ids)
    events = _rows(AuditEvent.__table__, about)
    if events:
        records["audit_events"] = events
    return records


#: Staff's own words about a family, kept from the family's copy (a custody note may be
#: about one of its own adults; the office tells families what it needs to).
STAFF_NOTE_COLUMNS = {"release_note", "note"}


def collect_family(family: Family) -> dict[str, list[dict[str, Any]]]:
    """What a guardian downloads: their family, its guardians and their sign-ins, and each
    of its children's records, with nothing of another family (a child of two households
    has plan changes, calls and codes of the other one: they stay out) and no audit log
    (staff's names and addresses are not the family's)."""
    records: dict[str, list[dict[str, Any]]] = {
        "families": _without(_rows(Family.__table__, Family.id == family.id), STAFF_NOTE_COLUMNS)
    }
    guardian_ids = select(Guardian.id).where(Guardian.family_id == family.id)
    for table, where in (
        (Guardian.__table__, Guardian.family_id == family.id),
        (GuardianSession.__table__, GuardianSession.guardian_id.in_(guardian_ids)),
        (FamilyCode.__table__, FamilyCode.guardian_id.in_(guardian_ids)),
    ):
        rows = _without(_rows(table, where), STAFF_NOTE_COLUMNS)
        if rows:
            records[table.name] = rows
    children = [s.id for s in family.students]
    records["students"] = _rows(Student.__table__, Student.id.in_(children))
    for table, column in _tables_referring_to_students():
        rows = [
            row
            for row in _rows(table, table.c[column].in_(children))
            if row.get("family_id") in (None, family.id)
        ]
        if rows:
            records.setdefault(table.name, []).extend(rows)
    for more in contributions().family_records:
        for kind, rows in more(family).items():
            if rows:
                records.setdefault(kind, []).extend(rows)
    return records


def _without(rows: list[dict[str, Any]], columns: set[str]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k not in columns} for row in rows]


def export_family(family: Family, actor) -> dict[str, list[dict[str, Any]]]:
    """A guardian's download of their family's records (audited: which guardian, what)."""
    records = collect_family(family)
    audit.record(
        "family.export",
        school_id=family.school_id,
        actor=actor,
        target=family,
        detail={"records": {k: len(v) for k, v in records.items()}},
    )
    return records


def export(student: Student, fmt: str) -> str:
    """The student's records as JSON-ready data or CSV text (audited: who exported whom)."""
    records = collect(student)
    audit.record(
        "student.export",
        target=student,
        detail={"format": fmt, "records": {k: len(v) for k, v in records.items()}},
    )
    return records if fmt == "json" else _as_csv(records)


def _as_csv(records: dict[str, list[dict[str, Any]]]) -> str:
    """One row per field: record kind, record id, field, value (opens in any spreadsheet)."""
    lines: list[list] = [["record", "record_id", "field", "value"]]
    for table, rows in records.items():
        for row in rows:
            record_id = row.get("id", "")
            lines.extend([table, record_id, field, value] for field, value in row.items())
    return csv_text(lines)  # every cell made safe: never a formula in a spreadsheet


def delete_student(student: Student) -> dict[str, int]:
    """Delete the student and every record about them, for good (audited, without names).

    Refused while a blueprint's check says why not (`contribute(bp,
    student_delete_checks=[...])`): the hall pass refuses while the student is out on a
    pass, so the destination's and the building's counts stay right.
    """
    for check in contributions().student_delete_checks:
        reason = check(student)
        if reason:
            raise Conflict(reason)
    counts = {table: len(rows) for table, rows in collect(student).items()}
    counts.pop("audit_events", None)  # the audit log is kept; it holds ids, not names
    school_id, student_id = student.school_id, student.id
    db.session.execute(
        delete(Student).where(Student.id == student_id).execution_options(synchronize_session=False)
    )
    db.session.expunge(student)
    audit.record(
        "student.delete",
        school_id=school_id,
        detail={"student_id": student_id, "deleted": counts},
    )
    return counts

"""How the preview describes a change: labels of students and classes, what changed.

Kept apart from planning.py (which decides what changes) so each stays one sitting.
"""

from __future__ import annotations

from typing import Any

from shared.models import SchoolClass
from shared.roster.rows import ClassRecord, StudentRecord


def student_label(record: StudentRecord) -> str:
    return f"{record.first_name} {record.last_name} ({record.student_number})"


def class_summary(record: ClassRecord) -> str:
    parts = []
    if record.period:
        parts.append(f"period {record.period}")
    if record.room:
        parts.append(f"room {record.room}")
    if record.teacher_emails:
        parts.append(", ".join(record.teacher_emails))
    return "; ".join(parts)


def class_updates(school_class: SchoolClass, record: ClassRecord) -> dict[str, Any]:
    updates: dict[str, Any] = {}
    if school_class.name != record.name:
        updates["name"] = record.name
    if school_class.period != record.period:
        updates["period"] = record.period
    current_room = school_class.room.name if school_class.room else None
    if (current_room or "").casefold() != (record.room or "").casefold():
        updates["room"] = record.room
    if {t.email.lower() for t in school_class.teachers} != set(record.teacher_emails):
        updates["teachers"] = record.teacher_emails
    if not school_class.active:
        updates["active"] = True
    return updates


def describe(row: Any, updates: dict[str, Any]) -> str:
    """A short account of changes: 'grade 6 -> 7, reactivated'."""
    parts = []
    for key, value in updates.items():
        if key == "active":
            parts.append("reactivated")
        elif key == "roles":
            parts.append("adds role " + ", ".join(value))
        elif key in ("teachers", "students"):
            parts.append(f"{key}: {', '.join(value) or 'none'}")
        elif key == "room":
            old = row.room.name if row.room else "none"
            parts.append(f"room {old} -> {value or 'none'}")
        else:
            parts.append(
                f"{key.replace('_', ' ')} {getattr(row, key) or 'none'} -> {value or 'none'}"
            )
    return ", ".join(parts)

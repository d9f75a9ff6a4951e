"""How the preview describes a change: labels of students and classes, what changed.

Kept apart from planning.py (which decides what changes) so each stays one sitting.
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext

from shared.models import ROLE_LABELS, SchoolClass
from shared.roster.rows import ClassRecord, StudentRecord

#: The changed fields as the preview names them.
FIELD_LABELS = {
    "student_number": lazy_gettext("student number"),
    "first_name": lazy_gettext("first name"),
    "last_name": lazy_gettext("last name"),
    "preferred_name": lazy_gettext("preferred name"),
    "grade": lazy_gettext("grade"),
    "sourced_id": lazy_gettext("sourced id"),
    "name": lazy_gettext("name"),
    "period": lazy_gettext("period"),
    "kind": lazy_gettext("kind"),
    "teachers": lazy_gettext("teachers"),
    "students": lazy_gettext("students"),
    "pickup_adults": lazy_gettext("pickup adults"),
    "email": lazy_gettext("email"),
    "mobile": lazy_gettext("mobile number"),
    "relationship": lazy_gettext("relationship"),
}


def field_label(key: str) -> str:
    return str(FIELD_LABELS.get(key, key.replace("_", " ")))


def student_label(record: StudentRecord) -> str:
    return f"{record.first_name} {record.last_name} ({record.student_number})"


def class_summary(record: ClassRecord) -> str:
    parts = []
    if record.period:
        parts.append(_("period %(period)s", period=record.period))
    if record.room:
        parts.append(_("room %(room)s", room=record.room))
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
            parts.append(_("reactivated"))
        elif key == "roles":
            parts.append(
                _(
                    "adds role %(roles)s",
                    roles=", ".join(str(ROLE_LABELS.get(role, role)) for role in value),
                )
            )
        elif key in ("teachers", "students"):
            parts.append(f"{field_label(key)}: {', '.join(value) or _('none')}")
        elif key == "room":
            old = row.room.name if row.room else _("none")
            parts.append(_("room %(old)s -> %(new)s", old=old, new=value or _("none")))
        else:
            parts.append(
                f"{field_label(key)} {getattr(row, key) or _('none')} -> {value or _('none')}"
            )
    return ", ".join(parts)

"""The records of an emergency event: the event itself, each student's roll mark, and the
client keys that make every write of a phone with poor signal idempotent.

An event belongs to one school; at most one runs at a time per school (a partial unique
index on the running ones, so two offices starting at once get one event). A student has
at most one roll mark per event (a unique constraint): a mark is changed in place by a
conditional UPDATE that never touches a released student, and its history is the audit
log. A drill is an event with `drill` set: every screen, record and report says so.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext
from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shared.extensions import db
from shared.models import SchoolClass, Student, sql_in
from shared.timeutil import UTCDateTime, utcnow


class EventKind(StrEnum):
    EVACUATION = "evacuation"
    REVERSE_EVACUATION = "reverse_evacuation"
    SHELTER = "shelter"
    EARLY_RELEASE = "early_release"


KIND_LABELS = {
    EventKind.EVACUATION: lazy_gettext("Evacuation"),
    EventKind.REVERSE_EVACUATION: lazy_gettext("Reverse evacuation"),
    EventKind.SHELTER: lazy_gettext("Shelter in place"),
    EventKind.EARLY_RELEASE: lazy_gettext("Early release (weather)"),
}


class MarkStatus(StrEnum):
    PRESENT = "present"
    MISSING = "missing"
    INJURED = "injured"
    WITH_STAFF = "with_staff"
    #: Set by the release gate only; no roll mark changes it back.
    RELEASED = "released"


MARK_LABELS = {
    MarkStatus.PRESENT: lazy_gettext("Present"),
    MarkStatus.MISSING: lazy_gettext("Missing"),
    MarkStatus.INJURED: lazy_gettext("Injured"),
    MarkStatus.WITH_STAFF: lazy_gettext("With another staff member"),
    MarkStatus.RELEASED: lazy_gettext("Released"),
}

LOCATION_LENGTH = 200
WITH_STAFF_LENGTH = 200
MAX_CLIENT_KEY_LENGTH = 64
#: A gate form's client key is kept with its requests, in a shorter column.
GROUP_KEY_LENGTH = 40


class EmergencyEvent(db.Model):
    """One evacuation, reverse evacuation, shelter or early release at a school (or a drill)."""

    __tablename__ = "emergency_events"
    __table_args__ = (
        Index(
            "uq_emergency_events_one_running_per_school",
            "school_id",
            unique=True,
            sqlite_where=text("ended_at IS NULL"),
            postgresql_where=text("ended_at IS NULL"),
        ),
        Index("ix_emergency_events_school_id_started_at", "school_id", "started_at"),
        CheckConstraint(sql_in("kind", EventKind), name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(24))
    #: A practice: reported as a drill on every screen and in every record.
    drill: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The off-site assembly place, if the school went off site (free text).
    location: Mapped[str | None] = mapped_column(String(LOCATION_LENGTH))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    #: Who started it, as the audit log names them (kept if the account goes).
    started_by_label: Mapped[str] = mapped_column(String(254))
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_by_label: Mapped[str | None] = mapped_column(String(254))
    #: The first moment every expected student had a mark other than "missing".
    fully_accounted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Ids of the students who were out on a hall pass when it started (their passes ended).
    out_on_pass: Mapped[list[int]] = mapped_column(JSON, default=list)
    #: The counts when it ended (accounted, missing, injured, released, not marked).
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    @property
    def kind_label(self) -> str:
        return str(KIND_LABELS.get(self.kind, self.kind))

    @property
    def title(self) -> str:
        """ "Drill: Evacuation" or "Evacuation": how every screen names the event."""
        return _("Drill: %(kind)s", kind=self.kind_label) if self.drill else self.kind_label


class RollMark(db.Model):
    """Where one student is during an event, as the last staff member to mark them said."""

    __tablename__ = "emergency_roll_marks"
    __table_args__ = (
        UniqueConstraint("event_id", "student_id"),
        CheckConstraint(sql_in("status", MarkStatus), name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(
        ForeignKey("emergency_events.id", ondelete="CASCADE"), index=True
    )
    student_id: Mapped[int] = mapped_column(
        ForeignKey("students.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16))
    #: The class group the student is with (their own, or the one that added them).
    class_id: Mapped[int | None] = mapped_column(
        ForeignKey("classes.id", ondelete="SET NULL"), index=True
    )
    #: For "with another staff member": who (free text).
    with_staff: Mapped[str | None] = mapped_column(String(WITH_STAFF_LENGTH))
    marked_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    marked_by_label: Mapped[str] = mapped_column(String(254))
    #: When the staff member tapped (the phone's time, within the event): an older tap that
    #: arrives late from an outbox never overrides a newer one.
    marked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    student: Mapped[Student] = relationship()
    school_class: Mapped[SchoolClass | None] = relationship()

    @property
    def label(self) -> str:
        return str(MARK_LABELS.get(self.status, self.status))


class EmergencyReceipt(db.Model):
    """A write's client key: the same write sent again (a retry from an outbox) is done once."""

    __tablename__ = "emergency_receipts"
    __table_args__ = (UniqueConstraint("event_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("emergency_events.id", ondelete="CASCADE"))
    #: The client's random key, the same on every retry of one write.
    key: Mapped[str] = mapped_column(String(MAX_CLIENT_KEY_LENGTH))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class GroupAccounted(db.Model):
    """When every student of one group (a class at the start, with the students its roll
    added) was first accounted for: a drill is timed per class, not only for the school."""

    __tablename__ = "emergency_group_accounted"
    __table_args__ = (UniqueConstraint("event_id", "class_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("emergency_events.id", ondelete="CASCADE"))
    class_id: Mapped[int] = mapped_column(
        ForeignKey("classes.id", ondelete="CASCADE"), index=True
    )
    accounted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    school_class: Mapped[SchoolClass] = relationship()


class RequestStatus(StrEnum):
    #: At the request gate's queue: a runner brings the student to the release gate.
    WAITING = "waiting"
    RELEASED = "released"
    #: The adult may not take the student (not listed, a note): recorded, never released.
    REFUSED = "refused"


ADULT_NAME_LENGTH = 200
RELATIONSHIP_LENGTH = 100
ID_CHECK_LENGTH = 100
REASON_LENGTH = 500


class ReunificationRequest(db.Model):
    """An adult asked for a student at the request gate: who, what ID was checked, and
    the answer (queued for a runner, refused, or released)."""

    __tablename__ = "reunification_requests"
    __table_args__ = (
        Index(
            "uq_reunification_requests_one_waiting_per_student",
            "event_id",
            "student_id",
            unique=True,
            sqlite_where=text("status = 'waiting'"),
            postgresql_where=text("status = 'waiting'"),
        ),
        CheckConstraint(sql_in("status", RequestStatus), name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(
        ForeignKey("emergency_events.id", ondelete="CASCADE"), index=True
    )
    student_id: Mapped[int] = mapped_column(
        ForeignKey("students.id", ondelete="CASCADE"), index=True
    )
    #: Siblings asked for together share the key (the first request's id as text).
    #: The requests of one gate form (siblings asked for together): the form's client key.
    group_key: Mapped[str] = mapped_column(String(GROUP_KEY_LENGTH))
    #: The adult's name as on the ID shown.
    adult_name: Mapped[str] = mapped_column(String(ADULT_NAME_LENGTH))
    relationship_to_student: Mapped[str] = mapped_column(String(RELATIONSHIP_LENGTH))
    #: What was checked (the kind of document, or "known to staff"), never a copy of it.
    id_check: Mapped[str] = mapped_column(String(ID_CHECK_LENGTH))
    #: The entry of the "may take" list the adult matched (None: not on the list).
    listed_as: Mapped[str | None] = mapped_column(String(ADULT_NAME_LENGTH))
    #: An administrator's reason for releasing to an adult not on the list.
    override_reason: Mapped[str | None] = mapped_column(String(REASON_LENGTH))
    override_by_label: Mapped[str | None] = mapped_column(String(254))
    status: Mapped[str] = mapped_column(String(16))
    #: Why the request was refused (the staff member's words).
    refusal: Mapped[str | None] = mapped_column(String(REASON_LENGTH))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    requested_by_label: Mapped[str] = mapped_column(String(254))

    student: Mapped[Student] = relationship()


class EmergencyRelease(db.Model):
    """A student handed to an adult at the release gate: at most once per event (the
    unique constraint is what makes two gates releasing at once release once)."""

    __tablename__ = "emergency_releases"
    __table_args__ = (UniqueConstraint("event_id", "student_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("emergency_events.id", ondelete="CASCADE"))
    student_id: Mapped[int] = mapped_column(
        ForeignKey("students.id", ondelete="CASCADE"), index=True
    )
    request_id: Mapped[int] = mapped_column(
        ForeignKey("reunification_requests.id", ondelete="CASCADE"), index=True
    )
    released_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    released_by_label: Mapped[str] = mapped_column(String(254))

    student: Mapped[Student] = relationship()
    request: Mapped[ReunificationRequest] = relationship()

"""Late arrivals (tardies): a student who reaches school after classes began, recorded at
the office (its kiosk or its own screen) with the time, the reason and the period.

A tardy is a student record: it is exported and deleted with the student
(shared/student_records.py finds it by its `student_id`), kept for the school's
"Late arrivals" retention period, and listed in the data inventory
(hallpass/tardy_contributions.py).

The database holds the rule "one arrival per student and school day unless the office
records another": `arrival` numbers a student's arrivals of the day (1, then 2...) and
(student, day, arrival) is unique, so two scans racing at two kiosks record one tardy.
Reasons are stored as codes (`TardyReason`) and shown in the reader's language.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from flask_babel import lazy_gettext
from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shared.extensions import db
from shared.models import Room, SchoolClass, Student, User, sql_in
from shared.timeutil import UTCDateTime, utcnow


class TardyReason(StrEnum):
    """Why a student arrived late: a short fixed list, as the office asks it."""

    LATE_BUS = "late_bus"
    APPOINTMENT = "appointment"
    FAMILY = "family"
    OTHER = "other"


TARDY_REASONS = tuple(TardyReason)
TARDY_REASON_LABELS = {
    "late_bus": lazy_gettext("Late bus"),
    "appointment": lazy_gettext("Appointment"),
    "family": lazy_gettext("Overslept / family"),
    "other": lazy_gettext("Other"),
}


class TardySource(StrEnum):
    """Where the arrival was recorded: the office's kiosk, or the office's own screen."""

    KIOSK = "kiosk"
    OFFICE = "office"


class Tardy(db.Model):
    """One late arrival of a student on one school day."""

    __tablename__ = "tardies"
    __table_args__ = (
        UniqueConstraint("student_id", "day", "arrival"),
        CheckConstraint(sql_in("reason", TardyReason), name="reason"),
        CheckConstraint(sql_in("source", TardySource), name="source"),
        CheckConstraint("arrival >= 1", name="arrival_positive"),
        CheckConstraint("minutes_late IS NULL OR minutes_late >= 0", name="minutes_not_negative"),
        CheckConstraint("reason != 'other' OR note != ''", name="other_has_note"),
        Index("ix_tardies_school_id_day", "school_id", "day"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"))
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id", ondelete="CASCADE"))
    #: The school's local calendar day of the arrival.
    day: Mapped[date] = mapped_column(Date)
    #: 1 for the student's first late arrival of the day; 2... when the office records another.
    arrival: Mapped[int] = mapped_column(Integer, default=1)
    arrived_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: The bell period the student walks into (None: no bell schedule that day).
    period: Mapped[str | None] = mapped_column(String(32))
    #: The student's class in that period, whose teacher's tablet shows the arrival.
    class_id: Mapped[int | None] = mapped_column(
        ForeignKey("classes.id", ondelete="SET NULL"), index=True
    )
    #: Whole minutes after the start of `period` (0 in the passing time before it).
    minutes_late: Mapped[int | None] = mapped_column(Integer)
    #: One of TardyReason (a code; shown by `reason_label`).
    reason: Mapped[str] = mapped_column(String(16))
    #: Required for "other": a few words, from the office or the student at the kiosk.
    note: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(8))
    #: The office room of the kiosk it was recorded at (None on the office's screen).
    room_id: Mapped[int | None] = mapped_column(
        ForeignKey("rooms.id", ondelete="SET NULL"), index=True
    )
    device_id: Mapped[int | None] = mapped_column(
        ForeignKey("devices.id", ondelete="SET NULL"), index=True
    )
    recorded_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )

    student: Mapped[Student] = relationship()
    school_class: Mapped[SchoolClass | None] = relationship()
    room: Mapped[Room | None] = relationship()
    recorded_by: Mapped[User | None] = relationship()

    @property
    def reason_label(self) -> str:
        """The reason in the reader's language."""
        return str(TARDY_REASON_LABELS.get(self.reason, self.reason))

    def __repr__(self) -> str:
        return f"<Tardy {self.id}>"

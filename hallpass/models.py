"""Hall pass models: destinations, the school's pass policy, keep-apart groups, passes,
the students' pass requests and wait lines, and the office's calls of a student out of class.

The rules that must hold under concurrent requests are held by the database:
- one active pass per student: a partial unique index on `hall_passes`;
- destination capacity and the building-wide cap: `out_now` counters changed only by
  conditional UPDATEs (`... SET out_now = out_now + 1 WHERE out_now < cap`);
- keep-apart groups: a group's `out_student_id` slot is claimed by one conditional
  UPDATE, so two members can never be out at once;
- one open request (pending, waiting in line or ready) per student: a partial unique
  index on `pass_requests`;
- wait line positions: handed out by an atomic counter per destination
  (`last_wait_position`, UPDATE ... RETURNING) and unique per destination;
- one call to the office waiting for the class teacher per student: a partial unique
  index on `office_calls`.

Why one module: these are the hall pass tables and their enums, which the services
import together; a newcomer finds every column of the blueprint here. Splitting by
feature (appointments, office calls) is the next step if it grows further.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime, timedelta
from enum import StrEnum

from flask_babel import lazy_gettext
from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shared.extensions import db
from shared.models import Room, Student, SubstituteAssignment, User, sql_in
from shared.timeutil import UTCDateTime, utcnow


class PassStatus(StrEnum):
    """A pass is active while the student is out, then ended."""

    ACTIVE = "active"
    ENDED = "ended"


class PassSource(StrEnum):
    """Where a pass was started: by a teacher, at a kiosk, from the room's QR code.

    A call to the office's pass is the teacher's (their Send starts it); the call that
    asked for it names it (`OfficeCall.pass_id`).
    """

    TEACHER = "teacher"
    KIOSK = "kiosk"
    ROOM_QR = "room_qr"
    #: Released by the class teacher from a scheduled appointment (hallpass/appointments.py).
    APPOINTMENT = "appointment"


class EndedBy(StrEnum):
    """Who ended a pass: staff, the student returning, the system (time / period end), a sweep."""

    STAFF = "staff"
    STUDENT = "student"
    SYSTEM = "system"
    SWEEP = "sweep"


class RequestStatus(StrEnum):
    """A request's life: `pending` (the teacher decides), `waiting` (in the destination's wait
    line), `ready` (a place is held for the student: the teacher taps Go), then one of
    `approved` (a pass started), `denied`, `cancelled` (by the student) or `expired`.
    """

    PENDING = "pending"
    WAITING = "waiting"
    READY = "ready"
    APPROVED = "approved"
    DENIED = "denied"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


#: A request still open: a student has at most one (a partial unique index says so).
OPEN_REQUEST_STATUSES = (RequestStatus.PENDING, RequestStatus.WAITING, RequestStatus.READY)


class RequestSource(StrEnum):
    """Where a student asked for a pass."""

    KIOSK = "kiosk"
    ROOM_QR = "room_qr"
    TEACHER = "teacher"


def new_pass_token() -> str:
    """An opaque token for a pass's QR code (no names or numbers in it)."""
    return secrets.token_urlsafe(18)


class Destination(db.Model):
    """Where a student may go with a pass, with its limits."""

    __tablename__ = "destinations"
    __table_args__ = (
        UniqueConstraint("school_id", "name"),
        CheckConstraint("out_now >= 0", name="out_now_not_negative"),
        CheckConstraint("capacity IS NULL OR capacity > 0", name="capacity_positive"),
        CheckConstraint("time_limit_minutes > 0", name="time_limit_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    #: The room this destination is, if it is one (restroom, nurse, library...).
    room_id: Mapped[int | None] = mapped_column(
        ForeignKey("rooms.id", ondelete="SET NULL"), index=True
    )
    time_limit_minutes: Mapped[int] = mapped_column(Integer, default=10)
    #: Students out there at once; None = no limit.
    capacity: Mapped[int | None] = mapped_column(Integer)
    #: Students may start a pass here themselves (kiosk, room QR) without approval.
    self_start: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Passes here count toward a student's daily limit.
    counts_toward_limit: Mapped[bool] = mapped_column(Boolean, default=True)
    #: The nurse: a pass marked urgent is never blocked by any rule.
    is_nurse: Mapped[bool] = mapped_column(Boolean, default=False)
    #: A pass released from an appointment here skips the daily limit and the no-pass
    #: windows (a counselor's appointment is not a trip the student chose).
    appointments_skip_limits: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Students out here now, plus places held for the wait line's "ready" students;
    #: changed only by conditional UPDATEs in the services.
    out_now: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    #: Wait line counter: the last position handed out, raised atomically.
    last_wait_position: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))

    room: Mapped[Room | None] = relationship()


class HallpassPolicy(db.Model):
    """A school's hall pass rules (one row per school, created on first use)."""

    __tablename__ = "hallpass_policies"
    __table_args__ = (
        CheckConstraint("out_now >= 0", name="out_now_not_negative"),
        CheckConstraint("building_cap IS NULL OR building_cap > 0", name="building_cap_positive"),
        CheckConstraint(
            "max_pass_minutes IS NULL OR max_pass_minutes > 0", name="max_pass_minutes_positive"
        ),
    )

    school_id: Mapped[int] = mapped_column(
        ForeignKey("schools.id", ondelete="CASCADE"), primary_key=True
    )
    #: Passes per student per school day that count toward the limit; None = no limit.
    daily_limit: Mapped[int | None] = mapped_column(Integer)
    #: Minutes a student must be back in class before the next pass.
    cooldown_minutes: Mapped[int] = mapped_column(Integer, default=0)
    #: Students out of class at once in the whole building; None = no cap.
    building_cap: Mapped[int | None] = mapped_column(Integer)
    #: Students out at once from one classroom (passes out, and places held for its
    #: students in a wait line); None = no cap.
    room_cap: Mapped[int | None] = mapped_column(Integer)
    #: No passes in the first / last N minutes of a period.
    no_pass_first_minutes: Mapped[int] = mapped_column(Integer, default=0)
    no_pass_last_minutes: Mapped[int] = mapped_column(Integer, default=0)
    #: Names of bell periods with no passes at all.
    no_pass_periods: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: Passes still open this long are ended by the system; None = only at the period's end.
    max_pass_minutes: Mapped[int | None] = mapped_column(Integer, default=30)
    #: Emergency sweep: while set, no new pass starts anywhere in the school.
    sweep_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Students out of class now; changed only by conditional UPDATEs.
    out_now: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))


class StudentPassLimit(db.Model):
    """A per-student exception to the daily limit (IEP / 504 plans and the like)."""

    __tablename__ = "student_pass_limits"

    student_id: Mapped[int] = mapped_column(
        ForeignKey("students.id", ondelete="CASCADE"), primary_key=True
    )
    #: None = exempt from the daily limit.
    daily_limit: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(Text, default="")


keep_apart_members = Table(
    "keep_apart_members",
    db.metadata,
    Column("group_id", ForeignKey("keep_apart_groups.id", ondelete="CASCADE"), primary_key=True),
    Column("student_id", ForeignKey("students.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_keep_apart_members_student_id", "student_id"),
)


class KeepApartGroup(db.Model):
    """Students who may not be out of class at the same time."""

    __tablename__ = "keep_apart_groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"), index=True)
    #: For staff only; never shown to students.
    note: Mapped[str] = mapped_column(Text, default="")
    #: Last day the group applies; None = until removed.
    ends_on: Mapped[date | None] = mapped_column(Date)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: The member who is out now; claimed and released by conditional UPDATEs.
    out_student_id: Mapped[int | None] = mapped_column(
        ForeignKey("students.id", ondelete="SET NULL"), index=True
    )

    members: Mapped[list[Student]] = relationship(secondary=keep_apart_members)


class HallPass(db.Model):
    """One trip out of class."""

    __tablename__ = "hall_passes"
    __table_args__ = (
        Index(
            "uq_hall_passes_one_active_per_student",
            "student_id",
            unique=True,
            sqlite_where=text(f"status = '{PassStatus.ACTIVE}'"),
            postgresql_where=text(f"status = '{PassStatus.ACTIVE}'"),
        ),
        Index("ix_hall_passes_school_id_status", "school_id", "status"),
        Index("ix_hall_passes_student_id_started_at", "student_id", "started_at"),
        #: Reports pick a school's passes by date range.
        Index("ix_hall_passes_school_id_started_at", "school_id", "started_at"),
        # The room's passes ended today (the tablet's requests region), and the foreign key.
        Index("ix_hall_passes_from_room_id_ended_at", "from_room_id", "ended_at"),
        CheckConstraint(sql_in("status", PassStatus), name="status"),
        CheckConstraint(sql_in("source", PassSource), name="source"),
        CheckConstraint(sql_in("ended_by", EndedBy, null_ok=True), name="ended_by"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"))
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id", ondelete="CASCADE"))
    destination_id: Mapped[int] = mapped_column(
        ForeignKey("destinations.id", ondelete="CASCADE"), index=True
    )
    #: The room the student left (and must come back to).
    from_room_id: Mapped[int | None] = mapped_column(ForeignKey("rooms.id", ondelete="SET NULL"))
    source: Mapped[str] = mapped_column(String(16))
    issued_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    issued_by_device_id: Mapped[int | None] = mapped_column(
        ForeignKey("devices.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), default=PassStatus.ACTIVE.value)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    time_limit_minutes: Mapped[int] = mapped_column(Integer)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_by: Mapped[str | None] = mapped_column(String(16))
    #: A nurse pass marked urgent: no rule blocked it.
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Why a teacher overrode a limit (audited); None when no limit was overridden.
    override_reason: Mapped[str | None] = mapped_column(Text)
    #: Found by staff during an emergency sweep (the pass then ends, ended_by "sweep").
    accounted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Opaque token in the pass's QR code.
    token: Mapped[str] = mapped_column(String(32), unique=True, default=new_pass_token)
    #: Checked in at the destination (its kiosk scanned the pass QR).
    arrived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Issued by a substitute for the day (shared/substitutes.py); `issued_by_id` is then
    #: the absent teacher whose room it was.
    substitute_id: Mapped[int | None] = mapped_column(
        ForeignKey("substitute_assignments.id", ondelete="SET NULL"), index=True
    )

    student: Mapped[Student] = relationship()
    destination: Mapped[Destination] = relationship()
    from_room: Mapped[Room | None] = relationship()
    issued_by: Mapped[User | None] = relationship()
    substitute: Mapped[SubstituteAssignment | None] = relationship()

    @property
    def due_at(self) -> datetime:
        """When the pass's time is up: its start plus its time limit (UTC-aware)."""
        return self.started_at + timedelta(minutes=self.time_limit_minutes)


#: Why a request waits for a teacher, as stored (its English words: the teacher reads it
#: later, in their own language) and as shown.
NEEDS_APPROVAL = "Needs the teacher's approval."
ASKED_AFTER_A_REFUSAL = "The student asked after a rule said no."
DESTINATION_FULL = "The destination was full."
REQUEST_REASONS = {
    NEEDS_APPROVAL: lazy_gettext("Needs the teacher's approval."),
    ASKED_AFTER_A_REFUSAL: lazy_gettext("The student asked after a rule said no."),
    DESTINATION_FULL: lazy_gettext("The destination was full."),
}


class PassRequest(db.Model):
    """A student's ask for a pass that did not start at once: approval or the wait line."""

    __tablename__ = "pass_requests"
    __table_args__ = (
        Index(
            "uq_pass_requests_one_open_per_student",
            "student_id",
            unique=True,
            sqlite_where=text(sql_in("status", OPEN_REQUEST_STATUSES)),
            postgresql_where=text(sql_in("status", OPEN_REQUEST_STATUSES)),
        ),
        UniqueConstraint("destination_id", "position"),
        Index("ix_pass_requests_school_id_status", "school_id", "status"),
        CheckConstraint(sql_in("status", RequestStatus), name="status"),
        CheckConstraint(sql_in("source", RequestSource), name="source"),
        CheckConstraint("position IS NULL OR position >= 1", name="position"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"))
    student_id: Mapped[int] = mapped_column(
        ForeignKey("students.id", ondelete="CASCADE"), index=True
    )
    destination_id: Mapped[int] = mapped_column(ForeignKey("destinations.id", ondelete="CASCADE"))
    #: The room the student asks from: its teacher decides.
    from_room_id: Mapped[int | None] = mapped_column(
        ForeignKey("rooms.id", ondelete="SET NULL"), index=True
    )
    source: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=RequestStatus.PENDING.value)
    #: Place in the destination's wait line (first come, first served); None if never queued.
    position: Mapped[int | None] = mapped_column(Integer)
    #: For staff: why the request could not start at once, one of REQUEST_REASONS (stored
    #: in English, shown by `reason_label` in the reader's language).
    reason: Mapped[str | None] = mapped_column(Text)
    #: The paired kiosk the student asked at, if any.
    device_id: Mapped[int | None] = mapped_column(
        ForeignKey("devices.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: When a place was held for the student (status "ready"); it is given on after a while.
    ready_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The pass that started from this request.
    pass_id: Mapped[int | None] = mapped_column(
        ForeignKey("hall_passes.id", ondelete="SET NULL"), index=True
    )

    @property
    def reason_label(self) -> str | None:
        """The reason in the reader's language (one written before these were fixed words
        is shown as it was stored)."""
        if self.reason is None:
            return None
        return str(REQUEST_REASONS.get(self.reason, self.reason))

    student: Mapped[Student] = relationship()
    destination: Mapped[Destination] = relationship()
    from_room: Mapped[Room | None] = relationship()
    decided_by: Mapped[User | None] = relationship()
    hall_pass: Mapped[HallPass | None] = relationship()


class CallStatus(StrEnum):
    """A call to the office: `called` (waiting for the class teacher's Send, or at the office
    as "no class now" when the student has no class), then `sent` (the pass started: on the
    way), `arrived` (at the office), or closed as `not_here` (the teacher's answer) or
    `cancelled` (by the office)."""

    CALLED = "called"
    SENT = "sent"
    ARRIVED = "arrived"
    NOT_HERE = "not_here"
    CANCELLED = "cancelled"


class OfficeCall(db.Model):
    """The office calls a student out of class ("come to the office now")."""

    __tablename__ = "office_calls"
    __table_args__ = (
        # One call waiting for a Send per student: a second call while one waits is refused.
        Index(
            "uq_office_calls_one_waiting_per_student",
            "student_id",
            unique=True,
            sqlite_where=text(f"status = '{CallStatus.CALLED}'"),
            postgresql_where=text(f"status = '{CallStatus.CALLED}'"),
        ),
        #: The office's list of today's calls, and the foreign key.
        Index("ix_office_calls_school_id_created_at", "school_id", "created_at"),
        CheckConstraint(sql_in("status", CallStatus), name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"))
    student_id: Mapped[int] = mapped_column(
        ForeignKey("students.id", ondelete="CASCADE"), index=True
    )
    #: The office destination the student is called to (the office picks one).
    destination_id: Mapped[int] = mapped_column(
        ForeignKey("destinations.id", ondelete="CASCADE"), index=True
    )
    #: The room of the student's class when called, from the bell schedule: its tablet
    #: shows the call. None = no class now (the call waits at the office).
    from_room_id: Mapped[int | None] = mapped_column(
        ForeignKey("rooms.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), default=CallStatus.CALLED.value)
    #: "Bring your things": going home early (recorded in the car line's plans too).
    bring_things: Mapped[bool] = mapped_column(Boolean, default=False)
    #: For staff only (the office and the class teacher); never shown to students.
    note: Mapped[str] = mapped_column(Text, default="")
    called_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Who moved the call on from "called" (the teacher's Send or "not in class", the
    #: office's cancel), and when.
    answered_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The pass the Send started.
    pass_id: Mapped[int | None] = mapped_column(
        ForeignKey("hall_passes.id", ondelete="SET NULL"), index=True
    )
    arrived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    student: Mapped[Student] = relationship()
    destination: Mapped[Destination] = relationship()
    from_room: Mapped[Room | None] = relationship()
    called_by: Mapped[User | None] = relationship(foreign_keys=[called_by_id])
    answered_by: Mapped[User | None] = relationship(foreign_keys=[answered_by_id])
    hall_pass: Mapped[HallPass | None] = relationship()


class AppointmentStatus(StrEnum):
    """An appointment's life: `scheduled` (waiting for its time and the class teacher),
    then `released` (the teacher let the student go: a pass started), `declined` (the
    teacher said no, with a reason), `cancelled` (by the scheduler) or `no_show` (nobody
    released the student in time). "Arrived" is not a status: it is the pass's check-in.
    """

    SCHEDULED = "scheduled"
    RELEASED = "released"
    DECLINED = "declined"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"


class Appointment(db.Model):
    """A pass scheduled ahead by staff (a counselor, the nurse, a make-up test): the
    student's class teacher at that time releases it on the tablet (hallpass/appointments.py).

    Two taps on Release start one pass: the status moves from `scheduled` only by a
    conditional UPDATE, and `pass_id` is unique.
    """

    __tablename__ = "appointments"
    __table_args__ = (
        UniqueConstraint("pass_id"),
        Index("ix_appointments_school_id_day", "school_id", "day"),
        Index("ix_appointments_student_id_day", "student_id", "day"),
        Index("ix_appointments_scheduled_by_id_day", "scheduled_by_id", "day"),
        CheckConstraint(sql_in("status", AppointmentStatus), name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"))
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id", ondelete="CASCADE"))
    destination_id: Mapped[int] = mapped_column(
        ForeignKey("destinations.id", ondelete="CASCADE"), index=True
    )
    scheduled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    #: When the student is expected at the destination (UTC).
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: The school's local date of `starts_at` (lists are by day).
    day: Mapped[date] = mapped_column(Date)
    #: The bell period `starts_at` falls in: the student's class in it is whose tablet
    #: shows the appointment (found when read, so a roster change is followed).
    period: Mapped[str] = mapped_column(String(32))
    #: For staff only; never shown to the student.
    note: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default=AppointmentStatus.SCHEDULED.value)
    #: Occurrences of one weekly repeat share it (the first occurrence's token).
    series: Mapped[str | None] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Who released, declined or cancelled it, and when.
    decided_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The teacher's reason for declining (the scheduler reads it).
    decline_reason: Mapped[str | None] = mapped_column(Text)
    #: The pass the release started.
    pass_id: Mapped[int | None] = mapped_column(ForeignKey("hall_passes.id", ondelete="SET NULL"))

    student: Mapped[Student] = relationship()
    destination: Mapped[Destination] = relationship()
    scheduled_by: Mapped[User | None] = relationship(foreign_keys=[scheduled_by_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
    hall_pass: Mapped[HallPass | None] = relationship()

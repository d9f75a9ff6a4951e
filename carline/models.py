"""Car line models: hang tags, dismissal plans, today's dismissal, its car queue and calls.

A dismissal is one school day's car line. Cars enter its queue in arrival order
(`QueueEntry.position`, 1..n without gaps), fill the loading spots in that order, and
every student sent home is one `CalledStudent` row. The database holds the rules it
can: one entry per family and one call per student per dismissal, unique positions,
and at most one car at a loading spot at a time.

Why one module: the tables of the car line refer to one another (a call to its queue
entry, an entry to its dismissal and family, a plan to its family), and reading their
constraints side by side is how the invariants above are checked; the hall pass side
keeps its own (`hallpass.models`, `hallpass.summary_models`).
"""

from __future__ import annotations

import secrets
from datetime import date, datetime, time
from enum import StrEnum

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    Time,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shared.extensions import db
from shared.models import Family, Guardian, Student, sql_in
from shared.timeutil import UTCDateTime, utcnow


class DismissalMode(StrEnum):
    """How a student goes home ("car": with one of their families unless a change names one)."""

    CAR = "car"
    BUS = "bus"
    WALKER = "walker"
    AFTERCARE = "aftercare"


DISMISSAL_MODES = tuple(DismissalMode)


class QueueStatus(StrEnum):
    """A car in the line: queued (waiting for a spot), at_spot (at the curb), loaded (gone)."""

    QUEUED = "queued"
    AT_SPOT = "at_spot"
    LOADED = "loaded"


class CallMode(StrEnum):
    """What a student is called for: a car at the curb, a bus that arrived, walkers released."""

    CAR = "car"
    BUS = "bus"
    WALKER = "walker"


CALL_MODES = tuple(CallMode)


class CallStatus(StrEnum):
    """Car riders go called -> sent -> loaded; bus riders and walkers go called -> released."""

    CALLED = "called"
    SENT = "sent"
    LOADED = "loaded"
    RELEASED = "released"


#: The statuses a call may have for each kind of mode (a CHECK constraint holds them).
CAR_CALL_STATUSES = (CallStatus.CALLED, CallStatus.SENT, CallStatus.LOADED)
OTHER_CALL_STATUSES = (CallStatus.CALLED, CallStatus.RELEASED)
#: Call statuses after which the student has left the school.
GONE_STATUSES = (CallStatus.LOADED, CallStatus.RELEASED)

MAX_LANES = 10
MAX_SPOTS_PER_LANE = 50
#: Longest client idempotency key accepted with a curb entry.
MAX_REQUEST_KEY_LENGTH = 64
ROUTE_LENGTH = 16


def _bus_route_rule(mode_column: str = "mode") -> CheckConstraint:
    return CheckConstraint(
        f"({mode_column} = 'bus' AND bus_route IS NOT NULL) "
        f"OR ({mode_column} != 'bus' AND bus_route IS NULL)",
        name="bus_route_with_bus",
    )


def new_tag_token() -> str:
    """An opaque hang tag token: 192 random bits, URL-safe."""
    return secrets.token_urlsafe(24)


class Tag(db.Model):
    """A printed hang tag: the QR code on it carries `token`. A family has one live tag."""

    __tablename__ = "hang_tags"
    __table_args__ = (
        Index(
            "uq_hang_tags_family_id_live",
            "family_id",
            unique=True,
            sqlite_where=text("revoked_at IS NULL"),
            postgresql_where=text("revoked_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    family_id: Mapped[int] = mapped_column(ForeignKey("families.id", ondelete="CASCADE"))
    #: Opaque random token in the QR code; never a name or a number.
    token: Mapped[str] = mapped_column(String(64), unique=True, default=new_tag_token)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Set when the tag was reprinted or withdrawn; a revoked token is refused at the curb.
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The tag was reported lost: its QR code is refused as lost, not as merely reprinted.
    lost: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    family: Mapped[Family] = relationship()


class BlockedTagNumber(db.Model):
    """A tag number the office blocked (a lost tag, say): refused at the curb, never reissued."""

    __tablename__ = "blocked_tag_numbers"
    __table_args__ = (
        UniqueConstraint("school_id", "tag_number"),
        CheckConstraint("tag_number >= 1", name="tag_number"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"))
    tag_number: Mapped[int] = mapped_column(Integer)
    #: Why (shown at the curb is only that it is blocked): "Lost tag", or the office's words.
    reason: Mapped[str] = mapped_column(String(200), default="")
    blocked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    blocked_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )


class DismissalDefault(db.Model):
    """How a student goes home on one weekday unless a daily change says otherwise."""

    __tablename__ = "dismissal_defaults"
    __table_args__ = (
        UniqueConstraint("student_id", "weekday"),
        CheckConstraint("weekday >= 0 AND weekday <= 6", name="weekday"),
        CheckConstraint(sql_in("mode", DismissalMode), name="mode"),
        _bus_route_rule(),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id", ondelete="CASCADE"))
    #: 0 = Monday ... 6 = Sunday.
    weekday: Mapped[int] = mapped_column(SmallInteger)
    mode: Mapped[str] = mapped_column(String(16))
    #: The bus route number or name, for mode "bus" only.
    bus_route: Mapped[str | None] = mapped_column(String(ROUTE_LENGTH))

    student: Mapped[Student] = relationship()


class DailyChange(db.Model):
    """The office's change of one student's dismissal on one day (at most one per day)."""

    __tablename__ = "dismissal_changes"
    __table_args__ = (
        UniqueConstraint("student_id", "day"),
        CheckConstraint(sql_in("mode", DismissalMode), name="mode"),
        _bus_route_rule(),
        CheckConstraint("family_id IS NULL OR mode = 'car'", name="family_with_car"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id", ondelete="CASCADE"))
    #: The school-local date the change applies to.
    day: Mapped[date] = mapped_column(Date)
    mode: Mapped[str] = mapped_column(String(16))
    bus_route: Mapped[str | None] = mapped_column(String(ROUTE_LENGTH))
    #: For mode "car": only this family's car takes the student today (any of theirs if None).
    family_id: Mapped[int | None] = mapped_column(
        ForeignKey("families.id", ondelete="CASCADE"), index=True
    )
    #: Local wall-clock time the student is signed out at the office; not in the car line.
    early_pickup: Mapped[time | None] = mapped_column(Time)
    note: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    #: A guardian made the change on the family page (shown to the office with their name).
    created_by_guardian_id: Mapped[int | None] = mapped_column(
        ForeignKey("guardians.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    student: Mapped[Student] = relationship()
    family: Mapped[Family | None] = relationship()
    created_by_guardian: Mapped[Guardian | None] = relationship()


class Absence(db.Model):
    """A student absent on one day: never called."""

    __tablename__ = "absences"
    __table_args__ = (UniqueConstraint("student_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id", ondelete="CASCADE"))
    #: The school-local date.
    day: Mapped[date] = mapped_column(Date)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    #: A guardian reported the absence on the family page.
    created_by_guardian_id: Mapped[int | None] = mapped_column(
        ForeignKey("guardians.id", ondelete="SET NULL"), index=True
    )
    #: The guardian's words to the office, if any.
    note: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    created_by_guardian: Mapped[Guardian | None] = relationship()


class Dismissal(db.Model):
    """One school day's car line, from start to end."""

    __tablename__ = "dismissals"
    __table_args__ = (
        UniqueConstraint("school_id", "day"),
        CheckConstraint(f"lanes >= 1 AND lanes <= {MAX_LANES}", name="lanes"),
        CheckConstraint(
            f"spots_per_lane >= 1 AND spots_per_lane <= {MAX_SPOTS_PER_LANE}",
            name="spots_per_lane",
        ),
        CheckConstraint("last_position >= 0", name="last_position"),
        CheckConstraint("ended_at IS NULL OR ended_at >= started_at", name="ended_after_start"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"))
    #: The school-local date.
    day: Mapped[date] = mapped_column(Date)
    lanes: Mapped[int] = mapped_column(SmallInteger)
    spots_per_lane: Mapped[int] = mapped_column(SmallInteger)
    #: Position counter: the last queue position handed out, raised atomically per car.
    last_position: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: How many students were still at school when it ended (`dismissal.late_pickups`,
    #: counted then and kept: later roster or plan changes do not rewrite the day).
    #: None while it runs, after a reopen, and for days ended before it was kept.
    late_pickups: Mapped[int | None] = mapped_column(Integer)
    #: The same, by reason ({"called": 2, "not_called": 5, "no_plan": 1}).
    late_by_reason: Mapped[dict[str, int] | None] = mapped_column(JSON)

    @property
    def spot_count(self) -> int:
        return self.lanes * self.spots_per_lane

    def spot_label(self, spot: int | None) -> str | None:
        """Spots fill front to back across lanes: 1 -> "A1", 2 -> "B1" (two lanes)..."""
        if spot is None:
            return None
        lane, row = (spot - 1) % self.lanes, (spot - 1) // self.lanes + 1
        return f"{chr(ord('A') + lane)}{row}"


class QueueEntry(db.Model):
    """A car in a dismissal's queue, from its curb entry until it is loaded."""

    __tablename__ = "queue_entries"
    __table_args__ = (
        UniqueConstraint("dismissal_id", "family_id"),
        UniqueConstraint("dismissal_id", "position"),
        Index(
            "uq_queue_entries_dismissal_id_spot_held",
            "dismissal_id",
            "spot",
            unique=True,
            sqlite_where=text("status = 'at_spot'"),
            postgresql_where=text("status = 'at_spot'"),
        ),
        CheckConstraint("position >= 1", name="position"),
        CheckConstraint("spot IS NULL OR spot >= 1", name="spot"),
        CheckConstraint(sql_in("status", QueueStatus), name="status"),
        CheckConstraint(
            "(status = 'queued' AND spot IS NULL) "
            "OR (status = 'at_spot' AND spot IS NOT NULL) OR status = 'loaded'",
            name="spot_with_status",
        ),
        CheckConstraint("repeat_count >= 0", name="repeat_count"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dismissal_id: Mapped[int] = mapped_column(ForeignKey("dismissals.id", ondelete="CASCADE"))
    family_id: Mapped[int] = mapped_column(
        ForeignKey("families.id", ondelete="CASCADE"), index=True
    )
    #: Arrival order in the dismissal: 1..n, no gaps.
    position: Mapped[int] = mapped_column(Integer)
    #: Loading spot number (1..lanes * spots_per_lane) while at the curb; kept once loaded.
    spot: Mapped[int | None] = mapped_column(SmallInteger)
    status: Mapped[str] = mapped_column(String(16), default=QueueStatus.QUEUED.value)
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    at_spot_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    loaded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    entered_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    entered_by_device_id: Mapped[int | None] = mapped_column(
        ForeignKey("devices.id", ondelete="SET NULL"), index=True
    )
    #: How many more times the tag was entered after the first (noted, never queued twice).
    repeat_count: Mapped[int] = mapped_column(Integer, default=0)
    #: The family announced itself ("I'm here" on the family page) instead of a curb scan.
    announced_by_guardian_id: Mapped[int | None] = mapped_column(
        ForeignKey("guardians.id", ondelete="SET NULL"), index=True
    )

    family: Mapped[Family] = relationship()
    calls: Mapped[list[CalledStudent]] = relationship(
        back_populates="queue_entry", order_by="CalledStudent.id"
    )


class CurbRequest(db.Model):
    """A curb entry's client idempotency key: a retried request gets the first answer."""

    __tablename__ = "curb_requests"
    __table_args__ = (UniqueConstraint("dismissal_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dismissal_id: Mapped[int] = mapped_column(ForeignKey("dismissals.id", ondelete="CASCADE"))
    #: The client's random key for one entry attempt, the same on every retry of it.
    key: Mapped[str] = mapped_column(String(MAX_REQUEST_KEY_LENGTH))
    queue_entry_id: Mapped[int] = mapped_column(
        ForeignKey("queue_entries.id", ondelete="CASCADE"), index=True
    )
    #: The request found the car already queued (it counted as a repeat).
    repeat: Mapped[bool] = mapped_column(Boolean, default=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CalledStudent(db.Model):
    """A student called to go home in a dismissal: by a car, a bus or the walker release."""

    __tablename__ = "called_students"
    __table_args__ = (
        UniqueConstraint("dismissal_id", "student_id"),
        CheckConstraint(sql_in("mode", CallMode), name="mode"),
        CheckConstraint(sql_in("status", CallStatus), name="status"),
        CheckConstraint(
            "(mode = 'car' AND queue_entry_id IS NOT NULL) "
            "OR (mode != 'car' AND queue_entry_id IS NULL)",
            name="entry_with_car",
        ),
        CheckConstraint(
            f"(mode = 'car' AND {sql_in('status', CAR_CALL_STATUSES)}) "
            f"OR (mode != 'car' AND {sql_in('status', OTHER_CALL_STATUSES)})",
            name="status_for_mode",
        ),
        _bus_route_rule(),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dismissal_id: Mapped[int] = mapped_column(ForeignKey("dismissals.id", ondelete="CASCADE"))
    #: The car picking the student up; None for bus riders and walkers.
    queue_entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("queue_entries.id", ondelete="CASCADE"), index=True
    )
    student_id: Mapped[int] = mapped_column(
        ForeignKey("students.id", ondelete="CASCADE"), index=True
    )
    mode: Mapped[str] = mapped_column(String(16))
    bus_route: Mapped[str | None] = mapped_column(String(ROUTE_LENGTH))
    status: Mapped[str] = mapped_column(String(16), default=CallStatus.CALLED.value)
    called_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: When the teacher sent the student out of the room.
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: When the student was loaded into the car or released to the bus or on foot.
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    student: Mapped[Student] = relationship()
    queue_entry: Mapped[QueueEntry | None] = relationship(back_populates="calls")


class CarpoolStatus(StrEnum):
    """A carpool agreement: proposed by one family (pending), agreed (active), or ended."""

    PENDING = "pending"
    ACTIVE = "active"
    ENDED = "ended"


class CarpoolAgreement(db.Model):
    """Two families of a school who agree to take each other's children home by car.

    One row per pair whichever family asked first: the lower family id is `family_a_id`
    (a CHECK holds the order, a unique constraint the pair). Set up by the office (active
    at once), or proposed by a guardian of one family and confirmed by a guardian of the
    other; either side or the office ends it, and asking again reuses the row. Only an
    active agreement lets a day's plan send a child home with the other family.
    """

    __tablename__ = "carpool_agreements"
    __table_args__ = (
        UniqueConstraint("family_a_id", "family_b_id"),
        CheckConstraint("family_a_id < family_b_id", name="pair_order"),
        CheckConstraint(sql_in("status", CarpoolStatus), name="status"),
        CheckConstraint(
            "proposed_by_family_id IS NULL "
            "OR proposed_by_family_id = family_a_id OR proposed_by_family_id = family_b_id",
            name="proposer_in_pair",
        ),
        CheckConstraint(
            "status != 'pending' OR proposed_by_family_id IS NOT NULL", name="pending_proposer"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"), index=True)
    #: The family of the pair with the lower id.
    family_a_id: Mapped[int] = mapped_column(ForeignKey("families.id", ondelete="CASCADE"))
    family_b_id: Mapped[int] = mapped_column(
        ForeignKey("families.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16))
    #: The family whose guardian proposed it (the other one confirms); None when the
    #: office set it up.
    proposed_by_family_id: Mapped[int | None] = mapped_column(
        ForeignKey("families.id", ondelete="CASCADE"), index=True
    )
    proposed_by_guardian_id: Mapped[int | None] = mapped_column(
        ForeignKey("guardians.id", ondelete="SET NULL"), index=True
    )
    #: The office member who set it up (or confirmed a proposal for the families).
    set_up_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    active_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    family_a: Mapped[Family] = relationship(foreign_keys=[family_a_id])
    family_b: Mapped[Family] = relationship(foreign_keys=[family_b_id])
    proposed_by_guardian: Mapped[Guardian | None] = relationship()

    def other(self, family_id: int) -> Family:
        """The family of the pair that is not `family_id`."""
        return self.family_b if family_id == self.family_a_id else self.family_a

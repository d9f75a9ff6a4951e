"""Core models shared by every part of passline: schools, staff, devices, rosters, audit.

One module for the whole core schema (longer than a service module for that reason),
so every table and its constraints can be read in one place.

Everything except a staff account belongs to one school, and every query is scoped
by `school_id`. Timestamps are UTC (`UTCDateTime`); they are shown in the school's
time zone.

A column with a fixed set of values (a role, a device kind, a status) has a `StrEnum`
listing them; its CHECK constraint is generated from the enum with `sql_in`. Members are
strings, so `membership.role == "admin"` and `Role.ADMIN == "admin"` both hold, and rows
read back as plain strings.

Why one module (for now): the core's tables that every blueprint imports. It has
grown past the size a newcomer reads at once; moving the sign-in, guardian, family
code, substitute and mail tables into modules of their own is the planned next step.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import date, datetime, time
from enum import StrEnum
from typing import Any

from flask_babel import lazy_gettext
from flask_login import UserMixin
from sqlalchemy import (
    DDL,
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
    Time,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shared.extensions import db
from shared.timeutil import UTCDateTime, utcnow


class Role(StrEnum):
    """What a staff member does at one school (a membership)."""

    ADMIN = "admin"
    OFFICE = "office"
    TEACHER = "teacher"
    STAFF = "staff"


ROLES = tuple(Role)
ROLE_LABELS = {
    "admin": lazy_gettext("School admin"),
    "office": lazy_gettext("Front office"),
    "teacher": lazy_gettext("Teacher"),
    "staff": lazy_gettext("Curb / hall staff"),
}


class DeviceKind(StrEnum):
    """What a paired device is for."""

    KIOSK = "kiosk"
    DISPLAY = "display"
    CLASSROOM_DISPLAY = "classroom-display"
    SCANNER = "scanner"


DEVICE_KINDS = tuple(DeviceKind)
DEVICE_KIND_LABELS = {
    "kiosk": lazy_gettext("Hall pass kiosk (room)"),
    "display": lazy_gettext("Office / hallway display"),
    "classroom-display": lazy_gettext("Classroom display (room)"),
    "scanner": lazy_gettext("Curb scanner"),
}
#: Device kinds that are bound to one room.
ROOM_DEVICE_KINDS = (DeviceKind.KIOSK, DeviceKind.CLASSROOM_DISPLAY)


class DisplayPurpose(StrEnum):
    """What a `display` device shows."""

    DISMISSAL = "dismissal"
    HALLWAY = "hallway"


DISPLAY_PURPOSES = tuple(DisplayPurpose)


class RoomKind(StrEnum):
    """What a room is used for (destinations and the roster use it)."""

    CLASSROOM = "classroom"
    RESTROOM = "restroom"
    NURSE = "nurse"
    OFFICE = "office"
    LIBRARY = "library"
    COUNSELOR = "counselor"
    OTHER = "other"


ROOM_KINDS = tuple(RoomKind)

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def sql_in(column: str, values: Iterable[str], *, null_ok: bool = False) -> str:
    """CHECK constraint SQL: `column` holds one of `values` (an enum or strings), or NULL.

    The one way models turn an enum into its CHECK constraint, so the constraint lists
    exactly the enum's values. The text is part of the schema that migrations create:
    changing its form (quotes, spacing, order) would need a migration.
    """
    listed = f"{column} IN ({', '.join(repr(str(v)) for v in values)})"
    return f"{column} IS NULL OR {listed}" if null_ok else listed


class School(db.Model):
    __tablename__ = "schools"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    #: Short code used in the UI and in the CLI (e.g. "LMS").
    code: Mapped[str] = mapped_column(String(32), unique=True)
    #: IANA time zone, e.g. "America/Chicago"; every local time is shown in it.
    timezone: Mapped[str] = mapped_column(String(64), default="America/New_York")
    #: The language of its staff and devices unless they choose their own (shared/i18n.py).
    language: Mapped[str] = mapped_column(String(16), default="en", server_default="en")
    #: School-level settings (JSON object); modules read their own keys.
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: The school's id in the SIS / OneRoster `orgs.csv`.
    sourced_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    #: Loaded by `flask demo`: pages show a "demo data" banner.
    is_demo: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Set when a district admin archived the school: it leaves every list and screen
    #: (shared/schools.py); NULL for a school in use.
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None

    def __repr__(self) -> str:
        return f"<School {self.code}>"


class User(UserMixin, db.Model):
    """A staff account. Students never sign in; they use kiosks and room QR codes."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Stored lower-case; the sign-in name.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    #: argon2id hash; None means the account cannot sign in with a password yet.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: May act as admin at every school of the district.
    is_district_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Part of the session id; changing it ends every session of this user.
    session_nonce: Mapped[str] = mapped_column(String(32), default=lambda: secrets.token_hex(16))
    #: The staff member's id in the SIS / OneRoster `users.csv`.
    sourced_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Base32 secret of the authenticator app (RFC 6238), set at enrolment (shared/totp.py).
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    #: When the first code was confirmed: from then on a password sign-in asks for a code.
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The last time step whose code was accepted: a code is never accepted twice.
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    #: The staff member's own language ("es"); None: the school's (shared/i18n.py).
    language: Mapped[str | None] = mapped_column(String(16))

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )

    @property
    def is_active(self) -> bool:  # flask-login: inactive users cannot sign in
        return self.active

    def get_id(self) -> str:  # flask-login: the nonce makes old sessions invalid
        return f"{self.id}:{self.session_nonce}"

    def __repr__(self) -> str:
        return f"<User {self.id}>"


class Membership(db.Model):
    """A user's role at one school. A user may hold several roles at several schools."""

    __tablename__ = "memberships"
    __table_args__ = (
        UniqueConstraint("user_id", "school_id", "role"),
        CheckConstraint(sql_in("role", Role), name="role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))

    user: Mapped[User] = relationship(back_populates="memberships")
    school: Mapped[School] = relationship()


class StaffInvitation(db.Model):
    """A role at a school offered to an account that exists already (at another school).

    It grants nothing: the roles become memberships only when the person accepts after
    signing in, or a district admin confirms. The inviting school sees only the email
    address it typed. Accepted, declined and cancelled invitations are deleted (the
    audit log keeps what happened).
    """

    __tablename__ = "staff_invitations"
    __table_args__ = (UniqueConstraint("school_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    #: The address as the inviting admin typed it (all the inviting school may see).
    email: Mapped[str] = mapped_column(String(254))
    #: Roles offered at the school, e.g. ["teacher"].
    roles: Mapped[list[str]] = mapped_column(JSON)
    invited_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    school: Mapped[School] = relationship()


class Room(db.Model):
    """A classroom or a destination (restroom, nurse, library...)."""

    __tablename__ = "rooms"
    __table_args__ = (
        UniqueConstraint("school_id", "name"),
        CheckConstraint(sql_in("kind", RoomKind), name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16), default="classroom")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Students out at once on a hall pass from this classroom, when it differs from the
    #: school's classroom limit (hallpass/rules.py); None = the school's.
    pass_cap: Mapped[int | None] = mapped_column(Integer)

    def __repr__(self) -> str:
        return f"<Room {self.id}>"


class Student(db.Model):
    __tablename__ = "students"
    __table_args__ = (
        UniqueConstraint("school_id", "student_number"),
        UniqueConstraint("school_id", "sourced_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"))
    #: The number printed on the student's ID card (what a kiosk scans).
    student_number: Mapped[str] = mapped_column(String(64))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    preferred_name: Mapped[str | None] = mapped_column(String(100))
    #: "K", "1" ... "12", or "PK".
    grade: Mapped[str | None] = mapped_column(String(8))
    #: False once the student left the roster; history is kept.
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    sourced_id: Mapped[str | None] = mapped_column(String(255))

    @property
    def display_name(self) -> str:
        return f"{self.preferred_name or self.first_name} {self.last_name}"

    @property
    def short_name(self) -> str:
        """First name and last initial: what other students may see."""
        first = self.preferred_name or self.first_name
        return f"{first} {self.last_name[:1]}." if self.last_name else first

    def __repr__(self) -> str:
        return f"<Student {self.id}>"


class_teachers = Table(
    "class_teachers",
    db.metadata,
    Column("class_id", ForeignKey("classes.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_class_teachers_user_id", "user_id"),
)


class SchoolClass(db.Model):
    """A class section: a group of students with teacher(s), in a room, in a period."""

    __tablename__ = "classes"
    __table_args__ = (UniqueConstraint("school_id", "sourced_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    room_id: Mapped[int | None] = mapped_column(
        ForeignKey("rooms.id", ondelete="SET NULL"), index=True
    )
    #: Name of the bell-schedule period the class meets in ("1", "2", "Homeroom"...).
    period: Mapped[str | None] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    sourced_id: Mapped[str | None] = mapped_column(String(255))

    room: Mapped[Room | None] = relationship()
    teachers: Mapped[list[User]] = relationship(secondary=class_teachers)
    enrollments: Mapped[list[Enrollment]] = relationship(
        back_populates="school_class", cascade="all, delete-orphan"
    )

    def __repr__(self) -> str:
        return f"<SchoolClass {self.id}>"


class Enrollment(db.Model):
    __tablename__ = "enrollments"
    __table_args__ = (UniqueConstraint("class_id", "student_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id", ondelete="CASCADE"))
    student_id: Mapped[int] = mapped_column(
        ForeignKey("students.id", ondelete="CASCADE"), index=True
    )

    school_class: Mapped[SchoolClass] = relationship(back_populates="enrollments")
    student: Mapped[Student] = relationship()


class BellPeriod(db.Model):
    """One period of the bell schedule on one weekday (0 = Monday)."""

    __tablename__ = "bell_periods"
    __table_args__ = (
        UniqueConstraint("school_id", "weekday", "name"),
        CheckConstraint("weekday >= 0 AND weekday <= 6", name="weekday"),
        CheckConstraint("start_time < end_time", name="start_before_end"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(32))
    weekday: Mapped[int] = mapped_column(SmallInteger)
    #: Local wall-clock times in the school's time zone.
    start_time: Mapped[time] = mapped_column(Time)
    end_time: Mapped[time] = mapped_column(Time)


family_students = Table(
    "family_students",
    db.metadata,
    Column("family_id", ForeignKey("families.id", ondelete="CASCADE"), primary_key=True),
    Column("student_id", ForeignKey("students.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_family_students_student_id", "student_id"),
)


class Family(db.Model):
    """A household or carpool picking students up by car, known by its tag number."""

    __tablename__ = "families"
    __table_args__ = (
        UniqueConstraint("school_id", "tag_number"),
        CheckConstraint("tag_number > 0", name="tag_number_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"))
    #: The number on the hang tag, unique in the school.
    tag_number: Mapped[int] = mapped_column(Integer)
    #: Free text: the adults allowed to pick up, one per line.
    pickup_adults: Mapped[str] = mapped_column(Text, default="")
    #: Custody or "do not release to ..." note, shown prominently at the curb and the
    #: reunification gates.
    release_note: Mapped[str] = mapped_column(Text, default="", server_default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    students: Mapped[list[Student]] = relationship(secondary=family_students)


class GuardianLanguage(StrEnum):
    """The language a guardian reads: their family page and their mails."""

    EN = "en"
    ES = "es"


GUARDIAN_LANGUAGES = tuple(GuardianLanguage)
GUARDIAN_LANGUAGE_LABELS = {"en": "English", "es": "Español"}


class Guardian(db.Model):
    """An adult of a family: may pick the children up (or must not), and signs in to the
    family page with a single-use link mailed to `email` (never a password).

    `mobile` is stored for the office to call; nothing is ever texted to it.
    """

    __tablename__ = "guardians"
    __table_args__ = (
        Index(
            "uq_guardians_family_id_email",
            "family_id",
            "email",
            unique=True,
            sqlite_where=text("email IS NOT NULL"),
            postgresql_where=text("email IS NOT NULL"),
        ),
        Index("ix_guardians_email", "email"),
        CheckConstraint(sql_in("language", GuardianLanguage), name="language"),
        UniqueConstraint("school_id", "sourced_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"), index=True)
    family_id: Mapped[int] = mapped_column(
        ForeignKey("families.id", ondelete="CASCADE"), index=True
    )
    #: (Before the `relationship` column below, whose name hides SQLAlchemy's function.)
    family: Mapped[Family] = relationship()
    name: Mapped[str] = mapped_column(String(200))
    #: Stored lower-case; where the sign-in links go. None: no mail (a family code instead).
    email: Mapped[str | None] = mapped_column(String(254))
    #: For the office to call; never texted (no SMS provider sees student data).
    mobile: Mapped[str | None] = mapped_column(String(32))
    #: "en" or "es": the family page's and the mails' language.
    language: Mapped[str] = mapped_column(String(8), default="en")
    #: "Mother", "Grandfather", "Aunt"... as the office or the SIS says.
    relationship: Mapped[str] = mapped_column(String(60), default="")
    #: False: listed at the curb as someone the children must not be released to.
    may_pick_up: Mapped[bool] = mapped_column(Boolean, default=True)
    #: For the office and the curb ("Do not release to ..." notes are shown prominently).
    note: Mapped[str] = mapped_column(Text, default="")
    #: The guardian's OneRoster user sourcedId (a parent, guardian or relative user), so
    #: a OneRoster import finds them again; None for guardians from the office or a CSV.
    sourced_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:
        return f"<Guardian {self.id}>"


class GuardianSession(db.Model):
    """A guardian signed in on one phone: the family page, for months, until ended.

    Started by a single-use link mailed to the guardian (shared/account_links.py); the
    phone keeps a random token in a cookie of its own and only its SHA-256 is stored,
    so a copy of this table cannot be replayed. The office (on the family screen) and
    the guardian (on the family page) can end it at once.
    """

    __tablename__ = "guardian_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"), index=True)
    guardian_id: Mapped[int] = mapped_column(
        ForeignKey("guardians.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: What the phone said it is ("iPhone, Safari"), for the office's list; no address.
    label: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Last request (written at most once an hour).
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: signout, office, expired, removed, code (its family code was revoked)
    end_reason: Mapped[str | None] = mapped_column(String(16))
    #: The family code this phone signed in with (None: a mailed link); revoking the
    #: code ends the sessions it started.
    family_code_id: Mapped[int | None] = mapped_column(
        ForeignKey("family_codes.id", ondelete="SET NULL"), index=True
    )

    guardian: Mapped[Guardian] = relationship()


class FamilyCode(db.Model):
    """A guardian's family code, printed on a letter home for families without email.

    Typed at the family sign-in page (or read from the letter's QR code), it starts a
    family session like a mailed link, as often as it is used, until the office
    revokes it or prints a new letter. Only its SHA-256 is stored: a lost letter is
    replaced, never reprinted. At most one code of a guardian is live (the partial
    unique index).
    """

    __tablename__ = "family_codes"
    __table_args__ = (
        Index(
            "uq_family_codes_guardian_id_live",
            "guardian_id",
            unique=True,
            sqlite_where=text("revoked_at IS NULL"),
            postgresql_where=text("revoked_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"), index=True)
    guardian_id: Mapped[int] = mapped_column(
        ForeignKey("guardians.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: The office member who printed the letter.
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    #: Last sign-in with it (for the office's list).
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    guardian: Mapped[Guardian] = relationship()


class Device(db.Model):
    """A paired tablet, screen or phone with a limited session bound to one purpose."""

    __tablename__ = "devices"
    __table_args__ = (
        CheckConstraint(sql_in("kind", DeviceKind), name="kind"),
        CheckConstraint(sql_in("purpose", DisplayPurpose, null_ok=True), name="purpose"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    #: The room a kiosk or classroom display belongs to.
    room_id: Mapped[int | None] = mapped_column(
        ForeignKey("rooms.id", ondelete="CASCADE"), index=True
    )
    #: What a `display` shows: the dismissal screen or the hallway overview.
    purpose: Mapped[str | None] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(100))
    #: SHA-256 of the device's session secret; the secret itself lives only in its cookie.
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    paired_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    paired_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The screen's language ("es"); None: the school's (shared/i18n.py).
    language: Mapped[str | None] = mapped_column(String(16))

    room: Mapped[Room | None] = relationship()
    paired_by: Mapped[User | None] = relationship()

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def __repr__(self) -> str:
        return f"<Device {self.id} {self.kind}>"


class PairingCode(db.Model):
    """A short one-time code that pairs a device; only its hash is stored."""

    __tablename__ = "pairing_codes"
    __table_args__ = (
        CheckConstraint(sql_in("kind", DeviceKind), name="kind"),
        CheckConstraint(sql_in("purpose", DisplayPurpose, null_ok=True), name="purpose"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(24))
    room_id: Mapped[int | None] = mapped_column(
        ForeignKey("rooms.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[str | None] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(100))
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: Set once, atomically, when a device redeems the code.
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    device_id: Mapped[int | None] = mapped_column(
        ForeignKey("devices.id", ondelete="SET NULL"), index=True
    )

    room: Mapped[Room | None] = relationship()


class AuditEvent(db.Model):
    """Append-only record of who did what, when and from where. Never holds secrets."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_school_id_at", "school_id", "at"),
        # A school's events of some actions, newest first; and its list of actions.
        Index("ix_audit_events_school_id_action_at", "school_id", "action", "at"),
        # One student's (or pass's, car's) events: the records page and the export.
        Index("ix_audit_events_target_type_target_id", "target_type", "target_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int | None] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    actor_device_id: Mapped[int | None] = mapped_column(
        ForeignKey("devices.id", ondelete="SET NULL"), index=True
    )
    #: Who acted, as it read at the time ("a.smith@…", "device: Kiosk 114", "system").
    actor_label: Mapped[str] = mapped_column(String(254))
    #: Dotted verb, e.g. "auth.login", "device.revoke", "roster.import".
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[int | None] = mapped_column(Integer)
    client_address: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


#: The audit log is append-only: the database itself refuses to change an event.
#: (Old events may still be deleted, by the retention purge.)
AUDIT_APPEND_ONLY_SQLITE = """
CREATE TRIGGER audit_events_append_only BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END
"""
AUDIT_APPEND_ONLY_POSTGRESQL = """
CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger AS $$
BEGIN RAISE EXCEPTION 'audit events are append-only'; END $$ LANGUAGE plpgsql;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE ON audit_events
FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
"""
event.listen(
    AuditEvent.__table__,
    "after_create",
    DDL(AUDIT_APPEND_ONLY_SQLITE).execute_if(dialect="sqlite"),
)
event.listen(
    AuditEvent.__table__,
    "after_create",
    DDL(AUDIT_APPEND_ONLY_POSTGRESQL).execute_if(dialect="postgresql"),
)


class LiveVersion(db.Model):
    """Change counter of one live topic at one school (e.g. "hallway", "dismissal").

    Bumped in the same transaction as the change it announces; screens poll with the
    version they show and get 204 while it is unchanged.
    """

    __tablename__ = "live_versions"

    school_id: Mapped[int] = mapped_column(
        ForeignKey("schools.id", ondelete="CASCADE"), primary_key=True
    )
    topic: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=1)


class UserSession(db.Model):
    """A staff sign-in, held on the server so sign-out and deactivation end it at once.

    The browser's (signed) session cookie carries a random token; only its SHA-256 is
    stored here, so a copy of this table cannot be replayed as a cookie.
    """

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Last request that was not a live poll (written at most once a minute).
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: signout, idle, expired, password, deactivated, reset
    end_reason: Mapped[str | None] = mapped_column(String(16))


class LoginThrottle(db.Model):
    """Failed sign-ins per account or client address in the current window.

    Used when no Redis is configured; every process of the app shares it through the
    database. The key is a hash, never an email address.
    """

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    failures: Mapped[int] = mapped_column(Integer)


class LinkPurpose(StrEnum):
    """What a single-use account link is for (shared/account_links.py)."""

    INVITE = "invite"
    RESET = "reset"
    #: A guardian's sign-in to the family page (15 minutes).
    FAMILY = "family"


class AccountLink(db.Model):
    """A single-use link to set a password: an invitation or a password reset.

    Only the SHA-256 of the link's token is stored. The token is an HMAC (keyed by the
    app's SECRET_KEY) of `nonce`, so the mail outbox can put the link into the message
    when it sends it without the token ever being written down; the nonce is cleared
    once the mail is sent or the link was shown to an admin, after which nothing here
    can rebuild the link.
    """

    __tablename__ = "account_links"
    __table_args__ = (
        CheckConstraint(sql_in("purpose", LinkPurpose), name="purpose"),
        CheckConstraint(
            "(purpose = 'family' AND guardian_id IS NOT NULL AND user_id IS NULL) "
            "OR (purpose != 'family' AND user_id IS NOT NULL AND guardian_id IS NULL)",
            name="one_owner",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The staff account (invitations, resets); None for a guardian's sign-in link.
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    #: The guardian a family sign-in link is for.
    guardian_id: Mapped[int | None] = mapped_column(
        ForeignKey("guardians.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[str] = mapped_column(String(8))
    #: SHA-256 of the token in the link; the token itself is not stored.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: Random input of the token's HMAC, kept only until the mail with the link is sent.
    nonce: Mapped[str | None] = mapped_column(String(64))
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: Set once, atomically, when the link is used (or replaced by a newer one).
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User | None] = relationship(foreign_keys=[user_id])
    guardian: Mapped[Guardian | None] = relationship()


class OutboxMail(db.Model):
    """A mail waiting to be sent (or sent, or given up on), written in the transaction
    that asked for it, so nothing acknowledged to the user is lost (shared/mail.py)."""

    __tablename__ = "mail_outbox"
    __table_args__ = (
        Index("ix_mail_outbox_due", "sent_at", "failed_at", "next_attempt_at"),
        Index("ix_mail_outbox_school_id_created_at", "school_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The school whose admins see how the mail went (the recipient's first school).
    school_id: Mapped[int | None] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    #: A mail to a guardian (a sign-in link, a confirmation), removed with the guardian.
    guardian_id: Mapped[int | None] = mapped_column(
        ForeignKey("guardians.id", ondelete="CASCADE"), index=True
    )
    #: The account link whose URL the sender puts where the body says {link}.
    link_id: Mapped[int | None] = mapped_column(
        ForeignKey("account_links.id", ondelete="CASCADE"), index=True
    )
    #: A substitute's sign-in code, which the sender puts where the body says {code}
    #: (shared/substitutes.py); removed with the substitute's day.
    substitute_id: Mapped[int | None] = mapped_column(
        ForeignKey("substitute_assignments.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    to_address: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: When a sender may take it next (pushed ahead while one is sending it: a lease).
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Set when the sender gave up (too many attempts, or its link expired).
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Why the last attempt failed: the error's kind and SMTP code, never the address.
    last_error: Mapped[str | None] = mapped_column(String(200))

    user: Mapped[User | None] = relationship()


class RecoveryCode(db.Model):
    """A one-time code that stands in for the authenticator app; only its hash is stored."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    #: SHA-256 of the code (80 random bits, so a plain hash is enough).
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Set once, atomically, when the code is used.
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DistrictSetting(db.Model):
    """A setting of the whole district (not of one school), changed by a district admin."""

    __tablename__ = "district_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# ------------------------------------------------------------------ single sign-on


class SsoProviderKind(StrEnum):
    """Which kind of OpenID provider: each kind has its own issuer and domain claim."""

    GOOGLE = "google"
    MICROSOFT = "microsoft"
    CLASSLINK = "classlink"
    OIDC = "oidc"


SSO_PROVIDER_KINDS = tuple(SsoProviderKind)


class SsoProvider(db.Model):
    """An OpenID provider staff may sign in with, set up by a district admin
    (shared/sso_providers.py).

    Providers from the environment (`SSO_PROVIDERS`) are not stored here; both kinds
    have a `key` that names them in the callback URL and in `sso_identities`.
    """

    __tablename__ = "sso_providers"
    __table_args__ = (CheckConstraint(sql_in("kind", SsoProviderKind), name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Short name in the redirect URI registered at the provider (/sso/<key>/callback).
    key: Mapped[str] = mapped_column(String(40), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    #: The sign-in button reads "Sign in with <label>".
    label: Mapped[str] = mapped_column(String(100))
    #: The issuer URL; its discovery document is <issuer>/.well-known/openid-configuration.
    issuer: Mapped[str] = mapped_column(String(500))
    #: Microsoft Entra only: the directory (tenant) id the `tid` claim must carry.
    tenant_id: Mapped[str | None] = mapped_column(String(36))
    client_id: Mapped[str] = mapped_column(String(255))
    #: The client secret encrypted with a key derived from SECRET_KEY; never shown.
    client_secret_sealed: Mapped[str] = mapped_column(Text)
    #: Email domains that may sign in with this provider, e.g. ["district.org"].
    domains: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: Domains whose unknown staff get an account without a role at first sign-in.
    self_registration_domains: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: False: staff of `domains` may no longer sign in with a password (district
    #: admins still may: the break-glass way in).
    password_sign_in: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SsoIdentity(db.Model):
    """Who a staff account is at a provider (its `sub`), linked at the first SSO sign-in.

    A later sign-in must bring the same subject: an address the provider gave to
    someone else (a new `sub` for the same email) is refused until an admin unlinks it.
    """

    __tablename__ = "sso_identities"
    __table_args__ = (
        UniqueConstraint("provider_key", "subject"),
        UniqueConstraint("provider_key", "user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    #: The provider's key (`sso_providers.key`, or one from the environment).
    provider_key: Mapped[str] = mapped_column(String(40))
    #: The provider's stable id of the person (the ID token's `sub`).
    subject: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SubstituteAssignment(db.Model):
    """A substitute's day at a school: teacher-level access to one absent teacher's rooms
    and classes, for one local school day (shared/substitutes.py).

    The substitute has no account: they sign in once with a random code given to them by
    the office (only its keyed SHA-256 is stored, `code_hash`), and the browser then holds
    a random session token of its own (`session_token_hash`, a SHA-256 too). The access
    ends at `expires_at` (the end of `day` in the school's time zone) or at `revoked_at`,
    whichever comes first; both are checked on every request.
    """

    __tablename__ = "substitute_assignments"
    __table_args__ = (
        CheckConstraint("expires_at > created_at", name="expires_after_created"),
        CheckConstraint("length(name) > 0", name="name_given"),
        Index("ix_substitute_assignments_school_id_day", "school_id", "day"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"))
    #: The absent teacher: the substitute acts on this teacher's rooms and classes only.
    teacher_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    #: The school's local calendar day the access is for.
    day: Mapped[date] = mapped_column(Date)
    #: The substitute's name as the audit log and the reports show it.
    name: Mapped[str] = mapped_column(String(100))
    #: An email address or a phone number to reach the substitute ("" when none given).
    contact: Mapped[str] = mapped_column(String(254), default="")
    #: Keyed SHA-256 of the one-time sign-in code; None once a new code replaced it.
    code_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    #: When the code was used (it works once).
    code_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The random value the code is derived from (an HMAC keyed by SECRET_KEY), kept only
    #: while a mail with the code waits to be sent, so nothing stored rebuilds it after.
    code_nonce: Mapped[str | None] = mapped_column(String(64))
    #: SHA-256 of the token in the signed-in browser's cookie (None before sign-in).
    session_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )

    teacher: Mapped[User] = relationship(foreign_keys=[teacher_id])

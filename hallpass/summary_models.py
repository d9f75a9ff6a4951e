"""The daily summary of hall passes, kept so a report over a year reads thousands of rows,
not half a million passes each computed again (docs/performance.md, issue 25).

Two tables:
- `hall_pass_summary_days`: one row per school and *closed* local day that has been
  summarized, with the day's bounds in UTC ([starts_at, ends_at)). A day is closed when it
  is over and none of its passes is still active (their minutes no longer depend on "now").
- `hall_pass_summaries`: that day's passes grouped by everything a report filters or groups
  by (student, destination, who issued, bell period, hour), with their count, minutes out
  of class and overdue count. The rows belong to their day (a foreign key, ON DELETE
  CASCADE): deleting a day's marker deletes its figures in the same statement.

The summary can never disagree with the passes silently, because the database itself
forgets a day as soon as anything it was computed from changes: triggers (below) delete a
day's marker, and so its figures, whenever a pass started in that day is inserted, changed
or deleted (retention purge, a deleted student or destination, an edit); every day of a
school when its bell schedule or its time zone changes. A forgotten day is read from the
passes themselves until housekeeping summarizes it again (`hallpass.reports.summary`).
The student, destination and issuer columns carry the passes' own foreign-key actions
(CASCADE, CASCADE, SET NULL), so even the rows themselves follow a deletion.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    DDL,
    Date,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column

from shared.extensions import db
from shared.timeutil import UTCDateTime


class HallPassSummaryDay(db.Model):
    """A closed local day of a school whose passes are in `hall_pass_summaries`."""

    __tablename__ = "hall_pass_summary_days"
    __table_args__ = (
        #: The triggers find the day a pass's start falls in: by its end, so a change to
        #: one of today's passes (no summarized day ends after it) finds none at once.
        Index("ix_hall_pass_summary_days_school_id_ends_at", "school_id", "ends_at"),
    )

    school_id: Mapped[int] = mapped_column(
        ForeignKey("schools.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    #: The day's first instant in UTC (its local midnight).
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: The next day's first instant in UTC.
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: When housekeeping summarized it.
    built_at: Mapped[datetime] = mapped_column(UTCDateTime)


class HallPassSummary(db.Model):
    """The passes of one closed day with the same student, destination, issuer, period
    and hour: how many, their minutes out of class, how many were overdue."""

    __tablename__ = "hall_pass_summaries"
    __table_args__ = (
        ForeignKeyConstraint(
            ["school_id", "day"],
            ["hall_pass_summary_days.school_id", "hall_pass_summary_days.day"],
            ondelete="CASCADE",
        ),
        #: Reports read a school's days in a range (and the day's marker foreign key).
        Index("ix_hall_pass_summaries_school_id_day", "school_id", "day"),
        #: A teacher's (or one student's) report reads their students' rows from this
        #: index alone (the student foreign key's index too).
        Index(
            "ix_hall_pass_summaries_student_id_day",
            "student_id",
            "day",
            "destination_id",
            "issued_by_id",
            "period",
            "hour",
            "passes",
            "minutes",
            "overdue",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(Integer)
    day: Mapped[date] = mapped_column(Date)
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id", ondelete="CASCADE"))
    destination_id: Mapped[int] = mapped_column(
        ForeignKey("destinations.id", ondelete="CASCADE"), index=True
    )
    issued_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    #: The bell period's name, or "outside periods" (`scope.NO_PERIOD`).
    period: Mapped[str] = mapped_column(String(32))
    #: Local hour of the passes' start, 0-23.
    hour: Mapped[int] = mapped_column(Integer)
    passes: Mapped[int] = mapped_column(Integer)
    minutes: Mapped[float] = mapped_column(Float)
    overdue: Mapped[int] = mapped_column(Integer)


class HallPassSummaryGroup(db.Model):
    """The passes of one closed day in one group of the report page (a destination, an
    issuer, a bell period or an hour): how many, their minutes, how many were overdue,
    and which students (a bitmap of their `HallPassSummarySlot.slot`s), so a year is
    read from about 125 rows a day instead of a row per student and group, and "students"
    is the count of the days' bitmaps OR'd together (docs/performance.md, fourth part).
    Built with its day's `HallPassSummary` rows and forgotten with its day (the same
    marker, ON DELETE CASCADE)."""

    __tablename__ = "hall_pass_summary_groups"
    __table_args__ = (
        ForeignKeyConstraint(
            ["school_id", "day"],
            ["hall_pass_summary_days.school_id", "hall_pass_summary_days.day"],
            ondelete="CASCADE",
        ),
        #: The page reads a school's days in a range (and the day's marker foreign key).
        Index("ix_hall_pass_summary_groups_school_id_day", "school_id", "day"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(Integer)
    day: Mapped[date] = mapped_column(Date)
    #: "destination", "teacher" (who issued), "period" or "hour" (`summary.GROUPINGS`).
    grouping: Mapped[str] = mapped_column(String(16))
    #: The group's key as text: a destination's or issuer's id (NULL: nobody issued
    #: it), a period's name (or `scope.NO_PERIOD`), an hour 0-23.
    key: Mapped[str | None] = mapped_column(String(32))
    passes: Mapped[int] = mapped_column(Integer)
    minutes: Mapped[float] = mapped_column(Float)
    overdue: Mapped[int] = mapped_column(Integer)
    #: Bit n set: the student of slot n had a pass in the group that day (little-endian).
    students: Mapped[bytes] = mapped_column(LargeBinary)


class HallPassSummarySlot(db.Model):
    """A student's place in the bitmaps of `HallPassSummaryGroup`: small numbers, dense
    per school (student ids are spread over every school of the database). Given when
    a day with the student's passes is first summarized; a deleted student's slot goes
    with them (their passes, and so every day whose bitmaps named them, are forgotten by
    the triggers below), so a slot given again names nobody else's old bits."""

    __tablename__ = "hall_pass_summary_slots"
    __table_args__ = (UniqueConstraint("school_id", "slot"),)

    student_id: Mapped[int] = mapped_column(
        ForeignKey("students.id", ondelete="CASCADE"), primary_key=True
    )
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"))
    slot: Mapped[int] = mapped_column(Integer)


#: A pass's change forgets the day its start falls in (before and after the change); a
#: change of the bell schedule or of the school's time zone forgets every day of the school.
#: SQLite: one statement per trigger (executed one at a time).
SUMMARY_TRIGGERS_SQLITE = [
    """CREATE TRIGGER hall_pass_summary_insert AFTER INSERT ON hall_passes BEGIN
  DELETE FROM hall_pass_summary_days WHERE school_id = NEW.school_id
    AND starts_at <= NEW.started_at AND NEW.started_at < ends_at;
END""",
    """CREATE TRIGGER hall_pass_summary_update AFTER UPDATE OF
  school_id, student_id, destination_id, issued_by_id, started_at, ended_at,
  time_limit_minutes, status ON hall_passes BEGIN
  DELETE FROM hall_pass_summary_days WHERE school_id = OLD.school_id
    AND starts_at <= OLD.started_at AND OLD.started_at < ends_at;
  DELETE FROM hall_pass_summary_days WHERE school_id = NEW.school_id
    AND starts_at <= NEW.started_at AND NEW.started_at < ends_at;
END""",
    """CREATE TRIGGER hall_pass_summary_delete AFTER DELETE ON hall_passes BEGIN
  DELETE FROM hall_pass_summary_days WHERE school_id = OLD.school_id
    AND starts_at <= OLD.started_at AND OLD.started_at < ends_at;
END""",
    """CREATE TRIGGER hall_pass_summary_bell_insert AFTER INSERT ON bell_periods BEGIN
  DELETE FROM hall_pass_summary_days WHERE school_id = NEW.school_id;
END""",
    """CREATE TRIGGER hall_pass_summary_bell_update AFTER UPDATE ON bell_periods BEGIN
  DELETE FROM hall_pass_summary_days WHERE school_id IN (OLD.school_id, NEW.school_id);
END""",
    """CREATE TRIGGER hall_pass_summary_bell_delete AFTER DELETE ON bell_periods BEGIN
  DELETE FROM hall_pass_summary_days WHERE school_id = OLD.school_id;
END""",
    """CREATE TRIGGER hall_pass_summary_timezone AFTER UPDATE OF timezone ON schools BEGIN
  DELETE FROM hall_pass_summary_days WHERE school_id = NEW.id;
END""",
]

SUMMARY_TRIGGERS_POSTGRESQL = [
    """
CREATE OR REPLACE FUNCTION hall_pass_summary_forget() RETURNS trigger AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    DELETE FROM hall_pass_summary_days WHERE school_id = OLD.school_id
      AND starts_at <= OLD.started_at AND OLD.started_at < ends_at;
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN
    DELETE FROM hall_pass_summary_days WHERE school_id = NEW.school_id
      AND starts_at <= NEW.started_at AND NEW.started_at < ends_at;
  END IF;
  RETURN NULL;
END $$ LANGUAGE plpgsql""",
    """
CREATE TRIGGER hall_pass_summary_forget
AFTER INSERT OR DELETE OR UPDATE OF
  school_id, student_id, destination_id, issued_by_id, started_at, ended_at,
  time_limit_minutes, status
  ON hall_passes
FOR EACH ROW EXECUTE FUNCTION hall_pass_summary_forget()""",
    """
CREATE OR REPLACE FUNCTION hall_pass_summary_forget_school() RETURNS trigger AS $$
BEGIN
  IF TG_TABLE_NAME = 'schools' THEN
    DELETE FROM hall_pass_summary_days WHERE school_id = NEW.id;
    RETURN NULL;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    DELETE FROM hall_pass_summary_days WHERE school_id = OLD.school_id;
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN
    DELETE FROM hall_pass_summary_days WHERE school_id = NEW.school_id;
  END IF;
  RETURN NULL;
END $$ LANGUAGE plpgsql""",
    """
CREATE TRIGGER hall_pass_summary_bell AFTER INSERT OR UPDATE OR DELETE ON bell_periods
FOR EACH ROW EXECUTE FUNCTION hall_pass_summary_forget_school()""",
    """
CREATE TRIGGER hall_pass_summary_timezone AFTER UPDATE OF timezone ON schools
FOR EACH ROW EXECUTE FUNCTION hall_pass_summary_forget_school()""",
]

#: What the migration's downgrade removes.
SUMMARY_TRIGGER_NAMES = {
    "sqlite": [
        ("hall_pass_summary_insert", None),
        ("hall_pass_summary_update", None),
        ("hall_pass_summary_delete", None),
        ("hall_pass_summary_bell_insert", None),
        ("hall_pass_summary_bell_update", None),
        ("hall_pass_summary_bell_delete", None),
        ("hall_pass_summary_timezone", None),
    ],
    "postgresql": [
        ("hall_pass_summary_forget", "hall_passes"),
        ("hall_pass_summary_bell", "bell_periods"),
        ("hall_pass_summary_timezone", "schools"),
    ],
}
SUMMARY_FUNCTIONS_POSTGRESQL = ["hall_pass_summary_forget", "hall_pass_summary_forget_school"]

# The triggers are created once every table is (they name passes, bell periods, schools).
for _statement in SUMMARY_TRIGGERS_SQLITE:
    event.listen(db.metadata, "after_create", DDL(_statement).execute_if(dialect="sqlite"))
for _statement in SUMMARY_TRIGGERS_POSTGRESQL:
    event.listen(db.metadata, "after_create", DDL(_statement).execute_if(dialect="postgresql"))

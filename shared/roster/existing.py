"""The school's current rows as the roster import's planner compares them (loaded once each).

Its own module so that a plan (results.py) can hold them and the planner (planning.py)
can fill them without the two importing each other.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cached_property

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from shared.extensions import db
from shared.models import (
    BellPeriod,
    Enrollment,
    Family,
    Guardian,
    Membership,
    Room,
    SchoolClass,
    Student,
    User,
)

#: Values per IN (...) list in bulk queries.
CHUNK = 500


class Existing:
    """The school's current rows, each kind loaded once (on first use) into dicts."""

    def __init__(self, school_id: int) -> None:
        self.school_id = school_id
        #: Accounts by email: staff of this school plus accounts named by the import.
        self.accounts: dict[str, User] = {}

    @cached_property
    def rooms(self) -> dict[str, Room]:
        rooms = db.session.scalars(
            select(Room).where(Room.school_id == self.school_id).order_by(Room.id)
        )
        by_name: dict[str, Room] = {}
        for room in rooms:
            by_name.setdefault(room.name.casefold(), room)
        return by_name

    @cached_property
    def students(self) -> list[Student]:
        return list(
            db.session.scalars(
                select(Student).where(Student.school_id == self.school_id).order_by(Student.id)
            )
        )

    @cached_property
    def students_by_number(self) -> dict[str, Student]:
        return {student.student_number: student for student in self.students}

    @cached_property
    def students_by_sourced_id(self) -> dict[str, Student]:
        return {s.sourced_id: s for s in self.students if s.sourced_id}

    @cached_property
    def classes(self) -> dict[str, SchoolClass]:
        """Classes that came from an import (they have a class id), by class id."""
        query = (
            select(SchoolClass)
            .where(SchoolClass.school_id == self.school_id, SchoolClass.sourced_id.is_not(None))
            .options(selectinload(SchoolClass.teachers), selectinload(SchoolClass.room))
        )
        return {c.sourced_id: c for c in db.session.scalars(query)}

    @cached_property
    def enrollments(self) -> dict[tuple[int, int], int]:
        """(class id, student id) -> enrollment id, for the classes of `classes`."""
        rows = db.session.execute(
            select(Enrollment.id, Enrollment.class_id, Enrollment.student_id)
            .join(SchoolClass, SchoolClass.id == Enrollment.class_id)
            .where(SchoolClass.school_id == self.school_id, SchoolClass.sourced_id.is_not(None))
        )
        return {(row.class_id, row.student_id): row.id for row in rows}

    @cached_property
    def bell_periods(self) -> dict[tuple[str, int], BellPeriod]:
        periods = db.session.scalars(
            select(BellPeriod).where(BellPeriod.school_id == self.school_id)
        )
        return {(p.name, p.weekday): p for p in periods}

    @cached_property
    def families(self) -> dict[int, Family]:
        families = db.session.scalars(
            select(Family)
            .where(Family.school_id == self.school_id)
            .options(selectinload(Family.students))
        )
        return {family.tag_number: family for family in families}

    @cached_property
    def guardians(self) -> list[Guardian]:
        return list(
            db.session.scalars(
                select(Guardian).where(Guardian.school_id == self.school_id).order_by(Guardian.id)
            )
        )

    @cached_property
    def guardians_by_sourced_id(self) -> dict[str, Guardian]:
        """Guardians a OneRoster import made or linked, by their user sourcedId."""
        return {g.sourced_id: g for g in self.guardians if g.sourced_id}

    def load_accounts(self, emails: Iterable[str]) -> None:
        """Load this school's staff and the accounts with these emails (memberships too)."""
        members = select(Membership.user_id).where(Membership.school_id == self.school_id)
        query = select(User).options(selectinload(User.memberships))
        found = list(db.session.scalars(query.where(User.id.in_(members))))
        wanted = sorted(set(emails) - {user.email.lower() for user in found})
        for start in range(0, len(wanted), CHUNK):
            chunk = wanted[start : start + CHUNK]
            found += db.session.scalars(query.where(func.lower(User.email).in_(chunk)))
        self.accounts = {user.email.lower(): user for user in found}

    def user_sourced_ids(self, sourced_ids: set[str]) -> dict[str, int]:
        """sourced id -> id of the account holding it, for the given ids."""
        if not sourced_ids:
            return {}
        rows = db.session.execute(
            select(User.sourced_id, User.id).where(User.sourced_id.in_(sorted(sourced_ids)))
        )
        return {row.sourced_id: row.id for row in rows}

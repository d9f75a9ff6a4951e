"""How far today's dismissal has come: what the office numbers, the curb list and the TV read.

Counts of cars and called students by status, today's bus routes and walker groups
with how many are still waiting, the cars at the loading spots and the next ones in
line, and the called students as the TV and the classrooms list them. Plain queries
scoped to one dismissal; nothing here writes (the writes are `carline.dismissal` and
`carline.curb`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from carline.day_plans import day_plans
from carline.dismissal import UNDO_WINDOW
from carline.models import GONE_STATUSES, CalledStudent, Dismissal, QueueEntry
from carline.settings import carline_settings
from shared.extensions import db
from shared.models import Family, School, Student
from shared.timeutil import utcnow

#: How many waiting cars the curb list shows after the cars at the spots.
QUEUED_SHOWN = 12


# Status numbers for the office


@dataclass(frozen=True)
class Status:
    """How far the dismissal has come: cars by queue status, students by call status."""

    cars: Counter
    calls: Counter
    buses: list[str]

    @property
    def cars_total(self) -> int:
        return sum(self.cars.values())

    @property
    def students_waiting(self) -> int:
        return self.calls["called"] + self.calls["sent"]


def _count_by_status(model: type[QueueEntry | CalledStudent], dismissal: Dismissal) -> Counter:
    """How many of the dismissal's cars (or called students) are in each status."""
    return Counter(
        dict(
            db.session.execute(
                select(model.status, func.count(model.id))
                .where(model.dismissal_id == dismissal.id)
                .group_by(model.status)
            ).all()
        )
    )


def status(dismissal: Dismissal) -> Status:
    """Counts of cars (queued, at_spot, loaded) and called students by status."""
    cars = _count_by_status(QueueEntry, dismissal)
    calls = _count_by_status(CalledStudent, dismissal)
    buses = sorted(
        db.session.scalars(
            select(CalledStudent.bus_route)
            .where(CalledStudent.dismissal_id == dismissal.id, CalledStudent.mode == "bus")
            .distinct()
        ),
        key=_route_order,
    )
    return Status(cars, calls, buses)


def _route_order(route: str) -> tuple[int, int, str]:
    return (0, int(route), "") if route.isascii() and route.isdigit() else (1, 0, route)


@dataclass(frozen=True)
class BusRoute:
    """A bus route with riders today, and how many of them are called already."""

    route: str
    riders: int
    called: int


def bus_routes(school: School, dismissal: Dismissal) -> list[BusRoute]:
    """Today's bus routes (from the day's plans), in route order."""
    riders = Counter(
        plan.bus_route
        for plan in day_plans(school.id, dismissal.day).values()
        if plan.mode == "bus" and plan.early_pickup is None
    )
    called = Counter(
        db.session.scalars(
            select(CalledStudent.bus_route).where(
                CalledStudent.dismissal_id == dismissal.id, CalledStudent.mode == "bus"
            )
        )
    )
    return [BusRoute(r, riders[r], called[r]) for r in sorted(riders, key=_route_order)]


@dataclass(frozen=True)
class WalkerGroup:
    """Walkers of one grade (or behind one door) today, and how many are not called yet."""

    label: str
    grades: list[str]
    walkers: int
    waiting: int


def walker_groups(
    school: School, dismissal: Dismissal
) -> tuple[list[WalkerGroup], list[WalkerGroup]]:
    """Today's walkers by grade, and by the school's walker doors (from its settings)."""
    plans = day_plans(school.id, dismissal.day)
    walker_ids = [sid for sid, p in plans.items() if p.mode == "walker" and p.early_pickup is None]
    called = set(
        db.session.scalars(
            select(CalledStudent.student_id).where(CalledStudent.dismissal_id == dismissal.id)
        )
    )
    grades = dict(
        db.session.execute(
            select(Student.id, Student.grade).where(Student.id.in_(walker_ids))
        ).all()
    )
    total = Counter(grades[sid] or "" for sid in walker_ids)
    waiting = Counter(grades[sid] or "" for sid in walker_ids if sid not in called)
    by_grade = [
        WalkerGroup(
            _("Grade %(grade)s", grade=g) if g else _("No grade"), [g], total[g], waiting[g]
        )
        for g in sorted(total, key=_grade_order)
        if g
    ]
    doors = [
        WalkerGroup(
            door,
            list(door_grades),
            sum(total[g] for g in door_grades),
            sum(waiting[g] for g in door_grades),
        )
        for door, door_grades in carline_settings(school).walker_doors.items()
    ]
    return by_grade, doors


def _grade_order(grade: str) -> tuple[int, str]:
    order = {"PK": -2, "TK": -1, "K": 0}
    if grade.upper() in order:
        return order[grade.upper()], ""
    return (int(grade), "") if grade.isascii() and grade.isdigit() else (100, grade)


@dataclass(frozen=True)
class CalledGroup:
    """A bus call or a walker release of the last minute, which the office may still undo."""

    label: str
    call_ids: list[int]
    called_at: datetime


def undoable_groups(dismissal: Dismissal, now: datetime | None = None) -> list[CalledGroup]:
    """The bus calls and walker releases of the last `UNDO_WINDOW`, newest first.

    A group is the calls written together (one time for all of them, `_call_all`).
    """
    since = (now or utcnow()) - UNDO_WINDOW
    rows = db.session.execute(
        select(
            CalledStudent.id, CalledStudent.mode, CalledStudent.bus_route, CalledStudent.called_at
        )
        .where(
            CalledStudent.dismissal_id == dismissal.id,
            CalledStudent.mode != "car",
            CalledStudent.status == "called",
            CalledStudent.called_at >= since,
        )
        .order_by(CalledStudent.called_at.desc(), CalledStudent.id)
    ).all()
    groups: dict[tuple, list[int]] = {}
    for call_id, mode, route, called_at in rows:
        groups.setdefault((mode, route, called_at), []).append(call_id)
    return [
        CalledGroup(_group_label(mode, route if mode == "bus" else None), ids, called_at)
        for (mode, route, called_at), ids in groups.items()
    ]


# The curb


def queue_rank(entry: QueueEntry) -> int | None:
    """A waiting car's place among the cars still waiting (1 = next into a spot)."""
    if entry.status != "queued":
        return None
    return db.session.scalar(
        select(func.count(QueueEntry.id)).where(
            QueueEntry.dismissal_id == entry.dismissal_id,
            QueueEntry.status == "queued",
            QueueEntry.position <= entry.position,
        )
    )


@dataclass(frozen=True)
class CurbCars:
    """The curb list: cars at the loading spots, and the next cars waiting."""

    at_spots: list[QueueEntry]
    queued: list[QueueEntry]
    queued_total: int
    loaded: int


def curb_cars(dismissal: Dismissal) -> CurbCars:
    """Cars at the spots (by spot) and the first waiting cars (by arrival)."""
    base = (
        select(QueueEntry)
        .where(QueueEntry.dismissal_id == dismissal.id)
        .options(
            selectinload(QueueEntry.family),
            selectinload(QueueEntry.calls).selectinload(CalledStudent.student),
        )
    )
    at_spots = db.session.scalars(
        base.where(QueueEntry.status == "at_spot").order_by(QueueEntry.spot)
    ).all()
    queued = db.session.scalars(
        base.where(QueueEntry.status == "queued").order_by(QueueEntry.position).limit(QUEUED_SHOWN)
    ).all()
    counts = status(dismissal).cars
    return CurbCars(list(at_spots), list(queued), counts["queued"], counts["loaded"])


# Calls: the TV and the classrooms


@dataclass(frozen=True)
class CallRow:
    """A called student as the TV and the classroom show them."""

    call: CalledStudent
    student: Student
    #: The car's tag number (car riders only).
    tag_number: int | None
    #: The loading spot ("A3"), for a car at the curb.
    spot: str | None
    #: A waiting car's place in the line (1 = next into a spot).
    waiting: int | None
    #: The family said "I'm here" on its family page (no curb scan).
    announced: bool = False

    @property
    def way(self) -> str:
        if self.call.mode == "bus":
            return _("Bus %(route)s", route=self.call.bus_route)
        if self.call.mode == "walker":
            return _("Walker")
        return _("Tag %(number)s", number=self.tag_number)


def call_rows(
    dismissal: Dismissal, student_ids: set[int] | None = None, *, include_gone: bool = False
) -> list[CallRow]:
    """Called students (all, or of `student_ids`), oldest call first."""
    query = (
        select(CalledStudent, Student, QueueEntry, Family)
        .join(Student, Student.id == CalledStudent.student_id)
        .outerjoin(QueueEntry, QueueEntry.id == CalledStudent.queue_entry_id)
        .outerjoin(Family, Family.id == QueueEntry.family_id)
        .where(CalledStudent.dismissal_id == dismissal.id)
        .order_by(CalledStudent.called_at, CalledStudent.id)
    )
    if not include_gone:
        query = query.where(CalledStudent.status.not_in(GONE_STATUSES))
    if student_ids is not None:
        if not student_ids:
            return []
        query = query.where(CalledStudent.student_id.in_(student_ids))
    rows = db.session.execute(query).all()
    queued_positions = sorted(
        db.session.scalars(
            select(QueueEntry.position).where(
                QueueEntry.dismissal_id == dismissal.id, QueueEntry.status == "queued"
            )
        )
    )
    rank = {position: n for n, position in enumerate(queued_positions, start=1)}
    result = []
    for call, student, entry, family in rows:
        at_spot = entry is not None and entry.status == "at_spot"
        waiting = (
            rank.get(entry.position) if entry is not None and entry.status == "queued" else None
        )
        result.append(
            CallRow(
                call,
                student,
                family.tag_number if family is not None else None,
                dismissal.spot_label(entry.spot) if at_spot else None,
                waiting,
                entry is not None and entry.announced_by_guardian_id is not None,
            )
        )
    return result


@dataclass(frozen=True)
class RoomGroup:
    """A room's called students of one bus, or its walkers of one door: sent out together."""

    label: str
    mode: str
    #: The bus route; for walkers, their door (None: a grade no door lists).
    route: str | None
    rows: list[CallRow]

    @property
    def call_ids(self) -> list[int]:
        return [r.call.id for r in self.rows]


def _group_label(mode: str, route: str | None) -> str:
    if mode == "bus":
        return _("Bus %(route)s", route=route)
    return _("Walkers, %(door)s", door=route) if route else _("Walkers")


def walker_door(grade: str | None, doors: dict[str, list[str]]) -> str | None:
    """The door a walker of this grade leaves by (the school's walker doors), or None."""
    return next((door for door, grades in doors.items() if grade in grades), None)


def _group_key(row: CallRow, doors: dict[str, list[str]]) -> str | None:
    if row.call.mode == "walker":
        return walker_door(row.student.grade, doors)
    return row.call.bus_route


def waiting_groups(
    rows: list[CallRow], doors: dict[str, list[str]] | None = None
) -> list[RoomGroup]:
    """The room's waiting bus riders by bus, and its waiting walkers by door (`doors`, the
    school's walker doors), oldest call first."""
    groups: dict[tuple[str, str | None], list[CallRow]] = {}
    for row in rows:
        if row.call.mode != "car" and row.call.status == "called":
            key = (row.call.mode, _group_key(row, doors or {}))
            groups.setdefault(key, []).append(row)
    return [RoomGroup(_group_label(m, r), m, r, g) for (m, r), g in groups.items()]


def just_sent_groups(
    rows: list[CallRow], now: datetime | None = None, doors: dict[str, list[str]] | None = None
) -> list[RoomGroup]:
    """The room's bus riders and walkers sent out in the last minute, by the time sent."""
    since = (now or utcnow()) - UNDO_WINDOW
    groups: dict[tuple, list[CallRow]] = {}
    for row in rows:
        call = row.call
        just = call.sent_at is not None and call.sent_at >= since
        if call.mode != "car" and call.status == "released" and just:
            key = (call.sent_at, call.mode, _group_key(row, doors or {}))
            groups.setdefault(key, []).append(row)
    return [
        RoomGroup(_group_label(m, r), m, r, g)
        for (_, m, r), g in sorted(groups.items(), key=lambda item: item[0][0], reverse=True)
    ]

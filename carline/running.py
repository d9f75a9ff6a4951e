"""Read side of a running dismissal: what the curb, the TV, the classrooms and the office see.

Plain queries scoped to one school and its dismissal of the day; nothing here writes.
The writes (curb entry, loaded, sent, bus, walkers, start, end) are in
`carline.services`.

Which classroom a student is sent out from (`room_student_ids`): the room of the
student's class that meets in the *dismissal period*, which is the bell period in
session when the dismissal started (or now, before it starts), else the last period
of that weekday. A student with no class in a room in that period is sent from their
homeroom (a class whose period is "Homeroom" or "HR", or whose name is "HR" or starts
with "Homeroom"); a student with neither shows in every room where they have a class,
so nobody is missed. A school without a bell schedule therefore sees each student in
their homeroom, or in all their rooms.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from carline import office, services
from carline.models import CalledStudent, Dismissal, QueueEntry
from shared.extensions import db
from shared.models import (
    BellPeriod,
    Enrollment,
    Family,
    Room,
    School,
    SchoolClass,
    Student,
)
from shared.schedule import current_period
from shared.timeutil import utcnow

#: Class periods (or names) taken for a homeroom, compared case-insensitively.
HOMEROOM_NAMES = ("homeroom", "hr")
#: How many waiting cars the curb list shows after the cars at the spots.
QUEUED_SHOWN = 12


def school_today(school: School) -> date:
    """The school's local date."""
    return office.school_today(school)


def todays_dismissal(school: School) -> Dismissal | None:
    """The school's dismissal of today (running or ended), if it was started."""
    return db.session.scalar(
        select(Dismissal).where(
            Dismissal.school_id == school.id, Dismissal.day == school_today(school)
        )
    )


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
    return (0, int(route), "") if route.isdigit() else (1, 0, route)


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
        for plan in services.day_plans(school.id, dismissal.day).values()
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
    plans = services.day_plans(school.id, dismissal.day)
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
        WalkerGroup(f"Grade {g}" if g else "No grade", [g], total[g], waiting[g])
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
        for door, door_grades in office.carline_settings(school).walker_doors.items()
    ]
    return by_grade, doors


def _grade_order(grade: str) -> tuple[int, str]:
    order = {"PK": -2, "TK": -1, "K": 0}
    if grade.upper() in order:
        return order[grade.upper()], ""
    return (int(grade), "") if grade.isdigit() else (100, grade)


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

    @property
    def way(self) -> str:
        if self.call.mode == "bus":
            return f"Bus {self.call.bus_route}"
        if self.call.mode == "walker":
            return "Walker"
        return f"Tag {self.tag_number}"


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
        query = query.where(CalledStudent.status.not_in(services.GONE))
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
            )
        )
    return result


def dismissal_period(school: School, at: datetime) -> BellPeriod | None:
    """The period in session at `at`, else the last period of that weekday."""
    period = current_period(school, at)
    if period is not None:
        return period
    weekday = at.astimezone(ZoneInfo(school.timezone)).weekday()
    return db.session.scalar(
        select(BellPeriod)
        .where(BellPeriod.school_id == school.id, BellPeriod.weekday == weekday)
        .order_by(BellPeriod.end_time.desc(), BellPeriod.start_time.desc())
        .limit(1)
    )


def room_student_ids(school: School, room: Room, at: datetime | None = None) -> set[int]:
    """The active students sent out from this room at dismissal (see the module docstring)."""
    in_room = (
        select(Enrollment.student_id)
        .join(SchoolClass, SchoolClass.id == Enrollment.class_id)
        .where(
            SchoolClass.school_id == school.id,
            SchoolClass.active.is_(True),
            SchoolClass.room_id == room.id,
        )
    )
    rows = db.session.execute(
        select(Enrollment.student_id, SchoolClass.room_id, SchoolClass.period, SchoolClass.name)
        .join(SchoolClass, SchoolClass.id == Enrollment.class_id)
        .join(Student, Student.id == Enrollment.student_id)
        .where(
            Enrollment.student_id.in_(in_room),
            Student.active.is_(True),
            SchoolClass.active.is_(True),
            SchoolClass.room_id.is_not(None),
        )
    ).all()
    period = dismissal_period(school, at or utcnow())
    classes: dict[int, list[tuple[int, str | None, str]]] = {}
    for student_id, room_id, class_period, name in rows:
        classes.setdefault(student_id, []).append((room_id, class_period, name))
    return {sid for sid, held in classes.items() if room.id in _dismissal_rooms(held, period)}


def _dismissal_rooms(
    classes: list[tuple[int, str | None, str]], period: BellPeriod | None
) -> set[int]:
    """The room(s) one student is sent out from, given their classes (room, period, name)."""
    if period is not None:
        rooms = {room for room, p, _ in classes if p == period.name}
        if rooms:
            return rooms
    homerooms = {
        room
        for room, p, name in classes
        if (p or "").strip().lower() in HOMEROOM_NAMES
        or name.strip().lower().startswith(HOMEROOM_NAMES[0])
        or name.strip().lower() in HOMEROOM_NAMES
    }
    return homerooms or {room for room, _, _ in classes}


@dataclass(frozen=True)
class PlanNote:
    """A student of the room whose plan today is not the usual one."""

    student: Student
    plan: services.DayPlan
    family: Family | None


def room_plan_notes(school: School, day: date, student_ids: set[int]) -> list[PlanNote]:
    """The students' daily changes and absences for the day, by name."""
    if not student_ids:
        return []
    plans = {
        sid: plan
        for sid, plan in services.day_plans(school.id, day, student_ids).items()
        if plan.source in ("change", "absence")
    }
    if not plans:
        return []
    students = db.session.scalars(
        select(Student)
        .where(Student.id.in_(list(plans)))
        .order_by(Student.last_name, Student.first_name, Student.id)
    ).all()
    families = office.plan_families(plans.values())
    return [PlanNote(s, plans[s.id], families.get(plans[s.id].family_id)) for s in students]

"""Hall pass demo data: a few weeks of past passes, so the reports have something to show.

`load_hallpass_history` is called by `flask demo` (shared/demo.py) once the demo
school's classes, bell schedule and destinations exist. For each of the last school
days before today (weekdays only) and each class period, students of the class in
session leave now and then: mostly to the restroom on their floor, sometimes for water,
to the nurse, their locker, the office, the library or the counselor. A few students go
far more often than the rest; most passes last a few minutes, some run over their time
limit, and one that would outlast the period is ended by the system at the bell. Passes
start from the class's room, issued by its teacher on the tablet, or by the student at
the room kiosk or with the room QR code (approved by the teacher where the destination
needs it). Destination capacities hold. On the last of those days one teacher was out:
a substitute (`SUBSTITUTE_NAME`, their day long over) issued that teacher's passes, so the
reports show passes marked "sub".

Every pass is ended; no live counter changes. Everything comes from the demo's random
generator and is written with one bulk insert, so loading stays fast and the same for
the same day.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select

from hallpass.models import Destination, HallPass, new_pass_token
from shared.extensions import db
from shared.models import (
    BellPeriod,
    Enrollment,
    Room,
    School,
    SchoolClass,
    SubstituteAssignment,
    class_teachers,
)
from shared.schedule import school_day_bounds
from shared.timeutil import utcnow

SCHOOL_DAYS_OF_HISTORY = 20
#: The substitute who stood in for one teacher on the history's last day.
SUBSTITUTE_NAME = "Dana Whitfield"
#: Chance that a student in class leaves during one period (before their own weight).
PERIOD_RATE = 0.05
HOMEROOM_RATE = 0.015
#: Periods without passes (students are not in class).
NO_CLASS_PERIODS = ("Lunch",)
#: Where students go, by the destination room's kind (and a few names), relative weights.
KIND_WEIGHTS = {
    "restroom": 62,
    "water": 9,
    "nurse": 7,
    "lockers": 5,
    "office": 5,
    "library": 7,
    "counselor": 5,
}
#: Typical minutes out, by kind: (median, spread of the log-normal).
DURATIONS = {
    "restroom": (5.0, 0.3),
    "water": (2.5, 0.35),
    "lockers": (3.0, 0.3),
    "nurse": (9.0, 0.35),
    "office": (5.0, 0.4),
    "library": (11.0, 0.35),
    "counselor": (13.0, 0.3),
}
#: Chance that a pass dawdles well past its limit (frequent users dawdle more).
DAWDLE_RATE = 0.03
#: How a pass started: teacher's tablet, room kiosk, room QR code.
SOURCES = (("teacher", 0.55), ("kiosk", 0.3), ("room_qr", 0.15))


@dataclass(frozen=True)
class PassHistorySummary:
    """What the hall pass demo history holds."""

    days: int
    passes: int
    overdue: int
    ended_by_system: int


@dataclass(frozen=True)
class _Place:
    id: int
    kind: str
    name: str
    time_limit: int
    capacity: int | None
    self_start: bool


def school_days(today: date, count: int) -> list[date]:
    """The last `count` weekdays before today, oldest first."""
    days, day = [], today
    while len(days) < count:
        day -= timedelta(days=1)
        if day.weekday() < 5:
            days.append(day)
    return sorted(days)


def _substitute_day(school: School, day: date, rows: list[dict], tz: ZoneInfo) -> None:
    """A substitute stood in for one teacher on `day`: the first teacher (by id) who issued
    passes that day; their passes of the day become the substitute's. No random draw, so
    the rest of the history is the same with or without it."""
    on_day = [r for r in rows if r["started_at"].astimezone(tz).date() == day]
    teachers = sorted({r["issued_by_id"] for r in on_day if r["issued_by_id"] is not None})
    if not teachers:
        return
    start, end = school_day_bounds(school, day)
    assignment = SubstituteAssignment(
        school_id=school.id,
        teacher_id=teachers[0],
        day=day,
        name=SUBSTITUTE_NAME,
        code_hash=None,  # its code was used that morning and its day is over
        code_used_at=start,
        created_at=start,
        expires_at=end,
    )
    db.session.add(assignment)
    db.session.flush()
    for row in on_day:
        if row["issued_by_id"] == teachers[0]:
            row["substitute_id"] = assignment.id


def _kind(room_kind: str | None, name: str) -> str:
    lowered = name.lower()
    if "water" in lowered:
        return "water"
    if "locker" in lowered:
        return "lockers"
    if room_kind in ("restroom", "nurse", "office", "library", "counselor"):
        return room_kind
    return "other"


def _places(school: School) -> list[_Place]:
    rows = db.session.execute(
        select(
            Destination.id,
            Destination.name,
            Room.kind,
            Destination.time_limit_minutes,
            Destination.capacity,
            Destination.self_start,
        )
        .outerjoin(Room, Room.id == Destination.room_id)
        .where(Destination.school_id == school.id, Destination.active.is_(True))
        .order_by(Destination.id)
    ).all()
    return [
        _Place(i, _kind(kind, name), name, limit, cap, own)
        for i, name, kind, limit, cap, own in rows
    ]


def _restroom_for(restrooms: list[_Place], floor: str, preference: str) -> _Place:
    """The restroom a student uses from a room on this floor."""
    floor_word = {"1": "1st", "2": "2nd", "3": "3rd"}.get(floor, floor)
    for place in restrooms:
        name = place.name.lower()
        if floor_word in name and f" {preference}" in name:
            return place
    for place in restrooms:
        if "all-gender" in place.name.lower() or "all gender" in place.name.lower():
            return place
    return restrooms[0]


def _student_weights(rng: random.Random, student_ids: list[int]) -> dict[int, float]:
    """How often each student leaves class, relative to the rest: a few go very often."""
    weights = {}
    for student_id in student_ids:
        r = rng.random()
        if r < 0.03:
            weights[student_id] = rng.uniform(5.0, 7.0)
        elif r < 0.13:
            weights[student_id] = rng.uniform(1.8, 2.6)
        elif r < 0.38:
            weights[student_id] = 0.25
        else:
            weights[student_id] = 1.0
    return weights


def _fits(
    taken: list[tuple[datetime, datetime]], start: datetime, end: datetime, capacity: int | None
) -> bool:
    """True when [start, end) never puts the destination over its capacity."""
    if capacity is None:
        return True
    points = [start, *(s for s, _ in taken if start < s < end)]
    return all(sum(1 for s, e in taken if s <= t < e) < capacity for t in points)


def load_hallpass_history(
    school: School, rng: random.Random, *, now: datetime | None = None
) -> PassHistorySummary:
    """Write the demo school's past passes (flushes only; see the module docstring)."""
    now = now or utcnow()
    tz = ZoneInfo(school.timezone)
    places = _places(school)
    by_kind: dict[str, list[_Place]] = defaultdict(list)
    for place in places:
        by_kind[place.kind].append(place)
    kinds = [k for k in KIND_WEIGHTS if by_kind.get(k)]
    if not kinds or not by_kind.get("restroom"):
        return PassHistorySummary(0, 0, 0, 0)
    kind_weights = [KIND_WEIGHTS[k] for k in kinds]

    periods: dict[int, list[tuple[str, datetime, datetime]]] = defaultdict(list)
    for name, weekday, start, end in db.session.execute(
        select(BellPeriod.name, BellPeriod.weekday, BellPeriod.start_time, BellPeriod.end_time)
        .where(BellPeriod.school_id == school.id)
        .order_by(BellPeriod.weekday, BellPeriod.start_time)
    ):
        if name not in NO_CLASS_PERIODS:
            periods[weekday].append((name, start, end))

    classes: dict[str, list[tuple[int, int | None, str]]] = defaultdict(list)
    for class_id, period, room_id, room_name in db.session.execute(
        select(SchoolClass.id, SchoolClass.period, SchoolClass.room_id, Room.name)
        .outerjoin(Room, Room.id == SchoolClass.room_id)
        .where(SchoolClass.school_id == school.id, SchoolClass.active.is_(True))
        .order_by(SchoolClass.id)
    ):
        classes[period].append((class_id, room_id, (room_name or "1")[:1]))
    teacher_of: dict[int, int] = {}
    for class_id, user_id in db.session.execute(
        select(class_teachers.c.class_id, class_teachers.c.user_id)
        .join(SchoolClass, SchoolClass.id == class_teachers.c.class_id)
        .where(SchoolClass.school_id == school.id)
        .order_by(class_teachers.c.class_id, class_teachers.c.user_id)
    ):
        teacher_of.setdefault(class_id, user_id)
    pupils: dict[int, list[int]] = defaultdict(list)
    for class_id, student_id in db.session.execute(
        select(Enrollment.class_id, Enrollment.student_id)
        .join(SchoolClass, SchoolClass.id == Enrollment.class_id)
        .where(SchoolClass.school_id == school.id)
        .order_by(Enrollment.class_id, Enrollment.student_id)
    ):
        pupils[class_id].append(student_id)

    student_ids = sorted({s for members in pupils.values() for s in members})
    weights = _student_weights(rng, student_ids)
    preference = {
        s: rng.choices(("boys", "girls", "all"), weights=(49, 49, 2))[0] for s in student_ids
    }
    sources = [s for s, _ in SOURCES]
    source_weights = [w for _, w in SOURCES]

    rows: list[dict] = []
    overdue = system_ended = 0
    today = now.astimezone(tz).date()
    days = school_days(today, SCHOOL_DAYS_OF_HISTORY)
    for day in days:
        taken: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
        for name, start_t, end_t in periods.get(day.weekday(), []):
            period_start = datetime.combine(day, start_t, tzinfo=tz).astimezone(UTC)
            period_end = datetime.combine(day, end_t, tzinfo=tz).astimezone(UTC)
            length = (period_end - period_start).total_seconds()
            rate = HOMEROOM_RATE if name == "Homeroom" else PERIOD_RATE
            for class_id, room_id, floor in classes.get(name, []):
                teacher_id = teacher_of.get(class_id)
                for student_id in pupils.get(class_id, []):
                    if rng.random() >= rate * weights[student_id]:
                        continue
                    kind = rng.choices(kinds, weights=kind_weights)[0]
                    if kind == "restroom":
                        place = _restroom_for(by_kind["restroom"], floor, preference[student_id])
                    else:
                        place = rng.choice(by_kind[kind])
                    median, spread = DURATIONS.get(kind, (5.0, 0.4))
                    earliest, latest = 4 * 60, length - max(5.0, median * 1.4) * 60
                    if latest <= earliest:
                        continue
                    started = period_start + timedelta(seconds=rng.uniform(earliest, latest))
                    minutes = median * math.exp(rng.gauss(0, spread))
                    if rng.random() < DAWDLE_RATE * min(weights[student_id], 3.0):
                        minutes = place.time_limit * rng.uniform(1.15, 2.2)
                    minutes = max(1.0, minutes)
                    ended = started + timedelta(seconds=round(minutes * 60))
                    if ended >= period_end:
                        ended = period_end
                    if not _fits(taken[place.id], started, ended, place.capacity):
                        continue
                    source = rng.choices(sources, weights=source_weights)[0]
                    if ended == period_end:
                        ended_by = "system"
                        system_ended += 1
                    elif source == "teacher":
                        ended_by = "staff" if rng.random() < 0.85 else "student"
                    else:
                        ended_by = "student" if rng.random() < 0.8 else "staff"
                    issued_by = teacher_id if source == "teacher" or not place.self_start else None
                    arrived = None
                    if kind in ("nurse", "library", "counselor", "office") and rng.random() < 0.7:
                        arrived = started + timedelta(seconds=rng.uniform(45, 150))
                        if arrived >= ended:
                            arrived = None
                    if ended - started > timedelta(minutes=place.time_limit):
                        overdue += 1
                    taken[place.id].append((started, ended))
                    rows.append(
                        {
                            "school_id": school.id,
                            "student_id": student_id,
                            "destination_id": place.id,
                            "from_room_id": room_id,
                            "source": source,
                            "issued_by_id": issued_by,
                            "issued_by_device_id": None,
                            "status": "ended",
                            "started_at": started,
                            "time_limit_minutes": place.time_limit,
                            "ended_at": ended,
                            "ended_by": ended_by,
                            "urgent": kind == "nurse" and rng.random() < 0.1,
                            "override_reason": None,
                            "accounted_at": None,
                            "token": new_pass_token(),
                            "arrived_at": arrived,
                            "substitute_id": None,
                        }
                    )
    if days:
        _substitute_day(school, days[-1], rows, tz)
    if rows:
        db.session.execute(insert(HallPass), rows)
    return PassHistorySummary(
        days=len(days), passes=len(rows), overdue=overdue, ended_by_system=system_ended
    )

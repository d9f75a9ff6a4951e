"""Car line demo data: dismissal plans, hang tags and a few weeks of past dismissals.

`load_carline_history` is called by `flask demo` (shared/demo.py) once the demo
school's students and families exist. It gives every student a weekday plan (car
riders, after-care on some days, bus routes and walkers for students without a
family), issues a hang tag to every family, sets the school's car line settings,
and writes the ended dismissals of the last school days before today, as the car line
would have recorded them: cars arriving over about 25 minutes (many waiting before
the bell), filling the loading spots in arrival order, students called when their car
is scanned and loaded when it reaches its spot, buses and walkers released, a few
absences, and now and then a car that came too late (a late pickup). A few changes
and absences for today give the office something to see.

Everything is written with bulk inserts and comes from the demo's random generator,
so loading is fast and the same every time for the same day.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select

from carline.models import (
    Absence,
    CalledStudent,
    DailyChange,
    Dismissal,
    DismissalDefault,
    QueueEntry,
    Tag,
    new_tag_token,
)
from shared import audit
from shared.extensions import db
from shared.models import BellPeriod, Family, School, Student, User, family_students
from shared.timeutil import utcnow

SCHOOL_DAYS_OF_HISTORY = 20
LANES, SPOTS_PER_LANE = 2, 6
SETTINGS = {
    "lanes": LANES,
    "spots_per_lane": SPOTS_PER_LANE,
    "cutoff": "14:15",
    "walker_doors": {"Front doors": ["6"], "Gym doors": ["7", "8"]},
}
BUS_ROUTES = ("4", "7", "12", "15", "21")
#: Cars keep arriving for about this long after the bell.
ARRIVAL_MINUTES = 25
ABSENCE_RATE = 0.04
CARPOOL_DAY_RATE = 0.6
OFFICE_EMAIL = "office@example.org"
STAFF_EMAIL = "staff@example.org"


@dataclass(frozen=True)
class HistorySummary:
    """What the car line demo history holds."""

    dismissals: int
    cars: int
    students_called: int
    late_cars: int


def _user_id(email: str) -> int | None:
    return db.session.scalar(select(User.id).where(User.email == email))


def _weekday_plans(
    rng: random.Random, students: list[tuple[int, str]], on_a_tag: set[int]
) -> dict[int, dict[int, tuple[str, str | None]]]:
    """Each student's (mode, bus route) per weekday 0-4."""
    plans: dict[int, dict[int, tuple[str, str | None]]] = {}
    for student_id, _grade in students:
        r = rng.random()
        if student_id in on_a_tag:
            if r < 0.88:
                week = {d: ("car", None) for d in range(5)}
            elif r < 0.94:
                week = {d: ("aftercare", None) for d in range(4)} | {4: ("car", None)}
            else:
                week = {d: ("walker", None) for d in range(5)}
        elif r < 0.75:
            route = rng.choice(BUS_ROUTES)
            week = {d: ("bus", route) for d in range(5)}
        else:
            week = {d: ("walker", None) for d in range(5)}
        plans[student_id] = week
    return plans


def _school_days(today: date, count: int) -> list[date]:
    """The last `count` weekdays before today, oldest first."""
    days, day = [], today
    while len(days) < count:
        day -= timedelta(days=1)
        if day.weekday() < 5:
            days.append(day)
    return sorted(days)


def _last_bells(school: School) -> dict[int, time]:
    rows = db.session.execute(
        select(BellPeriod.weekday, func.max(BellPeriod.end_time))
        .where(BellPeriod.school_id == school.id)
        .group_by(BellPeriod.weekday)
    )
    return {weekday: end for weekday, end in rows}


def load_carline_history(
    school: School, rng: random.Random, *, now: datetime | None = None
) -> HistorySummary:
    """Give the demo school plans, tags, settings and past dismissals (flushes only)."""
    now = now or utcnow()
    tz = ZoneInfo(school.timezone)
    today = now.astimezone(tz).date()
    school.settings = {**(school.settings or {}), "carline": dict(SETTINGS)}

    students = [
        (student_id, grade)
        for student_id, grade in db.session.execute(
            select(Student.id, Student.grade)
            .where(Student.school_id == school.id, Student.active.is_(True))
            .order_by(Student.id)
        )
    ]
    memberships = db.session.execute(
        select(Family.id, Family.tag_number, family_students.c.student_id)
        .join(family_students, family_students.c.family_id == Family.id)
        .where(Family.school_id == school.id, Family.active.is_(True))
        .order_by(Family.tag_number, family_students.c.student_id)
    ).all()
    family_members: dict[int, list[int]] = defaultdict(list)
    families_of: dict[int, list[int]] = defaultdict(list)
    tag_of: dict[int, int] = {}
    for family_id, tag_number, student_id in memberships:
        family_members[family_id].append(student_id)
        families_of[student_id].append(family_id)
        tag_of[family_id] = tag_number
    # A carpool is a family all of whose students also ride with a household.
    carpools = [
        f
        for f, members in family_members.items()
        if all(len(families_of[s]) > 1 and families_of[s][0] != f for s in members)
    ]
    households = [f for f in sorted(family_members, key=tag_of.get) if f not in carpools]

    plans = _weekday_plans(rng, students, set(families_of))
    db.session.execute(
        insert(DismissalDefault),
        [
            {"student_id": sid, "weekday": d, "mode": mode, "bus_route": route}
            for sid, week in plans.items()
            for d, (mode, route) in week.items()
        ],
    )
    issued = now - timedelta(days=45)
    db.session.execute(
        insert(Tag),
        [
            {"family_id": f, "token": new_tag_token(), "created_at": issued}
            for f in sorted(family_members, key=tag_of.get)
        ],
    )

    office_id, staff_id = _user_id(OFFICE_EMAIL), _user_id(STAFF_EMAIL)
    bells = _last_bells(school)
    grades = dict(students)
    totals = {"cars": 0, "calls": 0, "late": 0}
    days = _school_days(today, SCHOOL_DAYS_OF_HISTORY)
    for day in days:
        _one_day(
            school,
            rng,
            day,
            tz,
            bells.get(day.weekday(), time(15, 0)),
            plans,
            grades,
            family_members,
            households,
            carpools,
            office_id,
            staff_id,
            totals,
        )
    if today.weekday() < 5:
        _today(rng, today, tz, plans, households, office_id, tag_of)
    summary = HistorySummary(len(days), totals["cars"], totals["calls"], totals["late"])
    audit.record(
        "carline.demo_history",
        school_id=school.id,
        target=school,
        detail={
            "dismissals": summary.dismissals,
            "cars": summary.cars,
            "students_called": summary.students_called,
        },
    )
    return summary


def _one_day(
    school: School,
    rng: random.Random,
    day: date,
    tz: ZoneInfo,
    last_bell: time,
    plans: dict[int, dict[int, tuple[str, str | None]]],
    grades: dict[int, str],
    family_members: dict[int, list[int]],
    households: list[int],
    carpools: list[int],
    office_id: int | None,
    staff_id: int | None,
    totals: dict[str, int],
) -> None:
    """One ended dismissal: its cars, spots and calls; bus riders and walkers released."""
    bell = datetime.combine(day, last_bell, tzinfo=tz).astimezone(UTC)
    morning = datetime.combine(day, time(8, 40), tzinfo=tz).astimezone(UTC)
    weekday = day.weekday()
    absent = {sid for sid in sorted(plans) if rng.random() < ABSENCE_RATE}
    if absent:
        db.session.execute(
            insert(Absence),
            [
                {"student_id": sid, "day": day, "created_by_id": office_id, "created_at": morning}
                for sid in sorted(absent)
            ],
        )
    mode_of = {
        sid: week.get(weekday, ("car", None)) for sid, week in plans.items() if sid not in absent
    }
    car_riders = {sid for sid, (mode, _) in mode_of.items() if mode == "car"}

    # Which cars come, and for whom: carpools on some days, then each household.
    cars: list[tuple[int, list[int]]] = []
    taken: set[int] = set()
    for family in carpools:
        riders = [s for s in family_members[family] if s in car_riders]
        if riders and rng.random() < CARPOOL_DAY_RATE:
            cars.append((family, riders))
            taken.update(riders)
    for family in households:
        riders = [s for s in family_members[family] if s in car_riders and s not in taken]
        if riders:
            cars.append((family, riders))
            taken.update(riders)
    rng.shuffle(cars)
    late_count = rng.choice((0, 0, 1, 1, 2, 3))
    on_time, late = cars[late_count:], cars[:late_count]

    dismissal = Dismissal(
        school_id=school.id,
        day=day,
        lanes=LANES,
        spots_per_lane=SPOTS_PER_LANE,
        last_position=len(cars),
        started_at=bell - timedelta(minutes=2),
        started_by_id=office_id,
    )
    db.session.add(dismissal)
    db.session.flush()

    # Arrivals: many cars wait before the bell and are scanned quickly, then a long tail.
    arrivals = sorted(
        (bell + timedelta(seconds=rng.betavariate(1.3, 3.2) * ARRIVAL_MINUTES * 60), family, kids)
        for family, kids in on_time
    )
    spots = LANES * SPOTS_PER_LANE
    free_at = [bell] * spots
    entries, car_calls = [], []
    for position, (entered, family, kids) in enumerate(arrivals, start=1):
        free = [s for s in range(spots) if free_at[s] <= entered]
        spot = min(free) if free else min(range(spots), key=lambda s: (free_at[s], s))
        at_spot = entered if free else free_at[spot]
        walk_out = entered + timedelta(seconds=rng.uniform(60, 200))
        loaded = max(
            at_spot + timedelta(seconds=rng.uniform(15, 35)),
            walk_out + timedelta(seconds=rng.uniform(8, 20)),
        )
        free_at[spot] = loaded + timedelta(seconds=rng.uniform(3, 8))
        entries.append(
            {
                "dismissal_id": dismissal.id,
                "family_id": family,
                "position": position,
                "spot": spot + 1,
                "status": "loaded",
                "entered_at": entered,
                "at_spot_at": at_spot,
                "loaded_at": loaded,
                "entered_by_user_id": staff_id,
                "repeat_count": 1 if rng.random() < 0.03 else 0,
            }
        )
        sent = min(entered + timedelta(seconds=rng.uniform(20, 90)), loaded)
        car_calls.append([(sid, entered, sent, loaded, "loaded") for sid in kids])
    last_loaded = max((e["loaded_at"] for e in entries), default=bell)
    # Late cars: they come after the line has cleared and are not loaded by the end.
    for n, (family, kids) in enumerate(late, start=1):
        entered = last_loaded + timedelta(seconds=rng.uniform(60, 240))
        entries.append(
            {
                "dismissal_id": dismissal.id,
                "family_id": family,
                "position": len(arrivals) + n,
                "spot": n,
                "status": "at_spot",
                "entered_at": entered,
                "at_spot_at": entered,
                "loaded_at": None,
                "entered_by_user_id": staff_id,
                "repeat_count": 0,
            }
        )
        car_calls.append([(sid, entered, None, None, "called") for sid in kids])
    entry_ids = db.session.scalars(
        insert(QueueEntry).returning(QueueEntry.id, sort_by_parameter_order=True), entries
    ).all()

    calls = [
        {
            "dismissal_id": dismissal.id,
            "queue_entry_id": entry_id,
            "student_id": sid,
            "mode": "car",
            "bus_route": None,
            "status": status,
            "called_at": called,
            "sent_at": sent,
            "left_at": left,
        }
        for entry_id, kids in zip(entry_ids, car_calls, strict=True)
        for sid, called, sent, left, status in kids
    ]
    buses = sorted({route for mode, route in mode_of.values() if mode == "bus"})
    bus_time = {r: bell + timedelta(seconds=rng.uniform(120, 600)) for r in buses}
    walker_time = {g: bell + timedelta(seconds=rng.uniform(30, 120)) for g in ("6", "7", "8")}
    for sid, (mode, route) in sorted(mode_of.items()):
        if mode not in ("bus", "walker"):
            continue
        called = bus_time[route] if mode == "bus" else walker_time.get(grades[sid], bell)
        left = called + timedelta(seconds=rng.uniform(40, 180))
        calls.append(
            {
                "dismissal_id": dismissal.id,
                "queue_entry_id": None,
                "student_id": sid,
                "mode": mode,
                "bus_route": route,
                "status": "released",
                "called_at": called,
                "sent_at": left,
                "left_at": left,
            }
        )
    db.session.execute(insert(CalledStudent), calls)
    last = max([e["entered_at"] for e in entries] + [c["left_at"] or bell for c in calls])
    dismissal.ended_at = last + timedelta(minutes=rng.uniform(2, 6))
    totals["cars"] += len(entries)
    totals["calls"] += len(calls)
    totals["late"] += len(late)


def _today(
    rng: random.Random,
    today: date,
    tz: ZoneInfo,
    plans: dict[int, dict[int, tuple[str, str | None]]],
    households: list[int],
    office_id: int | None,
    tag_of: dict[int, int],
) -> None:
    """A few absences and daily changes for today, as the office records them."""
    morning = datetime.combine(today, time(8, 15), tzinfo=tz).astimezone(UTC)
    student_ids = sorted(plans)
    picked = rng.sample(student_ids, 8)
    absent, changed = picked[:4], picked[4:]
    db.session.execute(
        insert(Absence),
        [
            {"student_id": sid, "day": today, "created_by_id": office_id, "created_at": morning}
            for sid in absent
        ],
    )
    friend = rng.choice(households)
    changes = [
        {"mode": "bus", "bus_route": rng.choice(BUS_ROUTES), "note": "Going to a friend's house"},
        {"mode": "car", "family_id": friend, "note": f"Going home with tag {tag_of[friend]}"},
        {"mode": "car", "early_pickup": time(13, 30), "note": "Dentist appointment"},
        {"mode": "walker", "note": "Parent called: walking home today"},
    ]
    db.session.execute(
        insert(DailyChange),
        [
            {
                "student_id": sid,
                "day": today,
                "mode": change["mode"],
                "bus_route": change.get("bus_route"),
                "family_id": change.get("family_id"),
                "early_pickup": change.get("early_pickup"),
                "note": change["note"],
                "created_by_id": office_id,
                "created_at": morning,
            }
            for sid, change in zip(changed, changes, strict=True)
        ],
    )

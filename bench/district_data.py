"""A district for the benchmark: N schools, each with the demo school's roster and schedule.

Each school is built by the same code as `flask demo` (students, families with tags,
teachers, classes, bell schedule, rooms, destinations), with its own code and staff
accounts (`office@sN.bench.example`, `t1@sN.bench.example`, ...; password BENCH_PASSWORD).
Only the roster is made here; devices are paired later over HTTP, like a real district.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from sqlalchemy import select

from hallpass.destinations import create_default_destinations
from hallpass.models import Destination
from shared import demo
from shared.extensions import db
from shared.models import (
    BellPeriod,
    Enrollment,
    Family,
    Membership,
    Room,
    School,
    SchoolClass,
    User,
    class_teachers,
)
from shared.passwords import hash_password

BENCH_PASSWORD = "bench-passline-2026"  # noqa: S105  (throwaway benchmark database)


@dataclass
class SchoolPlan:
    """What the load generator needs to know about one school."""

    id: int
    code: str
    office_email: str
    teacher_email: str
    #: The teacher's classroom, students in classes there, and a destination without a cap.
    room_id: int
    student_ids: list[int]
    destination_id: int
    tag_numbers: list[int]


def build_district(schools: int, seed: int = 2026) -> list[SchoolPlan]:
    """Add `schools` demo-sized schools; returns their plans (flushes and commits)."""
    password_hash = hash_password(BENCH_PASSWORD)
    plans = []
    for index in range(1, schools + 1):
        rng = random.Random(seed + index)  # noqa: S311  (made-up people, not secrets)
        plans.append(_build_school(index, rng, password_hash))
        db.session.commit()
    return plans


def _build_school(index: int, rng: random.Random, password_hash: str) -> SchoolPlan:
    school = School(
        name=f"Bench School {index}", code=f"B{index:03d}", timezone="America/Chicago", settings={}
    )
    db.session.add(school)
    db.session.flush()
    domain = f"s{index}.bench.example"
    office = User(email=f"office@{domain}", name=f"Office {index}", password_hash=password_hash)
    office.memberships.append(Membership(school=school, role="office"))
    teachers = []
    for number, (_email, name, _subject) in enumerate(demo.TEACHERS, start=1):
        teacher = User(email=f"t{number}@{domain}", name=name, password_hash=password_hash)
        teacher.memberships.append(Membership(school=school, role="teacher"))
        teachers.append(teacher)
    db.session.add_all([office, *teachers])
    classrooms = [
        Room(school_id=school.id, name=name, kind="classroom") for name in demo.CLASSROOMS
    ]
    places = [Room(school_id=school.id, name=n, kind=k) for n, k in demo.DESTINATIONS]
    bells = [
        BellPeriod(school_id=school.id, name=name, weekday=weekday, start_time=start, end_time=end)
        for weekday, (homeroom, period) in demo.WEEK.items()
        for name, start, end in demo._bell_times(homeroom, period)
    ]
    students, households, carpools = demo._students_and_families(school, rng)
    classes = demo._classes(school, teachers, classrooms, students, rng)
    db.session.add_all([*classrooms, *places, *bells, *students, *households, *carpools, *classes])
    db.session.flush()
    create_default_destinations(school)
    open_destination = Destination(
        school_id=school.id, name="Library (bench)", time_limit_minutes=15, capacity=None
    )
    db.session.add(open_destination)
    db.session.flush()
    teacher = teachers[0]
    room_id = db.session.scalar(
        select(SchoolClass.room_id)
        .join(class_teachers, class_teachers.c.class_id == SchoolClass.id)
        .where(class_teachers.c.user_id == teacher.id, SchoolClass.room_id.is_not(None))
        .limit(1)
    )
    student_ids = sorted(
        set(
            db.session.scalars(
                select(Enrollment.student_id)
                .join(SchoolClass, SchoolClass.id == Enrollment.class_id)
                .where(SchoolClass.room_id == room_id)
            )
        )
    )
    tags = sorted(
        db.session.scalars(
            select(Family.tag_number).where(Family.school_id == school.id, Family.active.is_(True))
        )
    )
    return SchoolPlan(
        id=school.id,
        code=school.code,
        office_email=office.email,
        teacher_email=teacher.email,
        room_id=room_id,
        student_ids=student_ids,
        destination_id=open_destination.id,
        tag_numbers=tags,
    )

"""Prepare the demo school for the browser tests and describe it (`python -m tests.e2e.school`).

Run in a subprocess after `flask demo`, with the e2e server's DATABASE_URL,
PASSLINE_INSTANCE_PATH and SECRET_KEY. The demo's bell schedule follows the clock, so a
test at night or on a Sunday would find no class in session (no names on the room QR
page, no class on the teacher's tablet). This makes "now" fall in period 1 today:
today's periods are replaced by one period 1 running from a little before now to an hour
after, in the school's time zone. Nothing else is changed.

It then prints, as JSON, the people and places the tests use: the demo teacher's room
and period 1 class, students of that class (one per flow, so flows do not meet), a few
destinations, and two hang tags whose students go home by car today with a student in
that class (one typed on the keypad, one scanned from its QR code), and two more such
tags with no student in that class (`spare_tags`, for the curb's offline test).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select

from carline.day_plans import day_plans
from carline.models import Tag
from hallpass.models import Destination
from shared import create_app
from shared.demo import SCHOOL_CODE
from shared.extensions import db
from shared.models import (
    BellPeriod,
    Enrollment,
    Family,
    School,
    SchoolClass,
    Student,
    User,
    class_teachers,
)
from shared.timeutil import utcnow

TEACHER_EMAIL = "teacher@example.org"
PERIOD = "1"


def _period_around_now(school: School) -> None:
    """Replace today's bell periods by period 1, from 20 minutes ago to an hour from now."""
    local_now = utcnow().astimezone(ZoneInfo(school.timezone))
    start = max(
        local_now - timedelta(minutes=20),
        datetime.combine(local_now.date(), time(0, 0), local_now.tzinfo),
    )
    end = min(
        local_now + timedelta(minutes=60),
        datetime.combine(local_now.date(), time(23, 59, 59), local_now.tzinfo),
    )
    db.session.execute(
        delete(BellPeriod).where(
            BellPeriod.school_id == school.id, BellPeriod.weekday == local_now.weekday()
        )
    )
    db.session.add(
        BellPeriod(
            school_id=school.id,
            name=PERIOD,
            weekday=local_now.weekday(),
            start_time=start.time().replace(microsecond=0),
            end_time=end.time().replace(microsecond=0),
        )
    )
    db.session.flush()


def _student(student: Student) -> dict:
    return {
        "id": student.id,
        "number": student.student_number,
        "name": student.display_name,
        "short": student.short_name,
    }


def _car_tags(school: School, class_ids: set[int], today) -> list[dict]:
    """Families whose every student rides home in that family's car today, one in the class."""
    rows = db.session.execute(
        select(Family, Tag)
        .join(Tag, Tag.family_id == Family.id)
        .where(Family.school_id == school.id, Family.active.is_(True), Tag.revoked_at.is_(None))
        .order_by(Family.tag_number)
    ).all()
    tags = []
    for family, tag in rows:
        students = [s for s in family.students if s.active]
        if not students or not any(s.id in class_ids for s in students):
            continue
        plans = day_plans(school.id, today, [s.id for s in students])
        if all(
            plans[s.id].mode == "car"
            and plans[s.id].early_pickup is None
            and plans[s.id].family_id in (None, family.id)
            for s in students
        ):
            in_class = next(s for s in students if s.id in class_ids)
            tags.append(
                {
                    "number": family.tag_number,
                    "token": tag.token,
                    "student": _student(in_class),
                    "students": [s.display_name for s in students],
                    "student_ids": [s.id for s in students],
                }
            )
    return tags


def _drill(school: School, called: set[int]) -> dict:
    """What the demo drill walk uses: five teachers with a class in period 1, the student
    of the custody note ("Do not release to Victor ...") with an adult who may take them,
    and two students of one-child families (one for a listed adult, one for an override),
    none of them in a car line flow."""
    rows = db.session.execute(
        select(User.email, SchoolClass.name)
        .join(class_teachers, class_teachers.c.user_id == User.id)
        .join(SchoolClass, SchoolClass.id == class_teachers.c.class_id)
        .where(
            SchoolClass.school_id == school.id,
            SchoolClass.period == PERIOD,
            User.email != TEACHER_EMAIL,
        )
        .order_by(User.email)
    ).all()
    teachers = [{"email": email, "class": name} for email, name in rows[:5]]
    families = list(
        db.session.scalars(
            select(Family)
            .where(Family.school_id == school.id, Family.active.is_(True))
            .order_by(Family.tag_number)
        )
    )
    custody = next(f for f in families if f.release_note)
    # A student in a carpool is on two lists; the walk wants one list per student.
    lists = Counter(s.id for f in families for s in f.students)
    singles = [
        f
        for f in families
        if len(f.students) == 1
        and f.students[0].id not in called
        and f.pickup_adults
        and not f.release_note
        and lists[f.students[0].id] == 1
    ][:2]
    return {
        "teachers": teachers,
        "custody": {
            "student": _student(custody.students[0]),
            "note": custody.release_note,
            "adult": custody.pickup_adults.splitlines()[0],
        },
        "listed": {
            "student": _student(singles[0].students[0]),
            "adult": singles[0].pickup_adults.splitlines()[0],
        },
        "override": {"student": _student(singles[1].students[0])},
    }


def prepare() -> dict:
    """Put now in period 1 and describe what the browser tests use."""
    school = db.session.scalar(select(School).where(School.code == SCHOOL_CODE))
    _period_around_now(school)
    teacher = db.session.scalar(select(User).where(User.email == TEACHER_EMAIL))
    section = db.session.scalar(
        select(SchoolClass)
        .join(class_teachers, class_teachers.c.class_id == SchoolClass.id)
        .where(class_teachers.c.user_id == teacher.id, SchoolClass.period == PERIOD)
    )
    students = list(
        db.session.scalars(
            select(Student)
            .join(Enrollment, Enrollment.student_id == Student.id)
            .where(Enrollment.class_id == section.id, Student.active.is_(True))
            .order_by(Student.first_name, Student.last_name)
        )
    )
    local_today = utcnow().astimezone(ZoneInfo(school.timezone)).date()
    tags = _car_tags(school, {s.id for s in students}, local_today)[:2]
    if len(tags) < 2:
        raise SystemExit("the demo has no two hang tags riding home by car today from period 1")
    called = {sid for t in tags for sid in t["student_ids"]}
    # Two more cars for a curb test of its own, none of whose students is in the class.
    in_class = {s.id for s in students}
    others = set(
        db.session.scalars(
            select(Student.id).where(Student.school_id == school.id, Student.active.is_(True))
        )
    ) - in_class
    spare_tags = [
        t for t in _car_tags(school, others, local_today) if not in_class & set(t["student_ids"])
    ][:2]
    # Hall pass flows use students the car line flow does not call, one each.
    free = [s for s in students if s.id not in called]
    destinations = list(
        db.session.scalars(
            select(Destination)
            .where(Destination.school_id == school.id, Destination.active.is_(True))
            .order_by(Destination.name)
        )
    )
    go_now = [d.name for d in destinations if d.self_start]
    ask = [d.name for d in destinations if not d.self_start]
    facts = {
        "school": school.name,
        "room": {"id": section.room.id, "name": section.room.name},
        "class": {"id": section.id, "name": section.name},
        "students": [_student(s) for s in free],
        "go_now": go_now,
        "ask": ask,
        "tags": tags,
        "spare_tags": spare_tags,
        "drill": _drill(school, called),
    }
    db.session.commit()
    return facts


def main() -> None:
    """Prepare the school and print the facts as JSON on stdout."""
    app = create_app()
    with app.app_context():
        facts = prepare()
    json.dump(facts, sys.stdout)


if __name__ == "__main__":
    main()

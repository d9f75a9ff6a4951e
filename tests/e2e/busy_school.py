"""A second school with 300 students called at once, for the dismissal TV's browser test.

Run by the test in the browser tests' server database (`python -m tests.e2e.busy_school`):
250 cars (one student each, with the demo's longest first names among them), two buses of
15 riders and 20 walkers, all called today through the car line services. Prints what the
test checks as JSON.
"""

from __future__ import annotations

import json
import random
import sys

from carline.curb import curb_entry
from carline.dismissal import call_bus, release_walkers, start_dismissal
from carline.models import DismissalDefault
from shared import create_app
from shared.audit import SYSTEM
from shared.database import write_intent
from shared.demo import FIRST_NAMES, LAST_NAMES, PASSWORD
from shared.extensions import db
from shared.models import Family, Membership, School, Student, User
from shared.passwords import hash_password
from shared.schedule import school_today

EMAIL = "office@busy.example.org"
CARS, BUS_RIDERS, WALKERS = 250, 30, 20


def seed() -> dict:
    rng = random.Random(300)
    school = School(name="Busy Elementary", code="BUSY", timezone="America/Chicago", settings={})
    db.session.add(school)
    db.session.flush()
    user = User(email=EMAIL, name="Busy Office", password_hash=hash_password(PASSWORD), active=True)
    db.session.add(user)
    db.session.flush()
    db.session.add(Membership(user_id=user.id, school_id=school.id, role="office"))
    longest = sorted(FIRST_NAMES, key=len, reverse=True)[:10]
    students = []
    for n in range(CARS + BUS_RIDERS + WALKERS):
        first = longest[n] if n < len(longest) else rng.choice(FIRST_NAMES)
        student = Student(
            school_id=school.id,
            student_number=f"BUSY{n:04d}",
            first_name=first,
            last_name=rng.choice(LAST_NAMES),
            grade=str(n % 6),
            active=True,
        )
        students.append(student)
    db.session.add_all(students)
    db.session.flush()
    for n, student in enumerate(students[:CARS]):
        db.session.add(Family(school_id=school.id, tag_number=1001 + n, students=[student]))
    for n, student in enumerate(students[CARS:]):
        mode, route = ("bus", "7" if n % 2 else "12") if n < BUS_RIDERS else ("walker", None)
        db.session.add_all(
            DismissalDefault(student_id=student.id, weekday=day, mode=mode, bus_route=route)
            for day in range(7)
        )
    db.session.flush()
    dismissal = start_dismissal(school, SYSTEM, 2, 5, school_today(school))
    for n in range(CARS):
        curb_entry(school, dismissal, tag_number=1001 + n, actor=SYSTEM)
    call_bus(school, dismissal, "7", actor=SYSTEM)
    call_bus(school, dismissal, "12", actor=SYSTEM)
    release_walkers(school, dismissal, actor=SYSTEM)
    db.session.commit()
    return {
        "email": EMAIL,
        "cars": [s.short_name for s in students[:CARS]],
        "newest": students[CARS - 1].short_name,
    }


def main() -> None:
    app = create_app()
    with app.app_context(), write_intent():
        facts = seed()
    json.dump(facts, sys.stdout)


if __name__ == "__main__":
    main()

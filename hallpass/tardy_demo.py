"""Late arrival demo data: a few tardies on each of the last school days, so the tardy
report, the SIS file and the students' histories have something to show.

Called by `flask demo` (shared/demo.py) once the demo school's students, classes and bell
schedule exist. On each of the last school days a handful of students reach the office
during the first two periods of the day, mostly off a late bus, some after an
appointment or a family morning, now and then for another reason with a note; about
half scan their ID at the Main office kiosk, the rest are recorded by the office on its
screen. Each tardy is placed in the bell schedule and in the student's class by the same
rules as a real one (hallpass/tardies.py). Everything comes from the demo's random
generator, so loading is the same for the same day.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select

from hallpass.demo_history import SCHOOL_DAYS_OF_HISTORY, school_days
from hallpass.tardies import class_of_student, place_arrival
from hallpass.tardy_models import Tardy
from shared.extensions import db
from shared.models import BellPeriod, Membership, Room, School, Student
from shared.schedule import school_today

#: Late students a day: between these two numbers.
PER_DAY = (2, 6)
#: How many minutes after the day's first bell they arrive: up to this.
LATEST_MINUTES = 75
REASONS = (("late_bus", 0.45), ("appointment", 0.2), ("family", 0.28), ("other", 0.07))
OTHER_NOTES = ("Car trouble", "Weather on the road", "Came from the dentist without a note")


def load_tardy_history(school: School, rng: random.Random) -> int:
    """Add the demo school's past tardies (one bulk insert, flush only); returns how many."""
    tz = ZoneInfo(school.timezone)
    student_ids = list(
        db.session.scalars(
            select(Student.id)
            .where(Student.school_id == school.id, Student.active.is_(True))
            .order_by(Student.id)
        )
    )
    firsts = dict(
        db.session.execute(
            select(BellPeriod.weekday, BellPeriod.start_time)
            .where(BellPeriod.school_id == school.id)
            .order_by(BellPeriod.weekday, BellPeriod.start_time.desc())
        ).all()
    )  # the last row of each weekday wins: its earliest start
    office = db.session.scalar(
        select(Room.id).where(Room.school_id == school.id, Room.kind == "office").limit(1)
    )
    office_user = db.session.scalar(
        select(Membership.user_id)
        .where(Membership.school_id == school.id, Membership.role == "office")
        .limit(1)
    )
    if not student_ids or not firsts:
        return 0
    rows = []
    for day in school_days(school_today(school), SCHOOL_DAYS_OF_HISTORY):
        if day.weekday() not in firsts:
            continue
        bell = datetime.combine(day, firsts[day.weekday()], tzinfo=tz)
        for student_id in rng.sample(student_ids, min(len(student_ids), rng.randint(*PER_DAY))):
            at = bell + timedelta(
                minutes=rng.randint(1, LATEST_MINUTES), seconds=rng.randint(0, 59)
            )
            placement = place_arrival(school, at)
            period = placement.period.name if placement.period else None
            section = class_of_student(school, student_id, period) if period else None
            reason = rng.choices([r for r, _w in REASONS], [w for _r, w in REASONS])[0]
            at_kiosk = office is not None and rng.random() < 0.5
            rows.append(
                {
                    "school_id": school.id,
                    "student_id": student_id,
                    "day": day,
                    "arrival": 1,
                    "arrived_at": at,
                    "period": period,
                    "class_id": section.id if section else None,
                    "minutes_late": placement.minutes_late,
                    "reason": reason,
                    "note": rng.choice(OTHER_NOTES) if reason == "other" else "",
                    "source": "kiosk" if at_kiosk else "office",
                    "room_id": office if at_kiosk else None,
                    "recorded_by_id": None if at_kiosk else office_user,
                }
            )
    if rows:
        db.session.execute(insert(Tardy), rows)
    return len(rows)

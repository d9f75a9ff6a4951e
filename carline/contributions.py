"""What the car line adds to the core: menu entries, device screens, retention, data
inventory, the demo history, who is away today for an emergency's roll and who may
take a student at the reunification gates (shared/contributions.py).

The core never imports the car line; it reads these once `carline/__init__.py` has
contributed them and the application factory has registered the blueprint.
"""

from __future__ import annotations

import random
from dataclasses import asdict
from datetime import datetime

from flask import Blueprint
from flask_babel import lazy_gettext
from sqlalchemy import delete, select

from carline import pickup
from carline.demo_history import load_carline_history
from carline.models import Absence, DailyChange, Dismissal
from shared.contributions import (
    Cutoff,
    DemoLoader,
    DeviceScreen,
    InventoryEntry,
    NavItem,
    ReleaseSource,
    RetentionPeriod,
    RetentionRule,
    contribute,
)
from shared.extensions import db
from shared.inventory import UNTIL_REMOVED
from shared.models import School, Student
from shared.retention import student_ids
from shared.schedule import school_now

DISMISSAL_KEPT = "Dismissal history retention period of the school (default 365 days)."
PERIOD = "dismissal_history_days"

NAV = [
    NavItem(lazy_gettext("Car line"), "carline.index", ("admin", "office", "teacher", "staff")),
    NavItem(lazy_gettext("Dismissal"), "carline.control", ("admin", "office")),
    NavItem(lazy_gettext("Curb"), "carline.curb", ("admin", "office", "teacher", "staff")),
]

DEVICE_SCREENS = [
    DeviceScreen("scanner", None, "Open the curb screen", "carline.curb"),
    DeviceScreen("display", "dismissal", "Open the dismissal screen", "carline.tv"),
    DeviceScreen("classroom-display", None, "Open the dismissal calls", "carline.classroom"),
]


def _dismissals(school: School, cutoff: Cutoff):
    return delete(Dismissal).where(Dismissal.school_id == school.id, Dismissal.day < cutoff.day)


def _changes(school: School, cutoff: Cutoff):
    return delete(DailyChange).where(
        DailyChange.student_id.in_(student_ids(school)), DailyChange.day < cutoff.day
    )


def _absences(school: School, cutoff: Cutoff):
    return delete(Absence).where(
        Absence.student_id.in_(student_ids(school)), Absence.day < cutoff.day
    )


INVENTORY: dict[str, InventoryEntry] = {
    "hang_tags": InventoryEntry(
        "Hang tags",
        "The QR token printed on a family's hang tag.",
        "Office and admins.",
        "Until reprinted (the old token is revoked) or the family is removed.",
        notes={
            "token": "Random; the printed tag shows only the number and the school.",
            "lost": "The tag was reported lost: its QR code is refused at the curb as lost.",
        },
    ),
    "blocked_tag_numbers": InventoryEntry(
        "Blocked tag numbers",
        "Numbers of lost or stolen hang tags: the curb refuses them and they are never reissued.",
        "Office and admins.",
        UNTIL_REMOVED,
        notes={"reason": 'The office\'s words, e.g. "Lost tag".'},
    ),
    "dismissal_defaults": InventoryEntry(
        "Dismissal plans",
        "How each student goes home on each weekday.",
        "Office and admins; teachers for their students.",
        UNTIL_REMOVED,
        student_data=True,
    ),
    "dismissal_changes": InventoryEntry(
        "Daily plan changes",
        "One-day changes (bus, other family, early pickup).",
        "Office and admins; teachers for their students.",
        DISMISSAL_KEPT,
        student_data=True,
    ),
    "absences": InventoryEntry(
        "Absences",
        "Absent students are never called at dismissal.",
        "Office and admins.",
        DISMISSAL_KEPT,
        student_data=True,
    ),
    "dismissals": InventoryEntry(
        "Dismissals",
        "One school day's car line: lanes, spots, start and end.",
        "Office and admins.",
        DISMISSAL_KEPT,
    ),
    "queue_entries": InventoryEntry(
        "Car line queue",
        "Cars in arrival order with their loading spot and times.",
        "Office, curb staff and screens of the school.",
        DISMISSAL_KEPT,
    ),
    "curb_requests": InventoryEntry(
        "Curb entry receipts",
        "So a retried curb entry never counts a car twice.",
        "Nobody in the app.",
        DISMISSAL_KEPT,
    ),
    "called_students": InventoryEntry(
        "Called students",
        "Who was called, sent and picked up, and when.",
        "Office, curb staff, the dismissal screen and the student's teachers.",
        DISMISSAL_KEPT,
        student_data=True,
    ),
}


def away_today(school: School, at: datetime) -> dict[int, str]:
    """Students not expected at an emergency's assembly area at `at`: absent today, or
    picked up early before then."""
    wall = school_now(school, at)
    day = wall.date()
    mine = select(Student.id).where(Student.school_id == school.id)
    away = {
        student_id: "Absent today"
        for student_id in db.session.scalars(
            select(Absence.student_id).where(Absence.day == day, Absence.student_id.in_(mine))
        )
    }
    for student_id, at in db.session.execute(
        select(DailyChange.student_id, DailyChange.early_pickup).where(
            DailyChange.day == day,
            DailyChange.early_pickup.is_not(None),
            DailyChange.early_pickup <= wall.time().replace(tzinfo=None),
            DailyChange.student_id.in_(mine),
        )
    ):
        away.setdefault(student_id, f"Early pickup at {at:%H:%M}")
    return away


def load_demo(school: School, rng: random.Random) -> dict[str, int]:
    """Weeks of past dismissals for the demo school, and today's plans."""
    return asdict(load_carline_history(school, rng))


def register(bp: Blueprint) -> None:
    contribute(
        bp,
        nav=NAV,
        device_screens=DEVICE_SCREENS,
        retention_periods=[
            RetentionPeriod(PERIOD, "Dismissal history (car line, plan changes, absences)", 365)
        ],
        retention_rules=[
            RetentionRule("dismissals", PERIOD, _dismissals),
            RetentionRule("dismissal_changes", PERIOD, _changes),
            RetentionRule("absences", PERIOD, _absences),
        ],
        inventory=INVENTORY,
        demo_loaders=[DemoLoader("carline", load_demo, "{dismissals} dismissals with {cars} cars")],
        students_away=[away_today],
        release_sources=[ReleaseSource("families", pickup.who_may_take, pickup.students_of_adult)],
    )

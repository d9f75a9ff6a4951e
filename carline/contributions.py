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
from flask_babel import gettext as _
from flask_babel import lazy_gettext, pgettext
from sqlalchemy import delete, func, select

from carline import carpools, pickup, plans
from carline.demo_history import load_carline_history
from carline.models import Absence, CarpoolAgreement, DailyChange, Dismissal, QueueEntry
from shared.contributions import (
    Cutoff,
    DemoLoader,
    DeviceScreen,
    InventoryEntry,
    NavItem,
    ReleaseSource,
    RetentionPeriod,
    RetentionRule,
    SchoolGauge,
    contribute,
)
from shared.extensions import db
from shared.formats import format_time
from shared.inventory import UNTIL_REMOVED
from shared.models import School, Student
from shared.retention import student_ids
from shared.schedule import school_now, school_today

DISMISSAL_KEPT = lazy_gettext(
    "Dismissal history retention period of the school (default 365 days)."
)
PERIOD = "dismissal_history_days"

NAV = [
    NavItem(lazy_gettext("Car line"), "carline.index", ("admin", "office", "teacher", "staff")),
    NavItem(lazy_gettext("Dismissal"), "carline.control", ("admin", "office")),
    NavItem(lazy_gettext("Curb"), "carline.curb", ("admin", "office", "teacher", "staff")),
]

DEVICE_SCREENS = [
    DeviceScreen("scanner", None, lazy_gettext("Open the curb screen"), "carline.curb"),
    DeviceScreen("display", "dismissal", lazy_gettext("Open the dismissal screen"), "carline.tv"),
    DeviceScreen(
        "display",
        "dismissal",
        lazy_gettext("Open the pickup line sign"),
        "carline.pickup_sign_display",
    ),
    DeviceScreen(
        "classroom-display", None, lazy_gettext("Open the dismissal calls"), "carline.classroom"
    ),
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


def _ended_carpools(school: School, cutoff: Cutoff):
    return delete(CarpoolAgreement).where(
        CarpoolAgreement.school_id == school.id,
        CarpoolAgreement.status == "ended",
        CarpoolAgreement.ended_at < cutoff.at,
    )


INVENTORY: dict[str, InventoryEntry] = {
    "hang_tags": InventoryEntry(
        lazy_gettext("Hang tags"),
        lazy_gettext("The QR token printed on a family's hang tag."),
        lazy_gettext("Office and admins."),
        lazy_gettext("Until reprinted (the old token is revoked) or the family is removed."),
        notes={
            "token": lazy_gettext("Random; the printed tag shows only the number and the school."),
            "lost": lazy_gettext(
                "The tag was reported lost: its QR code is refused at the curb as lost."
            ),
        },
    ),
    "blocked_tag_numbers": InventoryEntry(
        lazy_gettext("Blocked tag numbers"),
        lazy_gettext(
            "Numbers of lost or stolen hang tags: the curb refuses them and they are "
            "never reissued."
        ),
        lazy_gettext("Office and admins."),
        UNTIL_REMOVED,
        notes={"reason": lazy_gettext('The office\'s words, e.g. "Lost tag".')},
    ),
    "dismissal_defaults": InventoryEntry(
        lazy_gettext("Dismissal plans"),
        lazy_gettext("How each student goes home on each weekday."),
        lazy_gettext("Office and admins; teachers for their students."),
        UNTIL_REMOVED,
        student_data=True,
    ),
    "dismissal_changes": InventoryEntry(
        lazy_gettext("Daily plan changes"),
        lazy_gettext("One-day changes (bus, other family, early pickup)."),
        lazy_gettext("Office and admins; teachers for their students."),
        DISMISSAL_KEPT,
        student_data=True,
    ),
    "absences": InventoryEntry(
        lazy_gettext("Absences"),
        lazy_gettext("Absent students are never called at dismissal."),
        lazy_gettext("Office and admins."),
        DISMISSAL_KEPT,
        student_data=True,
    ),
    "carpool_agreements": InventoryEntry(
        lazy_gettext("Carpools"),
        lazy_gettext(
            "Two families who agreed to take each other's children home: only then may a "
            "day's plan send a child with the other family."
        ),
        lazy_gettext(
            "Office and admins; each family's guardians see their own, the other family by "
            "its tag number only."
        ),
        lazy_gettext(
            "While active or proposed; once ended, for the dismissal history retention period "
            "(flask purge). Removed with either family. In the family's own download (the "
            "other family by tag number); not student data, so not in a student's export."
        ),
        notes={
            "proposed_by_guardian_id": lazy_gettext(
                "The guardian who proposed it, shown to the office only."
            ),
            "set_up_by_id": lazy_gettext("The office member who set it up."),
        },
    ),
    "dismissals": InventoryEntry(
        lazy_gettext("Dismissals"),
        lazy_gettext("One school day's car line: lanes, spots, start and end."),
        lazy_gettext("Office and admins."),
        DISMISSAL_KEPT,
    ),
    "queue_entries": InventoryEntry(
        lazy_gettext("Car line queue"),
        lazy_gettext("Cars in arrival order with their loading spot and times."),
        lazy_gettext("Office, curb staff and screens of the school."),
        DISMISSAL_KEPT,
    ),
    "curb_requests": InventoryEntry(
        lazy_gettext("Curb entry receipts"),
        lazy_gettext("So a retried curb entry never counts a car twice."),
        lazy_gettext("Nobody in the app."),
        DISMISSAL_KEPT,
    ),
    "called_students": InventoryEntry(
        lazy_gettext("Called students"),
        lazy_gettext("Who was called, sent and picked up, and when."),
        lazy_gettext("Office, curb staff, the dismissal screen and the student's teachers."),
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
        student_id: pgettext("why a student is not at the assembly area", "Absent today")
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
        away.setdefault(student_id, _("Early pickup at %(time)s", time=format_time(at)))
    return away


def load_demo(school: School, rng: random.Random) -> dict[str, int]:
    """Weeks of past dismissals for the demo school, and today's plans."""
    return asdict(load_carline_history(school, rng))


def curb_entries_today(schools: list[School]) -> dict[int, int]:
    """For /metrics: cars queued at the curb in each school's dismissal today, by school id."""
    today = {school.id: school_today(school) for school in schools}
    rows = db.session.execute(
        select(Dismissal.school_id, Dismissal.day, func.count(QueueEntry.id))
        .join(QueueEntry, QueueEntry.dismissal_id == Dismissal.id)
        .where(Dismissal.school_id.in_(today), Dismissal.day.in_(set(today.values())))
        .group_by(Dismissal.school_id, Dismissal.day)
    )
    return {school_id: n for school_id, day, n in rows if today[school_id] == day}


def register(bp: Blueprint) -> None:
    contribute(
        bp,
        nav=NAV,
        device_screens=DEVICE_SCREENS,
        retention_periods=[
            RetentionPeriod(
                PERIOD,
                lazy_gettext("Dismissal history (car line, plan changes, absences)"),
                365,
            )
        ],
        retention_rules=[
            RetentionRule("dismissals", PERIOD, _dismissals),
            RetentionRule("dismissal_changes", PERIOD, _changes),
            RetentionRule("absences", PERIOD, _absences),
            RetentionRule("carpool_agreements", PERIOD, _ended_carpools),
        ],
        inventory=INVENTORY,
        demo_loaders=[DemoLoader("carline", load_demo, "{dismissals} dismissals with {cars} cars")],
        students_away=[away_today],
        release_sources=[ReleaseSource("families", pickup.who_may_take, pickup.students_of_adult)],
        school_gauges=[
            SchoolGauge(
                "passline_curb_entries_today", "Cars queued at the curb today", curb_entries_today
            )
        ],
        early_pickups=[plans.record_early_pickup],
        family_records=[carpools.family_records],
    )

"""What the hall pass adds to the core: menu entries, device screens, housekeeping jobs,
retention, data inventory, the delete check, the demo history and what an emergency event
stops (every pass ends, none starts: shared/contributions.py).

The core never imports the hall pass; it reads these once `hallpass/__init__.py` has
contributed them and the application factory has registered the blueprint.
"""

from __future__ import annotations

import random
from dataclasses import asdict

from flask import Blueprint
from flask_babel import lazy_gettext
from sqlalchemy import delete, select

from hallpass import housekeeping, passes
from hallpass.demo_history import load_hallpass_history
from hallpass.destinations import create_default_destinations
from hallpass.models import HallPass, PassRequest
from shared.contributions import (
    Cutoff,
    DemoLoader,
    DeviceScreen,
    EmergencyHook,
    InventoryEntry,
    Job,
    NavItem,
    RetentionPeriod,
    RetentionRule,
    contribute,
)
from shared.extensions import db
from shared.inventory import UNTIL_REMOVED
from shared.models import School, Student

HALL_TRIPS_KEPT = "Hall pass history retention period of the school (default 365 days)."
PERIOD = "pass_history_days"

NAV = [
    NavItem(lazy_gettext("Hall passes"), "hallpass.index", ("admin", "office", "teacher", "staff")),
    NavItem(lazy_gettext("Hallway"), "hallpass.hallway", ("admin", "office", "staff")),
    NavItem(lazy_gettext("Sweep"), "hallpass.sweep", ("admin", "office")),
    NavItem(lazy_gettext("Pass reports"), "hallpass.reports_index", ("admin", "office", "teacher")),
]

DEVICE_SCREENS = [
    DeviceScreen("display", "hallway", "Open the hallway screen", "hallpass.hallway"),
    DeviceScreen("kiosk", None, "Open the hall pass kiosk", "hallpass.kiosk"),
    DeviceScreen(
        "classroom-display", None, "Open the room's pass QR code", "hallpass.classroom_display"
    ),
]

JOBS = [
    Job("hallpass.end_overrun_passes", lambda: housekeeping.end_overrun_passes(), 30),
    Job("hallpass.expire_requests", lambda: housekeeping.expire_requests(), 30),
]


def _ended_passes(school: School, cutoff: Cutoff):
    return delete(HallPass).where(
        HallPass.school_id == school.id, HallPass.status == "ended", HallPass.ended_at < cutoff.at
    )


def _requests(school: School, cutoff: Cutoff):
    return delete(PassRequest).where(
        PassRequest.school_id == school.id, PassRequest.created_at < cutoff.at
    )


INVENTORY: dict[str, InventoryEntry] = {
    "destinations": InventoryEntry(
        "Pass destinations",
        "Where a pass may go, with time limits and capacity.",
        "All staff.",
        UNTIL_REMOVED,
    ),
    "hallpass_policies": InventoryEntry(
        "Hall pass rules",
        "Daily limits, cooldown, building cap and no-pass windows.",
        "All staff; admins change them.",
        UNTIL_REMOVED,
    ),
    "student_pass_limits": InventoryEntry(
        "Individual pass limits",
        "Exceptions to the daily limit (for example an IEP or 504 plan).",
        "Admins and office.",
        UNTIL_REMOVED,
        student_data=True,
        notes={"note": "Staff note; keep it short and factual."},
    ),
    "keep_apart_groups": InventoryEntry(
        "Keep-apart groups",
        "Students who may not be out of class at the same time.",
        "Admins and office; other staff only see that a pass waits.",
        "Until removed or past its end date.",
        student_data=True,
    ),
    "keep_apart_members": InventoryEntry(
        "Keep-apart members",
        "Which students are in a keep-apart group.",
        "Admins and office.",
        "With the group.",
        student_data=True,
    ),
    "hall_passes": InventoryEntry(
        "Hall passes",
        "Each trip out of class: who, from where, to where, when, who issued and ended it.",
        "Office and admins for the school; teachers for their own classes and rooms.",
        HALL_TRIPS_KEPT,
        student_data=True,
        notes={"token": "Random token in the pass's QR code; no name or number in it."},
    ),
    "pass_requests": InventoryEntry(
        "Pass requests and wait lines",
        "A student's request from a kiosk or the room QR, the teacher's answer, and places "
        "in a destination's wait line.",
        "Teachers of the room asked from; office and admins.",
        HALL_TRIPS_KEPT,
        student_data=True,
        notes={"reason": "Why the request could not start at once (a rule's message)."},
    ),
}


def out_on_a_pass(student: Student) -> str | None:
    """A student out on a pass is not deleted: the pass must end first, so the
    destination's and the building's counts stay right."""
    active = db.session.scalar(
        select(HallPass.id).where(HallPass.student_id == student.id, HallPass.status == "active")
    )
    if active is not None:
        return "The student is out on a pass now. End the pass first, then delete."
    return None


def load_demo(school: School, rng: random.Random) -> dict[str, int]:
    """Destinations for the demo school's rooms and weeks of past passes."""
    create_default_destinations(school)
    return asdict(load_hallpass_history(school, rng))


def register(bp: Blueprint) -> None:
    contribute(
        bp,
        nav=NAV,
        device_screens=DEVICE_SCREENS,
        jobs=JOBS,
        retention_periods=[RetentionPeriod(PERIOD, "Hall pass history", 365)],
        retention_rules=[
            RetentionRule("hall_passes", PERIOD, _ended_passes),
            RetentionRule("pass_requests", PERIOD, _requests),
        ],
        inventory=INVENTORY,
        student_delete_checks=[out_on_a_pass],
        demo_loaders=[
            DemoLoader("hallpass", load_demo, "{passes} hall passes over {days} school days")
        ],
        emergency_hooks=[
            EmergencyHook("hallpass", passes.start_for_emergency, passes.end_for_emergency)
        ],
    )

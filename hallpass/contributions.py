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
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from sqlalchemy import delete, func, select

from hallpass import appointments, housekeeping, passes
from hallpass.demo_appointments import load_demo_appointments
from hallpass.demo_history import load_hallpass_history
from hallpass.destinations import create_default_destinations
from hallpass.models import Appointment, HallPass, OfficeCall, PassRequest, PassStatus
from hallpass.reports import summary
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
    SchoolGauge,
    contribute,
)
from shared.extensions import db
from shared.inventory import UNTIL_REMOVED
from shared.models import School, Student

HALL_TRIPS_KEPT = lazy_gettext(
    "Hall pass history retention period of the school (default 365 days)."
)
PERIOD = "pass_history_days"

NAV = [
    NavItem(lazy_gettext("Hall passes"), "hallpass.index", ("admin", "office", "teacher", "staff")),
    NavItem(lazy_gettext("Hallway"), "hallpass.hallway", ("admin", "office", "staff")),
    NavItem(
        lazy_gettext("Appointments"),
        "hallpass.appointments_page",
        ("admin", "office", "teacher", "staff"),
    ),
    NavItem(lazy_gettext("Sweep"), "hallpass.sweep", ("admin", "office")),
    NavItem(lazy_gettext("Call to the office"), "hallpass.office_calls_page", ("admin", "office")),
    NavItem(lazy_gettext("Pass reports"), "hallpass.reports_index", ("admin", "office", "teacher")),
]

DEVICE_SCREENS = [
    DeviceScreen("display", "hallway", lazy_gettext("Open the hallway screen"), "hallpass.hallway"),
    DeviceScreen("kiosk", None, lazy_gettext("Open the hall pass kiosk"), "hallpass.kiosk"),
    DeviceScreen(
        "classroom-display",
        None,
        lazy_gettext("Open the room's pass QR code"),
        "hallpass.classroom_display",
    ),
]

JOBS = [
    Job("hallpass.end_overrun_passes", lambda: housekeeping.end_overrun_passes(), 30),
    Job("hallpass.expire_requests", lambda: housekeeping.expire_requests(), 30),
    # The daily summary of closed days the reports read (hallpass.reports.summary).
    Job("hallpass.summarize_days", lambda: summary.summarize_closed_days(), 300),
    Job("hallpass.appointment_no_shows", lambda: appointments.mark_no_shows(), 60),
]


def _ended_passes(school: School, cutoff: Cutoff):
    return delete(HallPass).where(
        HallPass.school_id == school.id, HallPass.status == "ended", HallPass.ended_at < cutoff.at
    )


def _office_calls(school: School, cutoff: Cutoff):
    return delete(OfficeCall).where(
        OfficeCall.school_id == school.id, OfficeCall.created_at < cutoff.at
    )


def _appointments(school: School, cutoff: Cutoff):
    return delete(Appointment).where(
        Appointment.school_id == school.id, Appointment.starts_at < cutoff.at
    )


def _requests(school: School, cutoff: Cutoff):
    return delete(PassRequest).where(
        PassRequest.school_id == school.id, PassRequest.created_at < cutoff.at
    )


INVENTORY: dict[str, InventoryEntry] = {
    "destinations": InventoryEntry(
        lazy_gettext("Pass destinations"),
        lazy_gettext("Where a pass may go, with time limits and capacity."),
        lazy_gettext("All staff."),
        UNTIL_REMOVED,
    ),
    "hallpass_policies": InventoryEntry(
        lazy_gettext("Hall pass rules"),
        lazy_gettext("Daily limits, cooldown, building cap and no-pass windows."),
        lazy_gettext("All staff; admins change them."),
        UNTIL_REMOVED,
    ),
    "student_pass_limits": InventoryEntry(
        lazy_gettext("Individual pass limits"),
        lazy_gettext("Exceptions to the daily limit (for example an IEP or 504 plan)."),
        lazy_gettext("Admins and office."),
        UNTIL_REMOVED,
        student_data=True,
        notes={"note": lazy_gettext("Staff note; keep it short and factual.")},
    ),
    "keep_apart_groups": InventoryEntry(
        lazy_gettext("Keep-apart groups"),
        lazy_gettext("Students who may not be out of class at the same time."),
        lazy_gettext("Admins and office; other staff only see that a pass waits."),
        lazy_gettext("Until removed or past its end date."),
        student_data=True,
    ),
    "keep_apart_members": InventoryEntry(
        lazy_gettext("Keep-apart members"),
        lazy_gettext("Which students are in a keep-apart group."),
        lazy_gettext("Admins and office."),
        lazy_gettext("With the group."),
        student_data=True,
    ),
    "hall_passes": InventoryEntry(
        lazy_gettext("Hall passes"),
        lazy_gettext(
            "Each trip out of class: who, from where, to where, when, who issued and ended it."
        ),
        lazy_gettext("Office and admins for the school; teachers for their own classes and rooms."),
        HALL_TRIPS_KEPT,
        student_data=True,
        notes={
            "token": lazy_gettext("Random token in the pass's QR code; no name or number in it.")
        },
    ),
    "hall_pass_summary_days": InventoryEntry(
        lazy_gettext("Summarized days of hall passes"),
        lazy_gettext("Which closed school days the pass reports read from their daily summary."),
        lazy_gettext("Nobody directly; the pass reports read it."),
        lazy_gettext("Until one of the day's passes changes or is deleted."),
    ),
    "hall_pass_summaries": InventoryEntry(
        lazy_gettext("Daily summary of hall passes"),
        lazy_gettext(
            "Each closed day's passes counted by student, destination, who issued them, "
            "period and hour, so reports over a year are quick."
        ),
        lazy_gettext("Office and admins for the school; teachers for their own classes."),
        HALL_TRIPS_KEPT,
        student_data=True,
        notes={
            "passes": lazy_gettext(
                "Counts, minutes and overdue passes only; removed with the passes they count."
            )
        },
    ),
    "hall_pass_summary_groups": InventoryEntry(
        lazy_gettext("Daily groups of hall passes"),
        lazy_gettext(
            "Each closed day's passes counted by destination, who issued them, period and "
            "hour, with which students had them, so the school's report over a year is quick."
        ),
        lazy_gettext("Nobody directly; the pass reports read it."),
        lazy_gettext("Until one of the day's passes changes or is deleted."),
        student_data=True,
        notes={
            "students": lazy_gettext(
                "One bit per student (their place in the summary), not names or numbers."
            )
        },
    ),
    "hall_pass_summary_slots": InventoryEntry(
        lazy_gettext("Students' places in the daily groups"),
        lazy_gettext("A small number per student: the bit that stands for them in the groups."),
        lazy_gettext("Nobody directly; the pass reports read it."),
        lazy_gettext("Until the student is deleted."),
        student_data=True,
    ),
    "pass_requests": InventoryEntry(
        lazy_gettext("Pass requests and wait lines"),
        lazy_gettext(
            "A student's request from a kiosk or the room QR, the teacher's answer, and places "
            "in a destination's wait line."
        ),
        lazy_gettext("Teachers of the room asked from; office and admins."),
        HALL_TRIPS_KEPT,
        student_data=True,
        notes={
            "reason": lazy_gettext("Why the request could not start at once (a rule's message).")
        },
    ),
    "office_calls": InventoryEntry(
        lazy_gettext("Calls to the office"),
        lazy_gettext(
            "The office's call of a student out of class: which office, the class, who called, "
            "the teacher's answer, the arrival."
        ),
        lazy_gettext("Office and admins; the class teacher while the call waits."),
        HALL_TRIPS_KEPT,
        student_data=True,
        notes={"note": lazy_gettext("Staff note; keep it short and factual.")},
    ),
    "appointments": InventoryEntry(
        lazy_gettext("Appointments"),
        lazy_gettext(
            "Passes staff scheduled ahead: the student, where and when, who scheduled it, "
            "and the class teacher's release or decline."
        ),
        lazy_gettext(
            "Whoever scheduled it, the teachers of the student's class then, office and admins."
        ),
        HALL_TRIPS_KEPT,
        student_data=True,
        notes={
            "note": lazy_gettext("Staff note; never shown to the student."),
            "decline_reason": lazy_gettext("The class teacher's reason for keeping the student."),
        },
    ),
}


def out_on_a_pass(student: Student) -> str | None:
    """A student out on a pass is not deleted: the pass must end first, so the
    destination's and the building's counts stay right."""
    active = db.session.scalar(
        select(HallPass.id).where(HallPass.student_id == student.id, HallPass.status == "active")
    )
    if active is not None:
        return _("The student is out on a pass now. End the pass first, then delete.")
    return None


def load_demo(school: School, rng: random.Random) -> dict[str, int]:
    """Destinations for the demo school's rooms, weeks of past passes and the counselor's
    appointments."""
    create_default_destinations(school)
    history = asdict(load_hallpass_history(school, rng))
    appointments_made, passes_made = load_demo_appointments(school, rng)
    history["passes"] += passes_made  # the kept appointments' passes
    return {**history, "appointments": appointments_made}


def passes_out_now(schools: list[School]) -> dict[int, int]:
    """For /metrics: students out on a pass now, by school id."""
    rows = db.session.execute(
        select(HallPass.school_id, func.count())
        .where(
            HallPass.status == PassStatus.ACTIVE, HallPass.school_id.in_([s.id for s in schools])
        )
        .group_by(HallPass.school_id)
    )
    return dict(rows.all())


def register(bp: Blueprint) -> None:
    contribute(
        bp,
        nav=NAV,
        device_screens=DEVICE_SCREENS,
        jobs=JOBS,
        retention_periods=[RetentionPeriod(PERIOD, lazy_gettext("Hall pass history"), 365)],
        retention_rules=[
            RetentionRule("hall_passes", PERIOD, _ended_passes),
            RetentionRule("pass_requests", PERIOD, _requests),
            RetentionRule("office_calls", PERIOD, _office_calls),
            RetentionRule("appointments", PERIOD, _appointments),
        ],
        inventory=INVENTORY,
        student_delete_checks=[out_on_a_pass],
        demo_loaders=[
            DemoLoader(
                "hallpass",
                load_demo,
                "{passes} hall passes over {days} school days, {appointments} appointments",
            )
        ],
        emergency_hooks=[
            EmergencyHook("hallpass", passes.start_for_emergency, passes.end_for_emergency)
        ],
        school_gauges=[
            SchoolGauge("passline_passes_out", "Students out of class now", passes_out_now)
        ],
    )

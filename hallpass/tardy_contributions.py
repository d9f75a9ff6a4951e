"""What late arrivals add to the core: the office's menu entry, the "Late arrivals"
retention period and its purge, the data inventory entry, and the demo school's tardies.

Kept apart from hallpass/contributions.py (a second `contribute` of the same blueprint),
so the tardies' parts are read in one place.
"""

from __future__ import annotations

import random

from flask import Blueprint
from flask_babel import lazy_gettext
from sqlalchemy import delete

from hallpass.tardy_demo import load_tardy_history
from hallpass.tardy_models import Tardy
from shared.contributions import (
    Cutoff,
    DemoLoader,
    InventoryEntry,
    NavItem,
    RetentionPeriod,
    RetentionRule,
    contribute,
)
from shared.models import School

#: The school's retention period of late arrivals (the Privacy page).
PERIOD = "tardy_days"

#: One menu entry, for the office; the tardy report is a tab of the pass reports (and of
#: this screen), which is where teachers look.
NAV = [NavItem(lazy_gettext("Late arrivals"), "hallpass.late_arrivals", ("admin", "office"))]

INVENTORY = {
    "tardies": InventoryEntry(
        lazy_gettext("Late arrivals"),
        lazy_gettext(
            "Each late arrival at the office: the student, when, the period and class, minutes "
            "late, the reason, and who recorded it (for the SIS's tardy records)."
        ),
        lazy_gettext("Office and admins for the school; teachers for their own classes."),
        lazy_gettext("Late arrivals retention period of the school (default 365 days)."),
        student_data=True,
        notes={
            "note": lazy_gettext(
                "A few words for the reason “other”, typed by the office or by the student "
                "at the kiosk; short and factual."
            )
        },
    ),
}


def _old_tardies(school: School, cutoff: Cutoff):
    return delete(Tardy).where(Tardy.school_id == school.id, Tardy.day < cutoff.day)


def load_demo(school: School, rng: random.Random) -> dict[str, int]:
    return {"tardies": load_tardy_history(school, rng)}


def register(bp: Blueprint) -> None:
    contribute(
        bp,
        nav=NAV,
        retention_periods=[RetentionPeriod(PERIOD, lazy_gettext("Late arrivals"), 365)],
        retention_rules=[RetentionRule("tardies", PERIOD, _old_tardies)],
        inventory=INVENTORY,
        demo_loaders=[DemoLoader("tardies", load_demo, "{tardies} late arrivals")],
    )

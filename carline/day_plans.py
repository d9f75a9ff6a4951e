"""How a student goes home on a day: the rule that reads a day's plan, in one place.

How a student goes home on a day (`dismissal_mode`): absent, else the office's daily
change, else the weekday default, else "car" when the student is on an active
family's tag, else "unplanned". Unplanned students are never called: releasing a
child on foot or to a bus must be someone's explicit choice. They are listed among
the late pickups at the end of the day, so the office notices the missing plan.

Everything that needs a day's plans (the curb, buses and walkers, late pickups, the
office's and the teachers' lists, reports) reads them here, in one statement for any
number of students. Nothing here writes; the plans are written in `carline.plans`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, time
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext, ngettext
from sqlalchemy import Select, and_, select

from carline.models import (
    DISMISSAL_MODES,
    ROUTE_LENGTH,
    Absence,
    DailyChange,
    DismissalDefault,
)
from shared.errors import InvalidInput
from shared.extensions import db
from shared.models import Family, Student, family_students

#: The school days a weekday default is usually set for (0 = Monday).
SCHOOL_DAYS = (0, 1, 2, 3, 4)
#: How each way home is named on a screen (lazy: in the language of the request).
MODE_LABELS = {
    "car": lazy_gettext("Car"),
    "bus": lazy_gettext("Bus"),
    "walker": lazy_gettext("Walker"),
    "aftercare": lazy_gettext("After-care"),
    "absent": lazy_gettext("Absent"),
    "unplanned": lazy_gettext("No plan"),
}


@dataclass(frozen=True)
class DayPlan:
    """How a student goes home on one day, and which rule said so."""

    #: "absent", one of DISMISSAL_MODES, or "unplanned".
    mode: str
    #: "absence", "change", "default", "family" or "none".
    source: str
    bus_route: str | None = None
    #: For a car rider: the one family taking the student today (None: any of theirs).
    family_id: int | None = None
    early_pickup: time | None = None
    note: str = ""


def check_mode_and_route(mode: str, bus_route: str | None) -> str | None:
    """Check a dismissal mode; the bus route it needs (normalised), else None."""
    if mode not in DISMISSAL_MODES:
        raise InvalidInput(_("Choose car, bus, walker or after-care."), field="mode")
    if mode != "bus":
        return None
    return check_route(bus_route)


def check_route(bus_route: str | None) -> str:
    """A bus route as typed, normalised (upper case, trimmed); refused when blank or too long."""
    route = (bus_route or "").strip().upper()
    if not route or len(route) > ROUTE_LENGTH:
        raise InvalidInput(
            ngettext(
                "Enter the bus route (up to %(num)d character).",
                "Enter the bus route (up to %(num)d characters).",
                ROUTE_LENGTH,
            ),
            field="bus_route",
        )
    return route


def with_plans(students: Select, day: date) -> Select:
    """`students` (a query of students) with the columns of each one's plan for the day.

    One statement: at most one absence and one daily change per student and day, and one
    default per weekday, are joined in; `plan_of` reads them back.
    """
    on_a_tag = (
        select(family_students.c.student_id)
        .join(Family, Family.id == family_students.c.family_id)
        .where(family_students.c.student_id == Student.id, Family.active.is_(True))
        .exists()
    )
    return (
        students.outerjoin(Absence, and_(Absence.student_id == Student.id, Absence.day == day))
        .outerjoin(DailyChange, and_(DailyChange.student_id == Student.id, DailyChange.day == day))
        .outerjoin(
            DismissalDefault,
            and_(
                DismissalDefault.student_id == Student.id,
                DismissalDefault.weekday == day.weekday(),
            ),
        )
        .add_columns(
            Absence.id.label("absence_id"),
            DailyChange.id.label("change_id"),
            DailyChange.mode.label("change_mode"),
            DailyChange.bus_route.label("change_bus_route"),
            DailyChange.family_id.label("change_family_id"),
            DailyChange.early_pickup.label("change_early_pickup"),
            DailyChange.note.label("change_note"),
            DismissalDefault.mode.label("default_mode"),
            DismissalDefault.bus_route.label("default_bus_route"),
            on_a_tag.label("on_a_tag"),
        )
    )


def plan_of(row: Any) -> DayPlan:
    """The plan of one row of `with_plans`: absence > daily change > default > tag."""
    if row.absence_id is not None:
        return DayPlan("absent", "absence")
    if row.change_id is not None:
        return DayPlan(
            row.change_mode,
            "change",
            bus_route=row.change_bus_route,
            family_id=row.change_family_id,
            early_pickup=row.change_early_pickup,
            note=row.change_note,
        )
    if row.default_mode is not None:
        return DayPlan(row.default_mode, "default", bus_route=row.default_bus_route)
    return DayPlan("car", "family") if row.on_a_tag else DayPlan("unplanned", "none")


def day_plans(
    school_id: int, day: date, student_ids: Iterable[int] | None = None
) -> dict[int, DayPlan]:
    """Each student's plan for the day (all active students of the school by default)."""
    students = select(Student.id).where(Student.school_id == school_id)
    if student_ids is None:
        students = students.where(Student.active.is_(True))
    else:
        students = students.where(Student.id.in_(set(student_ids)))
    return plans_of(students, day)


def plans_of(students: Select, day: date) -> dict[int, DayPlan]:
    """The day's plan of each student id that `students` (a query of Student.id) selects."""
    return {row.id: plan_of(row) for row in db.session.execute(with_plans(students, day))}


def dismissal_mode(student: Student, day: date) -> DayPlan:
    """How the student goes home on the day: absence > daily change > weekday default."""
    return day_plans(student.school_id, day, [student.id])[student.id]

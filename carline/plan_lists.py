"""Dismissal plans, the read side: the lists the office and the teachers look at.

A student's weekday defaults and coming changes (the plan page), the office's overview
of one day (changes, absences, students without a plan), a teacher's students whose plan
is unusual today, and the notes a classroom shows next to its calls. Which plan applies
on a day is decided by `carline.day_plans`; nothing here writes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from carline.day_plans import DayPlan, day_plans
from carline.models import Absence, DailyChange, DismissalDefault
from shared.errors import Forbidden
from shared.extensions import db
from shared.models import Enrollment, Family, School, SchoolClass, Student, User
from shared.schedule import teacher_classes


def weekday_defaults(student: Student) -> dict[int, DismissalDefault]:
    """The student's weekday defaults by weekday (0 = Monday)."""
    return {
        d.weekday: d
        for d in db.session.scalars(
            select(DismissalDefault).where(DismissalDefault.student_id == student.id)
        )
    }


def upcoming_changes(student: Student, today: date) -> list[DailyChange]:
    """The student's changes for today and later days (a guardian's with their name)."""
    return list(
        db.session.scalars(
            select(DailyChange)
            .where(DailyChange.student_id == student.id, DailyChange.day >= today)
            .options(
                selectinload(DailyChange.family), selectinload(DailyChange.created_by_guardian)
            )
            .order_by(DailyChange.day)
        )
    )


def is_absent(student: Student, day: date) -> bool:
    """Whether the student is marked absent on the day."""
    return (
        db.session.scalar(
            select(Absence.id).where(Absence.student_id == student.id, Absence.day == day)
        )
        is not None
    )


@dataclass(frozen=True)
class DayOverview:
    """The office's view of one day: its changes, its absences, students without a plan."""

    day: date
    changes: list[DailyChange]
    absent: list[Student]
    #: Active students with no plan that day: never called, listed as late pickups.
    unplanned: list[Student]
    #: The absences, by student id (who reported them, their note).
    absences: dict[int, Absence] = field(default_factory=dict)


def day_overview(school: School, day: date) -> DayOverview:
    """Every daily change and absence of the school on the day."""
    changes = db.session.scalars(
        select(DailyChange)
        .join(Student, Student.id == DailyChange.student_id)
        .where(Student.school_id == school.id, DailyChange.day == day)
        .options(
            selectinload(DailyChange.student),
            selectinload(DailyChange.family),
            selectinload(DailyChange.created_by_guardian),
        )
        .order_by(Student.last_name, Student.first_name, Student.id)
    ).all()
    rows = db.session.execute(
        select(Student, Absence)
        .join(Absence, Absence.student_id == Student.id)
        .where(Student.school_id == school.id, Absence.day == day)
        .options(selectinload(Absence.created_by_guardian))
        .order_by(Student.last_name, Student.first_name, Student.id)
    ).all()
    absent = [student for student, _ in rows]
    plans = day_plans(school.id, day)
    unplanned_ids = [sid for sid, plan in plans.items() if plan.mode == "unplanned"]
    unplanned = db.session.scalars(
        select(Student)
        .where(Student.id.in_(unplanned_ids))
        .order_by(Student.last_name, Student.first_name, Student.id)
    ).all()
    absences = {student.id: absence for student, absence in rows}
    return DayOverview(day, list(changes), absent, list(unplanned), absences)


@dataclass(frozen=True)
class TeacherStudentPlan:
    """One of a teacher's students whose plan for the day is not the usual one."""

    student: Student
    classes: list[str]
    plan: DayPlan
    family: Family | None


def teacher_students(school: School, user: User) -> set[int]:
    """Ids of the active students in the teacher's classes."""
    class_ids = [c.id for c in teacher_classes(school, user.id)]
    if not class_ids:
        return set()
    return set(
        db.session.scalars(
            select(Enrollment.student_id)
            .join(Student, Student.id == Enrollment.student_id)
            .where(Enrollment.class_id.in_(class_ids), Student.active.is_(True))
        )
    )


def plan_families(plans: Iterable[DayPlan]) -> dict[int, Family]:
    """The families the plans send students home with, by id."""
    family_ids = [p.family_id for p in plans if p.family_id]
    return {f.id: f for f in db.session.scalars(select(Family).where(Family.id.in_(family_ids)))}


def teacher_changes(school: School, user: User, day: date) -> list[TeacherStudentPlan]:
    """The teacher's students with a change or an absence on the day."""
    classes = teacher_classes(school, user.id)
    by_student: dict[int, list[str]] = {}
    if classes:
        rows = db.session.execute(
            select(Enrollment.student_id, SchoolClass.name, SchoolClass.period)
            .join(SchoolClass, SchoolClass.id == Enrollment.class_id)
            .where(Enrollment.class_id.in_([c.id for c in classes]))
        )
        for student_id, name, period in rows:
            label = _("%(class)s (period %(period)s)", **{"class": name, "period": period})
            label = label if period else name
            by_student.setdefault(student_id, []).append(label)
    plans = day_plans(school.id, day, by_student.keys()) if by_student else {}
    unusual = {sid: p for sid, p in plans.items() if p.source in ("change", "absence")}
    if not unusual:
        return []
    students = db.session.scalars(
        select(Student)
        .where(Student.id.in_(list(unusual)), Student.active.is_(True))
        .order_by(Student.last_name, Student.first_name, Student.id)
    ).all()
    families = plan_families(unusual.values())
    return [
        TeacherStudentPlan(
            s, sorted(by_student[s.id]), unusual[s.id], families.get(unusual[s.id].family_id)
        )
        for s in students
    ]


def may_view_plan(school: School, user: User, roles: frozenset[str], student: Student) -> None:
    """Office and admin see every plan; a teacher only those of students they teach."""
    if roles & {"admin", "office"}:
        return
    if "teacher" in roles and student.id in teacher_students(school, user):
        return
    raise Forbidden(_("This student is not in one of your classes."))


@dataclass(frozen=True)
class PlanNote:
    """A student of the room whose plan today is not the usual one."""

    student: Student
    plan: DayPlan
    family: Family | None


def room_plan_notes(school: School, day: date, student_ids: set[int]) -> list[PlanNote]:
    """The students' daily changes and absences for the day, by name."""
    if not student_ids:
        return []
    plans = {
        sid: plan
        for sid, plan in day_plans(school.id, day, student_ids).items()
        if plan.source in ("change", "absence")
    }
    if not plans:
        return []
    students = db.session.scalars(
        select(Student)
        .where(Student.id.in_(list(plans)))
        .order_by(Student.last_name, Student.first_name, Student.id)
    ).all()
    families = plan_families(plans.values())
    return [PlanNote(s, plans[s.id], families.get(plans[s.id].family_id)) for s in students]

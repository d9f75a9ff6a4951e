"""The demo school's past hall passes: realistic, ended, fast to load, the same every time."""

import random
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from statistics import median
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, func, select

from hallpass.appointments import class_room_id
from hallpass.demo_history import SCHOOL_DAYS_OF_HISTORY, SUBSTITUTE_NAME, load_hallpass_history
from hallpass.models import Appointment, Destination, HallPass, HallpassPolicy
from shared.demo import COUNSELOR_EMAIL, SCHOOL_CODE
from shared.models import (
    BellPeriod,
    Enrollment,
    School,
    SchoolClass,
    SubstituteAssignment,
    User,
    class_teachers,
)


@pytest.fixture
def demo(app, db) -> School:
    result = app.test_cli_runner().invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    return db.session.scalar(select(School).where(School.code == SCHOOL_CODE))


def check_weeks_of_ended_passes_in_class_time(demo, db):
    tz = ZoneInfo(demo.timezone)
    passes = db.session.scalars(select(HallPass).where(HallPass.school_id == demo.id)).all()
    assert 2000 <= len(passes) <= 8000
    assert all(p.status == "ended" and p.ended_at > p.started_at for p in passes)
    today = datetime.now(UTC).astimezone(tz).date()
    days = {p.started_at.astimezone(tz).date() for p in passes}
    assert len(days) == SCHOOL_DAYS_OF_HISTORY
    assert all(day < today and day.weekday() < 5 for day in days)
    periods = db.session.scalars(select(BellPeriod).where(BellPeriod.school_id == demo.id)).all()
    for p in passes:  # inside a class period, never lunch, back by the bell
        start, end = p.started_at.astimezone(tz), p.ended_at.astimezone(tz)
        period = next(
            b
            for b in periods
            if b.weekday == start.weekday() and b.start_time <= start.time() < b.end_time
        )
        assert period.name != "Lunch" and end.time() <= period.end_time
    # no live counter moved, nothing is out
    assert not db.session.scalar(select(func.sum(Destination.out_now)))
    assert not db.session.scalar(select(func.sum(HallpassPolicy.out_now)))


def check_passes_look_like_a_real_school(demo, db):
    passes = db.session.scalars(select(HallPass).where(HallPass.school_id == demo.id)).all()
    names = {d.id: d.name for d in db.session.scalars(select(Destination))}
    by_destination = Counter(names[p.destination_id] for p in passes)
    restroom_share = sum(n for name, n in by_destination.items() if "estroom" in name)
    assert restroom_share / len(passes) > 0.5
    assert {"Nurse", "Library", "Water fountain"} <= set(by_destination)
    overdue = [
        p for p in passes if p.ended_at - p.started_at > timedelta(minutes=p.time_limit_minutes)
    ]
    assert 0.03 < len(overdue) / len(passes) < 0.2
    assert any(p.ended_by == "system" for p in passes)
    # The counselor's kept appointments (hallpass/demo_appointments.py) started passes too.
    assert {p.source for p in passes} == {"teacher", "kiosk", "room_qr", "appointment"}
    per_student = Counter(p.student_id for p in passes)
    top = per_student.most_common(5)
    assert top[0][1] >= 4 * median(per_student.values())  # a few frequent users
    # a student is never out twice at once; a destination never over its capacity
    by_student = defaultdict(list)
    for p in passes:
        by_student[p.student_id].append(p)
    for student_passes in by_student.values():
        student_passes.sort(key=lambda p: p.started_at)
        for before, after in pairwise(student_passes):
            assert before.ended_at <= after.started_at
    capacity = {d.id: d.capacity for d in db.session.scalars(select(Destination))}
    for destination_id, cap in capacity.items():
        if cap is None:
            continue
        mine = [p for p in passes if p.destination_id == destination_id]
        for p in mine:
            out = sum(1 for q in mine if q.started_at <= p.started_at < q.ended_at)
            assert out <= cap


def check_passes_come_from_the_class_room_and_its_teacher(demo, db):
    tz = ZoneInfo(demo.timezone)
    classes = db.session.execute(
        select(
            SchoolClass.period, SchoolClass.room_id, Enrollment.student_id, class_teachers.c.user_id
        )
        .join(Enrollment, Enrollment.class_id == SchoolClass.id)
        .join(class_teachers, class_teachers.c.class_id == SchoolClass.id)
        .where(SchoolClass.school_id == demo.id)
    ).all()
    seat = {(period, student): (room, teacher) for period, room, student, teacher in classes}
    periods = db.session.scalars(select(BellPeriod).where(BellPeriod.school_id == demo.id)).all()
    passes = db.session.scalars(select(HallPass).where(HallPass.school_id == demo.id)).all()
    teacher_issued = 0
    for p in passes[:500]:
        start = p.started_at.astimezone(tz)
        period = next(
            b.name
            for b in periods
            if b.weekday == start.weekday() and b.start_time <= start.time() < b.end_time
        )
        room, teacher = seat[period, p.student_id]
        assert p.from_room_id == room
        assert p.issued_by_id in (None, teacher)
        teacher_issued += p.issued_by_id is not None
    assert teacher_issued > 250


def check_a_substitute_stood_in_on_the_last_day(demo, db):
    """One teacher was out on the history's last day: their passes are the substitute's."""
    tz = ZoneInfo(demo.timezone)
    assignment = db.session.scalar(
        select(SubstituteAssignment).where(SubstituteAssignment.school_id == demo.id)
    )
    assert assignment.name == SUBSTITUTE_NAME and assignment.expires_at < datetime.now(UTC)
    marked = db.session.scalars(
        select(HallPass).where(HallPass.substitute_id == assignment.id)
    ).all()
    assert marked and all(p.issued_by_id == assignment.teacher_id for p in marked)
    assert {p.started_at.astimezone(tz).date() for p in marked} == {assignment.day}
    last = max(p.started_at for p in db.session.scalars(select(HallPass)))
    assert assignment.day == last.astimezone(tz).date()


def test_demo_history_is_realistic(demo, db):
    """One demo load for several checks (loading it takes a few seconds)."""
    check_weeks_of_ended_passes_in_class_time(demo, db)
    check_passes_look_like_a_real_school(demo, db)
    check_passes_come_from_the_class_room_and_its_teacher(demo, db)
    check_the_counselor_has_appointments(demo, db)
    check_a_substitute_stood_in_on_the_last_day(demo, db)


def check_the_counselor_has_appointments(demo, db):
    """The counselor's past appointments (kept, declined, missed) and coming ones, each in
    a period where its student has a class (hallpass/demo_appointments.py)."""
    counselor = db.session.scalar(select(User).where(User.email == COUNSELOR_EMAIL))
    assert {m.role for m in counselor.memberships} == {"staff"}
    found = db.session.scalars(select(Appointment).where(Appointment.school_id == demo.id)).all()
    assert {a.scheduled_by_id for a in found} == {counselor.id}
    statuses = Counter(a.status for a in found)
    assert statuses["released"] == 5 and statuses["scheduled"] >= 7
    assert statuses["declined"] + statuses["no_show"] == 5
    for a in found:
        assert class_room_id(demo, a.student_id, a.period) is not None
        if a.status == "released":
            assert a.hall_pass.source == "appointment" and a.hall_pass.arrived_at
    assert len({a.series for a in found if a.series}) == 1
    office = db.session.scalar(select(Destination).where(Destination.name == "Counselor"))
    assert office.appointments_skip_limits


def test_the_history_is_the_same_for_the_same_seed(demo, db):
    now = datetime(2026, 11, 24, 18, 0, tzinfo=UTC)
    db.session.execute(delete(HallPass))
    db.session.commit()

    def generate() -> list[tuple]:
        summary = load_hallpass_history(demo, random.Random(7), now=now)
        rows = db.session.execute(
            select(HallPass.student_id, HallPass.destination_id, HallPass.started_at).order_by(
                HallPass.id
            )
        ).all()
        db.session.rollback()
        return summary, rows

    first, rows = generate()
    again, rows_again = generate()
    assert first == again and rows == rows_again and first.passes == len(rows)
    assert first.days == SCHOOL_DAYS_OF_HISTORY and first.overdue > 0


def test_reports_show_the_demo_history(demo, client, db):
    response = client.post(
        "/login", data={"email": "office@example.org", "password": "passline-demo"}
    )
    assert response.status_code == 302
    page = client.get("/hallpass/reports").get_data(as_text=True)
    assert 'class="chart-bar"' in page and "Most frequent users" in page
    assert "No passes." not in page

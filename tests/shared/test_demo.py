"""`flask demo`: a realistic demo school, loaded once, never over real data."""

from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from hallpass.models import HallPass
from shared.demo import PASSWORD, ROLE_ACCOUNTS, SCHOOL_CODE
from shared.models import (
    AuditEvent,
    BellPeriod,
    Enrollment,
    Family,
    Membership,
    Room,
    School,
    SchoolClass,
    Student,
    User,
    class_teachers,
    family_students,
)
from shared.passwords import verify_password
from shared.schedule import class_in_session, current_period
from tests.helpers import planner_row_count

#: A Monday during the school year, and every weekday of its week at 10:00 in Chicago.
MONDAY = datetime(2025, 3, 3, tzinfo=ZoneInfo("America/Chicago"))
WEEKDAY_MORNINGS = [MONDAY + timedelta(days=d, hours=10) for d in range(5)]


def run_demo(app):
    return app.test_cli_runner().invoke(args=["demo"])


def table_counts(db) -> dict[str, int]:
    return {
        table.name: db.session.scalar(select(func.count()).select_from(table))
        for table in db.metadata.sorted_tables
    }


@pytest.fixture
def demo(app, db) -> School:
    result = run_demo(app)
    assert result.exit_code == 0, result.output
    return db.session.scalar(select(School).where(School.code == SCHOOL_CODE))


def test_demo_loads_a_school_with_people_places_and_a_schedule(app, db):
    result = run_demo(app)

    assert result.exit_code == 0, result.output
    school = db.session.scalar(select(School))
    assert school.code == SCHOOL_CODE and school.is_demo
    assert school.timezone == "America/Chicago"
    students = db.session.scalar(select(func.count()).select_from(Student))
    assert 550 <= students <= 650
    grades = Counter(db.session.scalars(select(Student.grade)))
    assert set(grades) == {"6", "7", "8"} and min(grades.values()) >= 180
    teachers = db.session.scalar(
        select(func.count()).where(Membership.school_id == school.id, Membership.role == "teacher")
    )
    assert teachers == 30
    kinds = set(db.session.scalars(select(Room.kind)))
    assert {"classroom", "restroom", "nurse", "office", "library", "counselor"} <= kinds
    assert db.session.scalar(select(func.count()).select_from(BellPeriod)) > 0
    numbers = list(db.session.scalars(select(Student.student_number)))
    assert len(set(numbers)) == len(numbers)
    assert db.session.scalar(select(func.count()).where(Student.preferred_name.is_not(None)))
    assert "demo.load" in db.session.scalars(select(AuditEvent.action))
    # a few weeks of past hall passes, all ended (hallpass/demo_history.py)
    passes = Counter(db.session.scalars(select(HallPass.status)))
    assert passes["ended"] > 1000 and passes["active"] == 0
    for email, _, _ in ROLE_ACCOUNTS:
        assert email in result.output
    assert PASSWORD in result.output
    assert f"History: {passes['ended']} hall passes over 20 school days" in result.output


def test_each_role_account_signs_in_with_the_demo_password(demo, db):
    for email, _, role in ROLE_ACCOUNTS:
        user = db.session.scalar(select(User).where(User.email == email))
        assert verify_password(user.password_hash, PASSWORD)
        roles = {m.role for m in user.memberships if m.school_id == demo.id}
        assert role in roles


def test_teacher_account_has_a_class_in_session_every_weekday_morning(demo, db):
    teacher = db.session.scalar(select(User).where(User.email == "teacher@example.org"))

    for morning in WEEKDAY_MORNINGS:
        session = class_in_session(demo, teacher.id, morning)
        assert session is not None, morning
        assert session.period == current_period(demo, morning).name
    periods = db.session.scalars(
        select(SchoolClass.period)
        .join(class_teachers, class_teachers.c.class_id == SchoolClass.id)
        .where(class_teachers.c.user_id == teacher.id)
    )
    assert sorted(periods) == ["1", "2", "3", "4", "5", "6", "7", "Homeroom"]


def test_every_student_has_one_class_each_period(demo, db):
    per_student_period = db.session.execute(
        select(Enrollment.student_id, SchoolClass.period, func.count())
        .join(SchoolClass, SchoolClass.id == Enrollment.class_id)
        .group_by(Enrollment.student_id, SchoolClass.period)
    ).all()
    students = db.session.scalar(select(func.count()).select_from(Student))

    assert {n for _, _, n in per_student_period} == {1}
    assert len(per_student_period) == students * 8  # periods 1-7 and homeroom


def test_no_teacher_teaches_two_classes_at_once(demo, db):
    rows = db.session.execute(
        select(class_teachers.c.user_id, SchoolClass.period, func.count())
        .join(SchoolClass, SchoolClass.id == class_teachers.c.class_id)
        .group_by(class_teachers.c.user_id, SchoolClass.period)
    ).all()

    assert {n for _, _, n in rows} == {1}


def test_families_have_tags_siblings_and_carpools(demo, db):
    families = list(db.session.scalars(select(Family)))
    assert 380 <= len(families) <= 460
    assert len({f.tag_number for f in families}) == len(families)
    siblings = [
        f for f in families if len(f.students) > 1 and len({s.last_name for s in f.students}) == 1
    ]
    assert siblings
    assert all(len({s.grade for s in f.students}) == len(f.students) for f in siblings)
    assert all(f.pickup_adults for f in families)
    in_two = db.session.scalar(
        select(func.count()).select_from(
            select(family_students.c.student_id)
            .group_by(family_students.c.student_id)
            .having(func.count() > 1)
            .subquery()
        )
    )
    assert in_two > 0
    without_family = db.session.scalar(
        select(func.count()).where(
            Student.id.not_in(select(family_students.c.student_id)),
        )
    )
    assert without_family > 0


def test_running_it_again_changes_nothing(demo, app, db):
    before = table_counts(db)

    result = run_demo(app)

    assert result.exit_code == 0
    assert "already loaded" in result.output
    assert table_counts(db) == before


def test_refuses_a_database_with_a_real_school(app, db, school):
    before = table_counts(db)

    result = run_demo(app)

    assert result.exit_code != 0
    assert "(LMS)" in result.output
    assert table_counts(db) == before


def test_refuses_a_database_with_real_staff(app, db, make_user):
    make_user(email="it@district.example")
    before = table_counts(db)

    result = run_demo(app)

    assert result.exit_code != 0
    assert table_counts(db) == before


def test_takes_over_demo_accounts_left_from_an_earlier_demo_school(app, db, make_user):
    make_user(email="teacher@example.org", active=False)

    result = run_demo(app)

    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User).where(User.email == "teacher@example.org"))
    db.session.refresh(user)
    assert user.active and verify_password(user.password_hash, PASSWORD)
    assert [m.role for m in user.memberships] == ["teacher"]


def test_demo_pages_show_the_demo_banner(demo, client):
    response = client.post("/login", data={"email": "admin@example.org", "password": PASSWORD})
    assert response.status_code == 302

    page = client.get("/dashboard")

    assert page.status_code == 200
    assert "Demo data" in page.get_data(as_text=True)


def test_the_demo_leaves_the_query_planner_statistics_of_what_it_loaded(app, db):
    """Without them SQLite and a fresh PostgreSQL pick slow plans for the first reports."""
    assert run_demo(app).exit_code == 0
    students = db.session.scalar(select(func.count()).select_from(Student))
    passes = db.session.scalar(select(func.count()).select_from(HallPass))
    assert planner_row_count(db, "students") == students
    assert planner_row_count(db, "hall_passes") == passes

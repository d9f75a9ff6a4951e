"""Car line office: dismissal plans, daily changes and the cutoff, absences, teacher view."""

from datetime import UTC, datetime, timedelta
from datetime import time as clock

import pytest
from sqlalchemy import func, select

from carline import carpools
from carline.day_plans import dismissal_mode
from carline.families import family_by_tag
from carline.models import Absence, DailyChange, DismissalDefault
from carline.plan_lists import weekday_defaults
from carline.plans import mark_absent, record_change, set_weekday_defaults, take_back_change
from carline.settings import save_settings
from shared.audit import Actor
from shared.errors import Forbidden, InvalidInput
from shared.forms import parse_clock, parse_int
from shared.models import AuditEvent, Enrollment, Family, SchoolClass, Student
from shared.schedule import school_today
from tests.helpers import audit_actions

#: A Monday; the school (America/Chicago) is at 13:00 and 15:00 local time.
DAY = datetime(2026, 11, 23).date()
AT_1PM = datetime(2026, 11, 23, 19, 0, tzinfo=UTC)
AT_3PM = datetime(2026, 11, 23, 21, 0, tzinfo=UTC)


@pytest.fixture
def kid(db, school):
    student = Student(
        school_id=school.id, student_number="S1", first_name="Wanda", last_name="Plan", grade="4"
    )
    db.session.add(student)
    db.session.commit()
    return student


@pytest.fixture
def with_cutoff(db, school, make_user):
    save_settings(
        school,
        Actor(user=make_user(school, "admin")),
        lanes=2,
        spots_per_lane=5,
        cutoff=clock(14),
        walker_doors={},
    )
    db.session.commit()
    return school


def test_weekday_defaults_all_at_once_or_one_day(db, school, office_user, kid):
    set_weekday_defaults(school, Actor(user=office_user), kid, [0, 1, 2, 3, 4], "bus", " 12a ")
    set_weekday_defaults(school, Actor(user=office_user), kid, [2], "aftercare")
    db.session.commit()
    defaults = weekday_defaults(kid)
    assert {d: (x.mode, x.bus_route) for d, x in defaults.items()} == {
        0: ("bus", "12A"),
        1: ("bus", "12A"),
        2: ("aftercare", None),
        3: ("bus", "12A"),
        4: ("bus", "12A"),
    }
    assert audit_actions(db).count("carline.plan_default") == 6


@pytest.mark.parametrize(
    "weekdays,mode,route",
    [([], "car", None), ([9], "car", None), ([0], "boat", None), ([0, 1], "bus", "")],
)
def test_bad_defaults_write_nothing(db, school, office_user, kid, weekdays, mode, route):
    with pytest.raises(InvalidInput):
        set_weekday_defaults(school, Actor(user=office_user), kid, weekdays, mode, route)
    db.session.rollback()
    assert db.session.scalar(select(func.count(DismissalDefault.id))) == 0


def test_default_view_and_validation(db, client, login, school, office_user, kid):
    login(office_user)
    url = f"/carline/plans/students/{kid.id}/default"
    response = client.post(url, data={"weekday": ["0", "1"], "mode": "bus", "bus_route": ""})
    assert response.status_code == 400 and "bus route" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(DismissalDefault.id))) == 0
    assert client.post(url, data={"weekday": ["x"], "mode": "car"}).status_code == 400
    response = client.post(url, data={"weekday": ["0", "4"], "mode": "walker"})
    assert response.status_code == 302
    page = client.get(f"/carline/plans/students/{kid.id}").get_data(as_text=True)
    assert "Walker" in page and "Wanda" in page


def test_change_before_the_cutoff_needs_no_override(db, with_cutoff, office_user, kid):
    change = record_change(
        with_cutoff, Actor(user=office_user), kid, DAY, mode="bus", bus_route="7", now=AT_1PM
    )
    db.session.commit()
    assert (change.mode, change.bus_route) == ("bus", "7")
    assert "carline.cutoff_override" not in audit_actions(db)


def test_after_the_cutoff_a_change_needs_the_override_and_a_reason(
    db, with_cutoff, office_user, kid
):
    with pytest.raises(Forbidden, match="cutoff"):
        record_change(with_cutoff, Actor(user=office_user), kid, DAY, mode="walker", now=AT_3PM)
    db.session.rollback()
    with pytest.raises(InvalidInput, match="reason"):
        record_change(
            with_cutoff,
            Actor(user=office_user),
            kid,
            DAY,
            mode="walker",
            override=True,
            reason=" ",
            now=AT_3PM,
        )
    db.session.rollback()
    assert db.session.scalar(select(func.count(DailyChange.id))) == 0
    record_change(
        with_cutoff,
        Actor(user=office_user),
        kid,
        DAY,
        mode="walker",
        override=True,
        reason="Mom called at 2:50",
        now=AT_3PM,
    )
    db.session.commit()
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "carline.cutoff_override")
    )
    assert event.detail == {"day": "2026-11-23", "reason": "Mom called at 2:50", "change": "set"}
    assert event.actor_user_id == office_user.id
    # Tomorrow is not affected by today's cutoff; yesterday is closed.
    record_change(
        with_cutoff, Actor(user=office_user), kid, DAY + timedelta(days=1), mode="car", now=AT_3PM
    )
    with pytest.raises(InvalidInput, match="over"):
        record_change(
            with_cutoff,
            Actor(user=office_user),
            kid,
            DAY - timedelta(days=1),
            mode="car",
            now=AT_1PM,
        )


def test_taking_back_a_change_follows_the_cutoff_too(db, with_cutoff, office_user, kid):
    record_change(with_cutoff, Actor(user=office_user), kid, DAY, mode="walker", now=AT_1PM)
    db.session.commit()
    with pytest.raises(Forbidden):
        take_back_change(with_cutoff, Actor(user=office_user), kid, DAY, now=AT_3PM)
    db.session.rollback()
    take_back_change(
        with_cutoff,
        Actor(user=office_user),
        kid,
        DAY,
        override=True,
        reason="Plans changed",
        now=AT_3PM,
    )
    db.session.commit()
    assert db.session.scalar(select(func.count(DailyChange.id))) == 0
    assert audit_actions(db)[-2:] == ["carline.plan_change_clear", "carline.cutoff_override"]


def test_no_cutoff_means_changes_all_day(db, school, office_user, kid):
    record_change(school, Actor(user=office_user), kid, DAY, mode="walker", now=AT_3PM)
    db.session.commit()
    assert db.session.scalar(select(func.count(DailyChange.id))) == 1


def test_change_with_a_named_family_and_early_pickup(db, school, office_user, kid):
    smiths = Family(school_id=school.id, tag_number=31)
    own = Family(school_id=school.id, tag_number=30, students=[kid])
    db.session.add_all([smiths, own])
    db.session.commit()
    carpools.set_up(school, Actor(user=office_user), own, 31)  # tag 31 carpools with 30
    change = record_change(
        school, Actor(user=office_user), kid, DAY, mode="car", family=family_by_tag(school, 31),
        early_pickup=parse_clock("13:30", field="early_pickup"), note="Dentist", now=AT_1PM,
    )  # fmt: skip
    db.session.commit()
    assert change.family_id == smiths.id and change.early_pickup.strftime("%H:%M") == "13:30"
    plan = dismissal_mode(kid, DAY)
    assert (plan.mode, plan.family_id, plan.note) == ("car", smiths.id, "Dentist")
    # The form's tag number and time are read before the change is recorded.
    for bad in (
        lambda: family_by_tag(school, 999),
        lambda: parse_int("x", field="family_tag"),
        lambda: parse_clock("1:30pm", field="early_pickup"),
    ):
        with pytest.raises(InvalidInput):
            bad()
        db.session.rollback()


def test_change_view_after_cutoff_refused_then_overridden(
    db, client, login, school, office_user, kid
):
    save_settings(
        school, Actor(user=office_user), lanes=2, spots_per_lane=5, cutoff=clock(0), walker_doors={}
    )
    db.session.commit()
    login(office_user)
    url = f"/carline/plans/students/{kid.id}/change"
    page = client.get(f"/carline/plans/students/{kid.id}").get_data(as_text=True)
    assert 'name="override"' in page
    response = client.post(url, data={"mode": "bus", "bus_route": "4"})
    assert response.status_code == 403 and "override" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(DailyChange.id))) == 0
    response = client.post(
        url, data={"mode": "bus", "bus_route": "4", "override": "1", "reason": "Bus swap"}
    )
    assert response.status_code == 302
    assert "carline.cutoff_override" in audit_actions(db)
    today = school_today(school)
    response = client.post(
        f"/carline/plans/students/{kid.id}/change/clear",
        data={"day": today.isoformat(), "override": "1", "reason": "Undo"},
    )
    assert response.status_code == 302
    assert client.post(url, data={"mode": "bus", "day": "someday"}).status_code == 400


def test_absence_today_is_marked_and_cleared(db, client, login, school, office_user, kid):
    login(office_user)
    url = f"/carline/plans/students/{kid.id}/absence"
    assert client.post(url, data={"action": "mark"}).status_code == 302
    today = school_today(school)
    assert dismissal_mode(kid, today).mode == "absent"
    page = client.get("/carline/today").get_data(as_text=True)
    assert "Plan, Wanda" in page and "No dismissal plan today" not in page
    response = client.post(url, data={"action": "clear", "back": "today"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/carline/today")
    assert db.session.scalar(select(func.count(Absence.id))) == 0
    assert client.post(url, data={"action": "explode"}).status_code == 400
    assert client.post(url, data={"action": "clear"}).status_code == 404
    assert audit_actions(db)[-2:] == ["carline.absence", "carline.absence_clear"]
    with pytest.raises(InvalidInput):
        mark_absent(school, Actor(user=office_user), kid, today - timedelta(days=1))


def test_student_search_is_a_post_and_names_stay_out_of_urls(
    client, login, school, office_user, kid
):
    login(office_user)
    page = client.post("/carline/plans", data={"q": "wanda"}).get_data(as_text=True)
    assert f"/carline/plans/students/{kid.id}" in page
    assert (
        client.post("/carline/plans", data={"q": "S1"}).get_data(as_text=True).count("Plan, Wanda")
        == 1
    )
    page = client.post("/carline/today", data={"q": "plan"}).get_data(as_text=True)
    assert "Mark absent" in page


@pytest.fixture
def teacher_with_class(db, school, make_user, kid):
    teacher = make_user(school, "teacher")
    section = SchoolClass(school_id=school.id, name="Grade 4 Blue", period="Homeroom")
    section.teachers.append(teacher)
    db.session.add(section)
    db.session.flush()
    db.session.add(Enrollment(class_id=section.id, student_id=kid.id))
    db.session.commit()
    return teacher


def test_teacher_sees_todays_changes_of_their_students_read_only(
    db, client, login, school, office_user, kid, teacher_with_class
):
    other = Student(school_id=school.id, student_number="S2", first_name="Otto", last_name="Else")
    db.session.add(other)
    db.session.commit()
    today = school_today(school)
    record_change(
        school, Actor(user=office_user), kid, today, mode="bus", bus_route="9", note="Aunt"
    )
    mark_absent(school, Actor(user=office_user), other, today)
    db.session.commit()
    login(teacher_with_class)
    page = client.get("/carline/my-students").get_data(as_text=True)
    assert "Wanda" in page and "Bus 9" in page and "Aunt" in page and "Grade 4 Blue" in page
    assert "Otto" not in page
    plan = client.get(f"/carline/plans/students/{kid.id}")
    assert plan.status_code == 200 and "Save change" not in plan.get_data(as_text=True)
    assert client.get(f"/carline/plans/students/{other.id}").status_code == 403
    url = f"/carline/plans/students/{kid.id}"
    for path in ("/change", "/default", "/absence", "/change/clear"):
        assert client.post(url + path, data={"mode": "car"}).status_code == 403
    assert client.get("/carline/today").status_code == 403
    # The class's period in the reader's words.
    assert "Grade 4 Blue (period Homeroom)" in page
    teacher_with_class.language = "es"
    db.session.commit()
    assert "Grade 4 Blue (periodo Homeroom)" in client.get("/carline/my-students").get_data(
        as_text=True
    )


def test_staff_and_devices_see_no_plans(app, db, client, login, school, make_user, kid):
    login(make_user(school, "staff"))
    assert client.get(f"/carline/plans/students/{kid.id}").status_code == 403
    assert client.get("/carline/my-students").status_code == 403


def test_other_schools_student_is_404(db, client, login, make_school, office_user):
    elsewhere = make_school()
    stranger = Student(school_id=elsewhere.id, student_number="X", first_name="A", last_name="B")
    db.session.add(stranger)
    db.session.commit()
    login(office_user)
    assert client.get(f"/carline/plans/students/{stranger.id}").status_code == 404
    response = client.post(
        f"/carline/plans/students/{stranger.id}/absence", data={"action": "mark"}
    )
    assert response.status_code == 404
    assert db.session.scalar(select(func.count(Absence.id))) == 0


def test_today_lists_students_without_a_plan(db, client, login, school, office_user, kid):
    login(office_user)
    page = client.get("/carline/today").get_data(as_text=True)
    assert "No dismissal plan today (1)" in page and "Plan, Wanda" in page
    set_weekday_defaults(school, Actor(user=office_user), kid, list(range(7)), "walker")
    db.session.commit()
    assert "No dismissal plan today" not in client.get("/carline/today").get_data(as_text=True)

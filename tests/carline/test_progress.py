"""Running dismissal, read side and walker doors: which room a student leaves from, call lists."""

from datetime import UTC, date, datetime
from datetime import time as clock

import pytest
from sqlalchemy import select

from carline import progress
from carline.curb import curb_entry, mark_loaded
from carline.dismissal import release_walkers, start_dismissal, todays_dismissal
from carline.models import CalledStudent
from carline.plans import set_weekday_defaults
from carline.progress import call_rows, walker_groups
from carline.rooms import room_student_ids
from shared.audit import SYSTEM, Actor
from shared.errors import InvalidInput
from shared.models import BellPeriod, Enrollment, Family, School, SchoolClass, Student
from shared.schedule import school_today

MONDAY = date(2026, 11, 23)
#: 2:45 PM in Chicago on that Monday (the school fixture's time zone).
AT_245 = datetime(2026, 11, 23, 20, 45, tzinfo=UTC)
AT_330 = datetime(2026, 11, 23, 21, 30, tzinfo=UTC)


@pytest.fixture
def kids(db, school):
    students = [
        Student(
            school_id=school.id, student_number=f"N{n}", first_name=name, last_name="Test", grade=g
        )
        for n, (name, g) in enumerate([("Ann", "K"), ("Ben", "1"), ("Cat", "2"), ("Dan", "K")])
    ]
    db.session.add_all(students)
    db.session.commit()
    return {s.first_name: s for s in students}


def enrol(db, school, room, student, *, period=None, name="Class"):
    section = SchoolClass(school_id=school.id, name=name, room_id=room.id, period=period)
    db.session.add(section)
    db.session.flush()
    db.session.add(Enrollment(class_id=section.id, student_id=student.id))
    db.session.commit()


def test_students_leave_from_their_class_in_the_dismissal_period(db, school, make_room, kids):
    """The class in session at dismissal, else the last period, else homeroom, else any."""
    r101, r102, r103 = (make_room(school, n) for n in ("101", "102", "103"))
    db.session.add_all(
        [
            BellPeriod(
                school_id=school.id,
                name="6",
                weekday=0,
                start_time=clock(13, 50),
                end_time=clock(14, 40),
            ),
            BellPeriod(
                school_id=school.id,
                name="7",
                weekday=0,
                start_time=clock(14, 40),
                end_time=clock(15, 20),
            ),
        ]
    )
    db.session.commit()
    ann, ben, cat, dan = kids["Ann"], kids["Ben"], kids["Cat"], kids["Dan"]
    enrol(db, school, r101, ann, period="6")
    enrol(db, school, r102, ann, period="7")
    enrol(db, school, r101, ben, period="HR", name="Homeroom")
    enrol(db, school, r103, ben, period="2")
    enrol(db, school, r101, cat, period="1")
    enrol(db, school, r102, cat, period="3")
    # 2:45 PM: period 7 is in session, so Ann leaves from 102, not from her period 6 room
    assert room_student_ids(school, r101, AT_245) == {ben.id, cat.id}
    assert room_student_ids(school, r102, AT_245) == {ann.id, cat.id}
    assert room_student_ids(school, r103, AT_245) == set()
    # 3:30 PM, after the last bell: the day's last period (7) still decides
    assert room_student_ids(school, r102, AT_330) == {ann.id, cat.id}
    # an inactive student is never listed
    dan.active = False
    enrol(db, school, r101, dan, period="7")
    assert dan.id not in room_student_ids(school, r101, AT_245)


def test_a_school_without_a_bell_schedule_uses_homerooms(db, school, make_room, kids):
    r101, r102 = make_room(school, "101"), make_room(school, "102")
    enrol(db, school, r101, kids["Ann"], name="Homeroom K")
    enrol(db, school, r102, kids["Ann"], period="1")
    enrol(db, school, r102, kids["Ben"], period="1")
    assert room_student_ids(school, r101, AT_245) == {kids["Ann"].id}
    assert room_student_ids(school, r102, AT_245) == {kids["Ben"].id}


def test_walkers_by_door_release_the_doors_grades(db, school, make_user, kids):
    office = make_user(school, "office")
    for kid in kids.values():
        set_weekday_defaults(school, Actor(user=office), kid, [MONDAY.weekday()], "walker")
    dismissal = start_dismissal(school, Actor(user=office), 1, 2, MONDAY)
    with pytest.raises(InvalidInput, match="no grades"):
        release_walkers(school, dismissal, grades=[" "], door="Side door", actor=SYSTEM)
    with pytest.raises(InvalidInput, match="not both"):
        release_walkers(school, dismissal, "K", grades=["1"], actor=SYSTEM)
    calls = release_walkers(
        school, dismissal, grades=["K", "1"], door="North door", actor=Actor(user=office)
    )
    assert sorted(c.student.first_name for c in calls) == ["Ann", "Ben", "Dan"]
    assert release_walkers(school, dismissal, grades=["K"], door="North door", actor=SYSTEM) == []
    by_grade, doors = walker_groups(school, dismissal)
    assert [(g.label, g.walkers, g.waiting) for g in by_grade] == [
        ("Grade K", 2, 0),
        ("Grade 1", 1, 0),
        ("Grade 2", 1, 1),
    ]
    assert doors == []  # no doors in the school's settings


def test_call_rows_are_oldest_first_with_spots_and_waiting_places(db, school, make_user, kids):
    office = make_user(school, "office")
    families = []
    for n, name in enumerate(("Ann", "Ben", "Cat"), start=1):
        family = Family(school_id=school.id, tag_number=n, students=[kids[name]])
        db.session.add(family)
        families.append(family)
    db.session.commit()
    dismissal = start_dismissal(school, Actor(user=office), 1, 1, MONDAY)
    for tag in (3, 1, 2):
        curb_entry(school, dismissal, tag_number=tag, actor=SYSTEM)
    rows = call_rows(dismissal)
    assert [(r.student.first_name, r.tag_number, r.spot, r.waiting) for r in rows] == [
        ("Cat", 3, "A1", None),
        ("Ann", 1, None, 1),
        ("Ben", 2, None, 2),
    ]
    cat_entry = db.session.scalar(
        select(CalledStudent).where(CalledStudent.student_id == kids["Cat"].id)
    ).queue_entry
    mark_loaded(school, cat_entry, actor=SYSTEM)
    rows = call_rows(dismissal)
    assert [(r.student.first_name, r.spot, r.waiting) for r in rows] == [
        ("Ann", "A1", None),
        ("Ben", None, 1),
    ]
    assert len(call_rows(dismissal, include_gone=True)) == 3
    assert call_rows(dismissal, set()) == []
    status = progress.status(dismissal)
    assert (status.cars["loaded"], status.cars["at_spot"], status.cars["queued"]) == (1, 1, 1)
    assert status.students_waiting == 2


def test_todays_dismissal_is_the_schools_own(db, school, make_school, make_user):
    other: School = make_school()
    start_dismissal(other, SYSTEM, 1, 1, school_today(other))
    db.session.commit()
    assert todays_dismissal(school) is None
    assert todays_dismissal(other).school_id == other.id

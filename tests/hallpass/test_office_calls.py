"""Calls to the office, at the service level: the call goes to the tablet of the student's
class now (or waits as "no class now"), the teacher's Send starts a pass that no daily
limit, cooldown, no-pass window or cap refuses but a sweep does, "not in class",
arriving (by the office or the office's kiosk), cancelling, one waiting call per
student, and "bring your things" recorded in the car line's plans."""

from concurrent.futures import ThreadPoolExecutor
from datetime import time, timedelta

import pytest
from sqlalchemy import func, select

from carline.day_plans import dismissal_mode
from carline.models import DailyChange
from carline.settings import carline_settings
from hallpass import office_calls, tokens
from hallpass.models import Destination, HallPass, HallpassPolicy, KeepApartGroup, OfficeCall
from hallpass.passes import check_in, start_sweep
from hallpass.rules import RuleBlocked
from shared import live
from shared.audit import Actor
from shared.database import write_intent
from shared.errors import Conflict, DomainError, InvalidInput, NotFound
from shared.models import BellPeriod, Enrollment, Room, SchoolClass
from tests.hallpass.test_services import NOON_ISH, back, go, policy
from tests.helpers import audit_actions


@pytest.fixture
def office(db, place, make_user):
    """The place, with an office destination, period 2 now (Tuesday 9:50-10:40) and a
    class in room 114 then, of the first five students."""
    school = place["school"]
    office_room = Room(school_id=school.id, name="Main office", kind="office")
    db.session.add(office_room)
    db.session.flush()
    destination = Destination(
        school_id=school.id, name="Office", room_id=office_room.id, capacity=1, self_start=False
    )
    section = SchoolClass(school_id=school.id, name="Math 7", room_id=place["room"].id, period="2")
    section.teachers.append(place["teacher"])
    db.session.add_all(
        [
            destination,
            section,
            BellPeriod(
                school_id=school.id,
                name="2",
                weekday=1,
                start_time=time(9, 50),
                end_time=time(10, 40),
            ),
        ]
    )
    db.session.flush()
    db.session.add_all(
        [Enrollment(class_id=section.id, student_id=s.id) for s in place["students"][:5]]
    )
    db.session.commit()
    clerk = make_user(school, "office")
    return {**place, "office": destination, "office_room": office_room, "clerk": clerk}


def call(office, student, now=NOON_ISH, **kwargs):
    return office_calls.call_student(
        office["school"],
        Actor(user=office["clerk"]),
        student_id=student.id,
        destination_id=office["office"].id,
        now=now,
        **kwargs,
    )


def send(office, the_call, now=NOON_ISH):
    return office_calls.send(
        office["school"], Actor(user=office["teacher"]), call_id=the_call.id, now=now
    )


def test_a_call_goes_to_the_class_now_and_send_starts_a_pass_that_arrives(db, office):
    school, student = office["school"], office["students"][0]
    room_topic = f"room:{office['room'].id}"
    before = live.current(school.id, room_topic), live.current(school.id, "hallway")
    the_call = call(office, student, note="Bring the permission slip")
    db.session.commit()
    assert the_call.status == "called"
    assert the_call.from_room_id == office["room"].id
    assert office_calls.room_calls(school, office["room"].id) == [the_call]
    assert live.current(school.id, room_topic) > before[0]
    assert live.current(school.id, office_calls.OFFICE_TOPIC) >= 1

    hall_pass = send(office, the_call, NOON_ISH + timedelta(minutes=1))
    db.session.commit()
    assert the_call.status == "sent" and the_call.pass_id == hall_pass.id
    assert hall_pass.destination_id == office["office"].id
    assert hall_pass.from_room_id == office["room"].id
    assert hall_pass.issued_by_id == office["teacher"].id
    assert live.current(school.id, "hallway") > before[1]
    assert office_calls.room_calls(school, office["room"].id) == []
    assert office_calls.call_passes(school.id, [hall_pass.id]) == {hall_pass.id: the_call}

    office_calls.mark_arrived(
        school,
        Actor(user=office["clerk"]),
        call_id=the_call.id,
        now=NOON_ISH + timedelta(minutes=4),
    )
    db.session.commit()
    assert the_call.status == "arrived"
    assert db.session.get(HallPass, hall_pass.id).arrived_at is not None
    assert [c.id for c in office_calls.calls_today(school, NOON_ISH)] == [the_call.id]
    actions = audit_actions(db)
    for action in (
        "hallpass.office_call",
        "hallpass.start",
        "hallpass.office_call_send",
        "hallpass.office_call_arrive",
    ):
        assert action in actions
    with pytest.raises(Conflict, match="already arrived"):
        office_calls.mark_arrived(school, Actor(user=office["clerk"]), call_id=the_call.id)


def test_the_offices_kiosk_check_in_marks_the_call_arrived(db, office):
    the_call = call(office, office["students"][0])
    hall_pass = send(office, the_call)
    db.session.commit()
    version = live.current(office["school"].id, office_calls.OFFICE_TOPIC)
    check_in(
        office["school"],
        Actor(),
        token=hall_pass.token,
        room_id=office["office_room"].id,
        now=NOON_ISH + timedelta(minutes=3),
    )
    db.session.commit()
    assert db.session.get(OfficeCall, the_call.id).status == "arrived"
    assert live.current(office["school"].id, office_calls.OFFICE_TOPIC) > version
    assert tokens.pass_by_token(hall_pass.token).arrived_at is not None


def test_the_daily_limit_cooldown_windows_and_caps_do_not_refuse_a_call(db, office):
    school, student = office["school"], office["students"][0]
    policy(
        db,
        school,
        daily_limit=1,
        cooldown_minutes=30,
        no_pass_first_minutes=15,
        building_cap=1,
        room_cap=1,
    )
    back(office, go(office, student, "library", override_reason="test setup"))
    other = go(office, office["students"][1], "library", override_reason="fill the caps")
    db.session.commit()
    with pytest.raises(RuleBlocked):  # a teacher's own pass is refused now
        go(office, student)
    # The office is full too (capacity 1).
    go(office, office["students"][2], "office", override_reason="fill the office")
    db.session.commit()
    hall_pass = send(office, call(office, student))
    db.session.commit()
    assert hall_pass.status == "active" and hall_pass.override_reason is None
    # ...and it counts: the building has three out now.
    assert policy_for_out(db, school) == 3
    assert other.status == "active"


def policy_for_out(db, school):
    return db.session.get(HallpassPolicy, school.id).out_now


def test_a_sweep_refuses_the_send_and_a_new_call(db, office):
    school = office["school"]
    the_call = call(office, office["students"][0])
    db.session.commit()
    start_sweep(school, Actor(user=office["clerk"]), now=NOON_ISH)
    db.session.commit()
    with pytest.raises(RuleBlocked, match="sweep"):
        send(office, the_call)
    db.session.rollback()
    assert db.session.get(OfficeCall, the_call.id).status == "called"
    with pytest.raises(RuleBlocked, match="sweep"):
        call(office, office["students"][1])


def test_a_keep_apart_group_still_keeps_its_students_apart(db, office):
    school = office["school"]
    kids = office["students"]
    group = KeepApartGroup(school_id=school.id)
    group.members.extend(kids[:2])
    db.session.add(group)
    db.session.commit()
    go(office, kids[1], "library")
    db.session.commit()
    with pytest.raises(RuleBlocked, match="must not be out"):
        send(office, call(office, kids[0]))


def test_not_in_class_and_cancel_close_a_call_once(db, office):
    school, kids = office["school"], office["students"]
    first = call(office, kids[0])
    office_calls.not_in_class(school, Actor(user=office["teacher"]), call_id=first.id)
    db.session.commit()
    assert first.status == "not_here" and first.answered_by_id == office["teacher"].id
    with pytest.raises(Conflict, match="already been answered"):
        send(office, first)
    db.session.rollback()
    second = call(office, kids[1])
    office_calls.cancel(school, Actor(user=office["clerk"]), call_id=second.id)
    db.session.commit()
    assert second.status == "cancelled"
    with pytest.raises(Conflict, match="already been answered"):
        office_calls.not_in_class(school, Actor(user=office["teacher"]), call_id=second.id)
    db.session.rollback()
    assert {"hallpass.office_call_not_here", "hallpass.office_call_cancel"} <= set(
        audit_actions(db)
    )


def test_one_waiting_call_per_student(db, office):
    student = office["students"][0]
    first = call(office, student)
    db.session.commit()
    with pytest.raises(Conflict, match="already been called"):
        call(office, student)
    db.session.rollback()
    office_calls.cancel(office["school"], Actor(user=office["clerk"]), call_id=first.id)
    assert call(office, student).status == "called"


def test_a_student_with_no_class_now_waits_at_the_office(db, office):
    school, student = office["school"], office["students"][0]
    passing_time = NOON_ISH + timedelta(minutes=45)  # 10:45, after period 2
    the_call = call(office, student, now=passing_time)
    db.session.commit()
    assert the_call.from_room_id is None
    with pytest.raises(Conflict, match="no class now"):
        send(office, the_call, passing_time)
    db.session.rollback()
    with pytest.raises(Conflict, match="still has no class"):
        office_calls.try_class_again(
            school, Actor(user=office["clerk"]), call_id=the_call.id, now=passing_time
        )
    db.session.rollback()
    # A student of no class at all in period 2 (not enrolled) waits too.
    assert call(office, office["students"][10]).from_room_id is None
    # In period 2 the call goes to the class.
    routed = office_calls.try_class_again(
        school, Actor(user=office["clerk"]), call_id=the_call.id, now=NOON_ISH
    )
    assert routed.from_room_id == office["room"].id


def test_only_an_office_destination_and_this_schools_records(db, office, make_school):
    with pytest.raises(InvalidInput, match="Choose which office"):
        office_calls.call_student(
            office["school"],
            Actor(user=office["clerk"]),
            student_id=office["students"][0].id,
            destination_id=office["restroom"].id,
        )
    other = make_school()
    with pytest.raises(NotFound):
        office_calls.call_student(
            other,
            Actor(),
            student_id=office["students"][0].id,
            destination_id=office["office"].id,
        )
    with pytest.raises(InvalidInput, match="at most 300"):
        call(office, office["students"][0], note="x" * 301)


def test_bring_your_things_records_an_early_pickup_in_the_car_line(db, office, make_family):
    school, student = office["school"], office["students"][0]
    make_family(school, 31, student)
    call(office, student, bring_things=True)
    db.session.commit()
    plan = dismissal_mode(student, NOON_ISH.date())
    assert plan.source == "change" and plan.mode == "car"
    assert plan.early_pickup == time(10, 0)  # the call's time on the school's clock
    assert "carline.plan_change" in audit_actions(db)
    # Without "bring your things" the plan is left alone.
    call(office, office["students"][1])
    db.session.commit()
    assert db.session.scalars(select(DailyChange)).all() == [
        db.session.scalars(select(DailyChange).where(DailyChange.student_id == student.id)).one()
    ]


def test_bring_your_things_after_the_cutoff_is_the_offices_audited_override(db, office):
    school, student = office["school"], office["students"][0]
    school.settings = {**(school.settings or {}), "carline": {"cutoff": "09:00"}}
    db.session.commit()
    assert carline_settings(school).cutoff == time(9, 0)
    call(office, student, bring_things=True)
    db.session.commit()
    assert dismissal_mode(student, NOON_ISH.date()).early_pickup == time(10, 0)
    assert "carline.cutoff_override" in audit_actions(db)


def test_the_office_list_hears_when_a_calls_pass_ends(db, office):
    hall_pass = send(office, call(office, office["students"][0]))
    db.session.commit()
    version = live.current(office["school"].id, office_calls.OFFICE_TOPIC)
    back(office, hall_pass)
    db.session.commit()
    assert live.current(office["school"].id, office_calls.OFFICE_TOPIC) > version


def test_a_send_and_a_cancel_at_once_count_once(app, db, office):
    """Two tablets tap Send and the office taps Cancel at the same moment, in threads on
    their own connections: one answer counts, at most one pass starts."""
    the_call = call(office, office["students"][0])
    db.session.commit()
    school_id, call_id = office["school"].id, the_call.id
    users = {"send": office["teacher"].id, "cancel": office["clerk"].id}

    def attempt(what):
        with app.app_context(), write_intent():
            from shared.extensions import db as session_db
            from shared.models import School, User

            school = session_db.session.get(School, school_id)
            actor = Actor(user=session_db.session.get(User, users[what]))
            try:
                action = office_calls.send if what == "send" else office_calls.cancel
                action(school, actor, call_id=call_id, now=NOON_ISH)
                session_db.session.commit()
                return what
            except DomainError as error:
                session_db.session.rollback()
                return type(error).__name__

    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(attempt, ["send", "send", "cancel", "send"]))
    db.session.rollback()
    assert sorted(outcomes).count("Conflict") == 3, outcomes
    status = db.session.get(OfficeCall, call_id).status
    passes = db.session.scalar(select(func.count(HallPass.id)))
    assert (status, passes) in (("sent", 1), ("cancelled", 0))

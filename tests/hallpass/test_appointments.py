"""Appointments, at the service level: scheduling and its conflicts, who may schedule where,
release through the pass rules (sweep, daily limit and no-pass windows skipped only where
the destination allows it, one active pass), decline and cancel, no-shows, the lists,
and two taps on Release at once starting one pass."""

from concurrent.futures import ThreadPoolExecutor
from datetime import date, time, timedelta

import pytest
from sqlalchemy import func, select, update

from carline.models import Absence
from hallpass import appointment_lists, appointments
from hallpass.appointments import When
from hallpass.models import Appointment, Destination, HallPass
from hallpass.passes import check_in, end_pass, start_pass, start_sweep
from hallpass.rules import RuleBlocked
from shared import live
from shared.access import Principal
from shared.audit import Actor
from shared.database import write_intent
from shared.errors import Conflict, DomainError, Forbidden, InvalidInput
from shared.models import BellPeriod, Enrollment, Room, SchoolClass
from tests.hallpass.test_services import NOON_ISH, policy
from tests.helpers import audit_actions

#: NOON_ISH is Tuesday 24 November 2026, 10:00 in Chicago: period 2 (9:30 to 10:30).
TUESDAY = date(2026, 11, 24)


@pytest.fixture
def appt(db, place, make_user):
    """`place` with a bell schedule (periods 2 and 3 on weekdays), a class in room 114 in
    both periods with every student, a counselor's office and a counselor."""
    school = place["school"]
    for weekday in range(5):
        db.session.add_all(
            [
                BellPeriod(
                    school_id=school.id,
                    name="2",
                    weekday=weekday,
                    start_time=time(9, 30),
                    end_time=time(10, 30),
                ),
                BellPeriod(
                    school_id=school.id,
                    name="3",
                    weekday=weekday,
                    start_time=time(10, 30),
                    end_time=time(11, 30),
                ),
            ]
        )
    office = Room(school_id=school.id, name="Counseling", kind="counselor")
    db.session.add(office)
    db.session.flush()
    counselor_office = Destination(
        school_id=school.id,
        name="Counselor",
        room_id=office.id,
        time_limit_minutes=20,
        counts_toward_limit=True,
    )
    db.session.add(counselor_office)
    for period in ("2", "3"):
        section = SchoolClass(
            school_id=school.id, name=f"Math {period}", room_id=place["room"].id, period=period
        )
        section.teachers.append(place["teacher"])
        db.session.add(section)
        db.session.flush()
        db.session.add_all(
            Enrollment(class_id=section.id, student_id=s.id) for s in place["students"]
        )
    db.session.commit()
    counselor = make_user(school, "staff", name="Ms Counselor")
    return {
        **place,
        "counselor": counselor,
        "counselor_office": counselor_office,
        "office_room": office,
    }


def as_principal(place, user, *roles) -> Principal:
    return Principal(school=place["school"], user=user, roles=frozenset(roles))


def book(place, student, at=time(10, 15), *, day=TUESDAY, until=None, period=None, **kw):
    """The counselor schedules `student` to their office (now: NOON_ISH, 10:00)."""
    kw.setdefault("now", NOON_ISH - timedelta(hours=1))
    return appointments.schedule(
        place["school"],
        Actor(user=place["counselor"]),
        as_principal(place, place["counselor"], "staff"),
        student_id=student.id,
        destination_id=kw.pop("destination_id", place["counselor_office"].id),
        when=When(day=day, at=None if period else at, period=period, repeat_until=until),
        **kw,
    )


def release(place, appointment, minutes=15, **kw):
    """The class teacher taps Release, `minutes` after 10:00 (default: 10:15, on time)."""
    return appointments.release(
        place["school"],
        Actor(user=place["teacher"]),
        appointment_id=appointment.id,
        now=NOON_ISH + timedelta(minutes=minutes),
        **kw,
    )


def test_a_scheduled_appointment_is_released_into_a_pass_that_shows_its_origin(db, appt):
    student = appt["students"][0]
    (made,) = book(appt, student, note="follow-up from Monday")
    db.session.commit()
    assert (made.period, made.status, made.day) == ("2", "scheduled", TUESDAY)
    room_topic = f"room:{appt['room'].id}"
    assert live.current(appt["school"].id, room_topic) == 1
    assert live.current(appt["school"].id, "appointments") == 1
    # The class teacher's room sees it coming; due from ten minutes before.
    assert appointment_lists.room_coming_up(appt["school"], appt["room"].id, NOON_ISH) == [made]
    assert not appointments.is_due(made, NOON_ISH)
    with pytest.raises(Conflict, match="Not yet"):
        release(appt, made, minutes=0)
    hall_pass = release(appt, made)
    db.session.commit()
    assert (hall_pass.source, hall_pass.from_room_id) == ("appointment", appt["room"].id)
    assert hall_pass.time_limit_minutes == 20  # the destination's usual limit
    assert (made.status, made.pass_id) == ("released", hall_pass.id)
    assert made.decided_by_id == appt["teacher"].id
    assert appointment_lists.room_coming_up(appt["school"], appt["room"].id, NOON_ISH) == []
    assert appointments.shown_status(made, NOON_ISH) == "released"
    # Checked in at the counselor's office: "arrived" on the scheduler's list, live.
    seen = live.current(appt["school"].id, "appointments")
    check_in(
        appt["school"],
        Actor(),
        token=hall_pass.token,
        room_id=appt["office_room"].id,
        now=NOON_ISH + timedelta(minutes=18),
    )
    db.session.commit()
    assert live.current(appt["school"].id, "appointments") == seen + 1
    assert appointments.shown_status(made, NOON_ISH) == "arrived"
    assert audit_actions(db) == [
        "hallpass.appointment_schedule",
        "hallpass.start",
        "hallpass.appointment_release",
        "hallpass.arrive",
    ]


def test_a_period_means_its_start_and_weekly_repeats_make_one_row_a_week(db, appt):
    made = book(appt, appt["students"][0], period="3", until=TUESDAY + timedelta(days=20))
    db.session.commit()
    assert [a.day for a in made] == [TUESDAY + timedelta(days=7 * n) for n in range(3)]
    assert {a.period for a in made} == {"3"}
    assert made[0].starts_at == NOON_ISH + timedelta(minutes=30)  # 10:30 in Chicago
    assert len({a.series for a in made}) == 1 and made[0].series


def test_conflicts_are_caught_when_scheduling_and_nothing_is_written(db, appt):
    kids = appt["students"]
    book(appt, kids[0], time(10, 15))
    db.session.commit()
    with pytest.raises(InvalidInput, match="already has an appointment then"):
        book(appt, kids[0], time(10, 25))  # overlaps 10:15 + 20 minutes
    assert len(book(appt, kids[0], time(10, 40))) == 1  # after it: fine
    with pytest.raises(InvalidInput, match="outside the bell schedule"):
        book(appt, kids[1], time(7, 0))
    with pytest.raises(InvalidInput, match="outside the bell schedule"):
        book(appt, kids[1], day=date(2026, 11, 28))  # a Saturday
    # Absent today (the car line's absences): refused, and a weekly series is refused
    # whole when one week is an absence.
    db.session.add(Absence(student_id=kids[2].id, day=TUESDAY + timedelta(days=7)))
    db.session.commit()
    with pytest.raises(InvalidInput, match="is away: Absent today"):
        book(appt, kids[2], until=TUESDAY + timedelta(days=14))
    with pytest.raises(InvalidInput, match="already passed"):
        book(appt, kids[3], time(9, 45), now=NOON_ISH)
    db.session.rollback()
    assert db.session.scalar(select(func.count(Appointment.id))) == 2


def test_a_student_with_no_class_then_cannot_be_booked(db, appt, make_student):
    loner = make_student(appt["school"])
    with pytest.raises(InvalidInput, match="has no class in period 2"):
        book(appt, loner)


def test_who_may_schedule_where(db, appt, make_user):
    school, teacher = appt["school"], appt["teacher"]
    restroom, office = appt["restroom"], appt["counselor_office"]
    classroom_dest = Destination(school_id=school.id, name="Room 114", room_id=appt["room"].id)
    other_room = Room(school_id=school.id, name="200")
    db.session.add(other_room)
    db.session.flush()
    other_dest = Destination(school_id=school.id, name="Room 200", room_id=other_room.id)
    db.session.add_all([classroom_dest, other_dest])
    db.session.commit()
    may = appointments.check_may_schedule
    # A teacher: their own room only.
    may(as_principal(appt, teacher, "teacher"), classroom_dest)
    for elsewhere in (other_dest, office):
        with pytest.raises(Forbidden):
            may(as_principal(appt, teacher, "teacher"), elsewhere)
    # The counselor (support staff): any destination that is not a classroom.
    may(as_principal(appt, appt["counselor"], "staff"), office)
    may(as_principal(appt, appt["counselor"], "staff"), restroom)
    with pytest.raises(Forbidden):
        may(as_principal(appt, appt["counselor"], "staff"), other_dest)
    # The office: anywhere.
    office_user = make_user(school, "office")
    may(as_principal(appt, office_user, "office"), other_dest)


def test_a_sweep_blocks_the_release_and_the_appointment_stays_open(db, appt, office_user):
    (made,) = book(appt, appt["students"][0])
    start_sweep(appt["school"], Actor(user=office_user), now=NOON_ISH)
    db.session.commit()
    with pytest.raises(RuleBlocked) as blocked:
        release(appt, made)
    assert blocked.value.rule == "sweep"
    db.session.rollback()
    assert db.session.get(Appointment, made.id).status == "scheduled"


def test_daily_limit_and_no_pass_window_are_skipped_only_where_the_destination_allows(db, appt):
    school, kid = appt["school"], appt["students"][0]
    policy(db, school, daily_limit=1, no_pass_periods=["2"])
    # The pass of the day is used up (an overridden one still counts).
    used = start_pass(
        school,
        Actor(user=appt["teacher"]),
        student_id=kid.id,
        destination_id=appt["restroom"].id,
        from_room_id=appt["room"].id,
        source="teacher",
        override_reason="urgent",
        now=NOON_ISH - timedelta(minutes=20),
    )
    end_pass(
        school, Actor(), pass_id=used.id, ended_by="staff", now=NOON_ISH - timedelta(minutes=15)
    )
    (made,) = book(appt, kid)
    db.session.commit()
    with pytest.raises(RuleBlocked) as blocked:
        release(appt, made)
    assert blocked.value.rule == "no_pass_period"
    db.session.rollback()
    policy(db, school, no_pass_periods=[])
    with pytest.raises(RuleBlocked) as blocked:
        release(appt, made)
    assert blocked.value.rule == "daily_limit"
    db.session.rollback()
    policy(db, school, no_pass_periods=["2"])
    appt["counselor_office"].appointments_skip_limits = True
    db.session.commit()
    hall_pass = release(appt, made)
    db.session.commit()
    assert hall_pass.status == "active" and made.status == "released"


def test_the_one_active_pass_rule_holds_and_a_second_release_is_refused(db, appt):
    school, kid = appt["school"], appt["students"][0]
    (made,) = book(appt, kid)
    out = start_pass(
        school,
        Actor(user=appt["teacher"]),
        student_id=kid.id,
        destination_id=appt["library"].id,
        from_room_id=appt["room"].id,
        source="teacher",
        now=NOON_ISH,
    )
    db.session.commit()
    with pytest.raises(Conflict, match="already has an active pass"):
        release(appt, made)
    db.session.rollback()
    end_pass(school, Actor(), pass_id=out.id, ended_by="staff", now=NOON_ISH + timedelta(minutes=5))
    release(appt, made)
    db.session.commit()
    with pytest.raises(Conflict, match="already released"):
        release(appt, made, minutes=16)


def test_decline_needs_a_reason_which_the_scheduler_sees(db, appt):
    (made,) = book(appt, appt["students"][0])
    db.session.commit()
    decline = appointments.decline
    actor = Actor(user=appt["teacher"])
    with pytest.raises(InvalidInput, match="Reason"):
        decline(appt["school"], actor, appointment_id=made.id, reason="  ", now=NOON_ISH)
    decline(appt["school"], actor, appointment_id=made.id, reason="Test in class", now=NOON_ISH)
    db.session.commit()
    (seen,) = appointment_lists.scheduler_day(appt["school"], appt["counselor"].id, TUESDAY)
    assert (seen.status, seen.decline_reason, seen.decided_by_id) == (
        "declined",
        "Test in class",
        appt["teacher"].id,
    )
    with pytest.raises(Conflict):
        release(appt, made)
    assert "hallpass.appointment_decline" in audit_actions(db)


def test_only_the_scheduler_or_the_office_cancels(db, appt, office_user, make_user):
    first, second = book(appt, appt["students"][0]), book(appt, appt["students"][1])
    db.session.commit()
    stranger = make_user(appt["school"], "staff")
    with pytest.raises(Forbidden):
        appointments.cancel(
            appt["school"],
            Actor(user=stranger),
            as_principal(appt, stranger, "staff"),
            appointment_id=first[0].id,
        )
    for user, roles, made in (
        (appt["counselor"], ("staff",), first[0]),
        (office_user, ("office",), second[0]),
    ):
        appointments.cancel(
            appt["school"],
            Actor(user=user),
            as_principal(appt, user, *roles),
            appointment_id=made.id,
        )
    db.session.commit()
    assert {first[0].status, second[0].status} == {"cancelled"}
    assert appointment_lists.room_coming_up(appt["school"], appt["room"].id, NOON_ISH) == []


def test_not_released_in_time_is_a_no_show_when_read_and_by_housekeeping(db, appt):
    (made,) = book(appt, appt["students"][0])
    db.session.commit()
    late = NOON_ISH + timedelta(minutes=15 + appointments.NO_SHOW_MINUTES + 1)
    assert appointments.shown_status(made, late) == "no_show"
    assert appointment_lists.room_coming_up(appt["school"], appt["room"].id, late) == []
    with pytest.raises(Conflict, match="no-show"):
        release(appt, made, minutes=31)
    assert appointments.mark_no_shows(NOON_ISH) == 0  # not yet
    assert appointments.mark_no_shows(late) == 1
    assert appointments.mark_no_shows(late) == 0  # once
    db.session.commit()
    assert db.session.get(Appointment, made.id).status == "no_show"
    assert audit_actions(db)[-1] == "hallpass.appointment_no_show"


def test_the_student_is_told_at_the_time_and_the_region_knows_when_it_changes(db, appt):
    kid = appt["students"][0]
    (made,) = book(appt, kid)
    db.session.commit()
    assert appointment_lists.student_notice(appt["school"], kid.id, NOON_ISH) is None
    at_time = NOON_ISH + timedelta(minutes=10)
    assert appointment_lists.student_notice(appt["school"], kid.id, at_time) == made
    assert appointment_lists.student_notice(appt["school"], appt["students"][1].id, at_time) is None
    # At 10:00 the next change is at 10:05 (due): 300 seconds, and a second.
    assert appointment_lists.next_change([made], NOON_ISH) == 301


def race_release(app, appt, appointment_id: int, taps: int) -> list[str]:
    """`taps` taps on Release at once, each on its own connection."""
    school_id, teacher_id = appt["school"].id, appt["teacher"].id

    def tap(_):
        with app.app_context(), write_intent():
            from shared.extensions import db
            from shared.models import School, User

            try:
                appointments.release(
                    db.session.get(School, school_id),
                    Actor(user=db.session.get(User, teacher_id)),
                    appointment_id=appointment_id,
                    now=NOON_ISH + timedelta(minutes=15),
                )
                db.session.commit()
                return "released"
            except DomainError as error:
                db.session.rollback()
                return type(error).__name__

    with ThreadPoolExecutor(max_workers=taps) as pool:
        return list(pool.map(tap, range(taps)))


def test_two_taps_on_release_at_once_start_one_pass(app, db, appt):
    (made,) = book(appt, appt["students"][0])
    db.session.commit()
    outcomes = race_release(app, appt, made.id, 4)
    assert outcomes.count("released") == 1 and outcomes.count("Conflict") == 3
    db.session.rollback()
    assert db.session.scalar(select(func.count(HallPass.id))) == 1
    assert db.session.get(Destination, appt["counselor_office"].id).out_now == 1
    assert db.session.get(Appointment, made.id).status == "released"


def test_the_status_moves_only_from_scheduled_even_when_the_caller_read_it_stale(db, appt):
    """What a second tap sees after waiting for the first one's lock: it read the row as
    scheduled, the first tap changed it meanwhile; the conditional UPDATE refuses, and the
    pass it started goes with its rolled back transaction."""
    (made,) = book(appt, appt["students"][0])
    db.session.commit()
    assert db.session.get(Appointment, made.id).status == "scheduled"  # in the identity map
    db.session.execute(
        update(Appointment)
        .where(Appointment.id == made.id)
        .values(status="declined")
        .execution_options(synchronize_session=False)
    )
    with pytest.raises(Conflict, match="already released, declined or cancelled"):
        release(appt, made)
    assert made.status == "declined"  # read again by the refused UPDATE
    db.session.rollback()
    assert db.session.scalar(select(func.count(HallPass.id))) == 0

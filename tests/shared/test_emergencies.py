"""Emergency events and the roll, at the service level: every rule of the event and of a mark."""

from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import select

from carline.models import Absence, DailyChange
from hallpass.models import Destination, HallPass, HallpassPolicy
from hallpass.passes import end_sweep, start_pass
from hallpass.rules import RuleBlocked
from shared import emergencies, emergency_report, emergency_roll, retention
from shared.audit import Actor
from shared.emergency_models import EmergencyEvent, MarkStatus, RollMark
from shared.errors import Conflict, InvalidInput, NotFound
from shared.models import AuditEvent, BellPeriod, Enrollment, Room, SchoolClass, Student
from tests.helpers import audit_actions

#: A Tuesday, 10:00 in Chicago (period 2 of the test schedule).
TEN = datetime(2026, 11, 24, 16, 0, tzinfo=UTC)


@pytest.fixture
def campus(db, school, make_user):
    """Two classes meeting in period 2, one in period 1, 6 students, a restroom pass."""
    office = make_user(school, "office")
    teacher = make_user(school, "teacher", name="Ms Ray")
    other = make_user(school, "teacher", name="Mr Lo")
    room = Room(school_id=school.id, name="114")
    db.session.add(room)
    db.session.flush()
    db.session.add_all(
        [
            BellPeriod(
                school_id=school.id, name="1", weekday=1, start_time=time(8), end_time=time(9)
            ),
            BellPeriod(
                school_id=school.id, name="2", weekday=1, start_time=time(9), end_time=time(11)
            ),
        ]
    )
    math = SchoolClass(school_id=school.id, name="Math 7", period="2", room_id=room.id)
    math.teachers.append(teacher)
    art = SchoolClass(school_id=school.id, name="Art 7", period="2")
    art.teachers.append(other)
    early = SchoolClass(school_id=school.id, name="Early Math", period="1")
    early.teachers.append(teacher)
    students = [
        Student(school_id=school.id, student_number=f"S{n}", first_name=f"Kid{n}", last_name="Z")
        for n in range(6)
    ]
    db.session.add_all([math, art, early, *students])
    db.session.flush()
    for s in students[:3]:
        db.session.add(Enrollment(class_id=math.id, student_id=s.id))
        db.session.add(Enrollment(class_id=early.id, student_id=s.id))
    for s in students[3:5]:
        db.session.add(Enrollment(class_id=art.id, student_id=s.id))
    # students[5] has no class in period 2
    restroom = Destination(school_id=school.id, name="Restroom", time_limit_minutes=10)
    db.session.add(restroom)
    db.session.commit()
    return {
        "school": school,
        "office": Actor(user=office),
        "teacher": Actor(user=teacher),
        "teacher_user": teacher,
        "other": Actor(user=other),
        "math": math,
        "art": art,
        "early": early,
        "students": students,
        "restroom": restroom,
        "room": room,
    }


def start(campus, **kw):
    kw.setdefault("kind", "evacuation")
    kw.setdefault("drill", True)
    event = emergencies.start_event(campus["school"], campus["office"], now=TEN, **kw)
    return event


def mark(campus, event, student, status, key, *, actor=None, at=None, **kw):
    return emergency_roll.mark_student(
        campus["school"],
        actor or campus["teacher"],
        event,
        student_id=student.id,
        status=status,
        key=key,
        at_ms=int(at.timestamp() * 1000) if at else None,
        now=TEN + timedelta(minutes=5),
        **kw,
    )


def test_starting_ends_every_pass_blocks_new_ones_and_audits_a_drill(db, campus):
    school, kid = campus["school"], campus["students"][0]
    out = start_pass(
        school,
        campus["teacher"],
        student_id=kid.id,
        destination_id=campus["restroom"].id,
        from_room_id=campus["room"].id,
        source="teacher",
        now=TEN - timedelta(minutes=3),
    )
    event = start(campus, location="Riverside Church")
    db.session.commit()
    assert event.drill and event.title == "Drill: Evacuation"
    assert event.out_on_pass == [kid.id]
    ended = db.session.get(HallPass, out.id)
    assert ended.status == "ended" and ended.ended_by == "sweep"
    assert db.session.scalar(select(HallpassPolicy.out_now)) == 0
    with pytest.raises(RuleBlocked, match="sweep"):
        start_pass(
            school,
            campus["teacher"],
            student_id=campus["students"][1].id,
            destination_id=campus["restroom"].id,
            from_room_id=None,
            source="teacher",
            now=TEN + timedelta(minutes=1),
        )
    db.session.rollback()
    # The sweep page cannot end the event's stop; only the event's end does.
    with pytest.raises(Conflict, match="emergency event is running"):
        end_sweep(school, campus["office"])
    started = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "emergency.start")
    ).one()
    assert started.detail == {
        "kind": "evacuation",
        "drill": True,
        "location": "Riverside Church",
        "out_on_pass": 1,
    }
    assert emergencies.running_event(school).id == event.id


def test_one_running_event_per_school_and_bad_input_is_refused(db, campus):
    start(campus)
    db.session.commit()
    with pytest.raises(Conflict, match="already running since 10:00"):
        start(campus, drill=False)
    db.session.rollback()
    assert db.session.query(EmergencyEvent).count() == 1
    end_now(campus)
    with pytest.raises(InvalidInput, match="kind"):
        start(campus, kind="party")
    with pytest.raises(InvalidInput, match="200"):
        start(campus, location="x" * 201)
    with pytest.raises(Conflict, match="No emergency event"):
        emergencies.end_event(campus["school"], campus["office"], summary={})


def end_now(campus):
    school = campus["school"]
    event = emergencies.running_event(school)
    ended = emergencies.end_event(
        school,
        campus["office"],
        summary=emergency_roll.summary_of(school, event),
        now=TEN + timedelta(minutes=30),
    )
    from shared.extensions import db

    db.session.commit()
    return ended


def test_ending_gives_passes_back_and_keeps_the_summary(db, campus):
    event = start(campus)
    db.session.commit()
    mark(campus, event, campus["students"][0], "missing", "k1")
    db.session.commit()
    ended = end_now(campus)
    assert ended.ended_at is not None and ended.summary["missing"] == 1
    assert ended.summary["students"] == 6 and ended.summary["not_marked"] == 5
    assert db.session.scalar(select(HallpassPolicy.sweep_started_at)) is None
    assert audit_actions(db)[-1] == "emergency.end"
    with pytest.raises(Conflict, match="roll is closed"):
        mark(campus, ended, campus["students"][1], "present", "k2")


def test_the_teachers_group_is_the_class_meeting_at_the_start(db, campus):
    event = start(campus)
    groups = emergency_roll.teacher_groups(campus["school"], campus["teacher_user"].id, event)
    assert [g.name for g in groups] == ["Math 7", "Early Math"]
    at_start = emergency_roll.groups_at_start(campus["school"], event)
    assert [g.name for g in at_start] == ["Art 7", "Math 7"]


def test_a_mark_is_idempotent_by_its_client_key(db, campus):
    event = start(campus)
    kid = campus["students"][0]
    first = mark(campus, event, kid, "present", "key-1")
    db.session.commit()
    again = mark(campus, event, kid, "present", "key-1")
    db.session.commit()
    assert first.changed and not again.changed
    assert audit_actions(db).count("emergency.roll_mark") == 1
    with pytest.raises(InvalidInput, match="client key"):
        mark(campus, event, kid, "present", "")


def test_an_older_tap_arriving_late_never_overrides_a_newer_mark(db, campus):
    event = start(campus)
    kid = campus["students"][0]
    mark(campus, event, kid, "present", "new", at=TEN + timedelta(minutes=4))
    db.session.commit()
    late = mark(campus, event, kid, "missing", "old", at=TEN + timedelta(minutes=2))
    db.session.commit()
    assert not late.changed and late.mark.status == "present"


def test_nothing_overrides_released(db, campus):
    event = start(campus)
    kid = campus["students"][0]
    mark(campus, event, kid, "present", "a")
    db.session.commit()
    db.session.execute(
        RollMark.__table__.update().where(RollMark.student_id == kid.id).values(status="released")
    )
    db.session.commit()
    with pytest.raises(Conflict, match="released"):
        mark(campus, event, kid, "missing", "b", at=TEN + timedelta(minutes=20))
    db.session.rollback()
    assert db.session.scalar(select(RollMark.status)) == "released"


def test_mark_rules(db, campus, make_school, make_student):
    event = start(campus)
    kid = campus["students"][0]
    with pytest.raises(InvalidInput, match="present, missing"):
        mark(campus, event, kid, "released", "r")
    with pytest.raises(InvalidInput, match="which staff member"):
        mark(campus, event, kid, "with_staff", "w")
    stranger = make_student(make_school())
    with pytest.raises(NotFound):
        mark(campus, event, stranger, "present", "s")
    done = mark(campus, event, kid, "with_staff", "w2", with_staff="  Nurse   Kim ")
    assert done.mark.with_staff == "Nurse Kim"


def test_a_student_added_from_another_class_counts_with_the_new_group(db, campus):
    event = start(campus)
    visitor = campus["students"][3]  # in Art 7
    mark(campus, event, visitor, "present", "v", class_id=campus["math"].id)
    db.session.commit()
    math_rows = emergency_roll.class_roll(campus["school"], event, campus["math"])
    assert visitor.id in [r.student.id for r in math_rows]
    art_rows = emergency_roll.class_roll(campus["school"], event, campus["art"])
    visiting = next(r for r in art_rows if r.student.id == visitor.id)
    assert visiting.elsewhere == "Math 7"
    board = emergency_roll.board(campus["school"], event)
    math = next(t for t in board.groups if t.name == "Math 7")
    assert (math.total, math.accounted) == (4, 1)


def test_the_board_counts_and_full_accounting_time(db, campus):
    school = campus["school"]
    kids = campus["students"]
    db.session.add(Absence(student_id=kids[4].id, day=date(2026, 11, 24)))
    db.session.add(
        DailyChange(student_id=kids[2].id, day=date(2026, 11, 24), mode="car", early_pickup=time(9))
    )
    db.session.commit()
    event = start(campus)
    db.session.commit()
    board = emergency_roll.board(school, event)
    assert sorted(why for _, why, _ in board.away) == ["Absent today", "Early pickup at 9:00 AM"]
    assert board.school.total == 4  # six, less the two away
    assert board.no_class.unmarked_names == ["Kid5 Z"]
    mark(campus, event, kids[0], "missing", "m0")
    mark(campus, event, kids[1], "injured", "i1")
    mark(campus, event, kids[3], "present", "p3", actor=campus["other"])
    db.session.commit()
    board = emergency_roll.board(school, event)
    assert board.school.missing_names == ["Kid0 Z"]
    assert (board.school.accounted, board.school.injured, board.school.unmarked) == (2, 1, 1)
    assert event.fully_accounted_at is None
    mark(campus, event, kids[5], "present", "p5")
    mark(campus, event, kids[0], "present", "p0", at=TEN + timedelta(minutes=5))
    db.session.commit()
    db.session.refresh(event)
    assert event.fully_accounted_at == TEN + timedelta(minutes=5)
    assert emergency_roll.minutes_to_full_accounting(event) == 5


def test_each_group_is_timed_the_first_time_all_its_students_are_accounted_for(
    db, app, login, campus
):
    """A drill is timed per class too: Art 7 is done after 2 minutes, Math 7 after 6 (its
    missing student found), while the school waits for the student with no class."""
    school, kids, event = campus["school"], campus["students"], start(campus)
    db.session.commit()

    def mark_at(student, status, key, minutes):
        emergency_roll.mark_student(
            school,
            campus["teacher"],
            event,
            student_id=student.id,
            status=status,
            key=key,
            now=TEN + timedelta(minutes=minutes),
        )
        db.session.commit()

    mark_at(kids[3], "present", "a3", 2)
    mark_at(kids[4], "present", "a4", 2)
    mark_at(kids[0], "present", "m0", 4)
    mark_at(kids[1], "injured", "m1", 4)
    mark_at(kids[2], "missing", "m2", 4)
    report = emergency_report.report(school, event)
    assert [(g.class_id, g.name, g.minutes) for g in report.group_minutes] == [
        (campus["art"].id, "Art 7", 2.0)
    ]
    assert report.groups_not_accounted == ["Math 7"]
    mark_at(kids[2], "present", "m2-found", 6)
    mark_at(kids[2], "missing", "m2-again", 7)  # the first time stays the group's time
    mark_at(kids[2], "present", "m2-back", 8)
    report = emergency_report.report(school, event)
    assert [(g.name, g.minutes) for g in report.group_minutes] == [
        ("Art 7", 2.0),
        ("Math 7", 6.0),
    ]
    assert report.groups_not_accounted == [] and event.fully_accounted_at is None
    mark_at(kids[5], "present", "k5", 9)
    db.session.refresh(event)
    assert emergency_roll.minutes_to_full_accounting(event) == 9

    office = login(campus["office"].user)
    page = office.get(f"/emergency/events/{event.id}").get_data(as_text=True)
    assert "Time to account for each group" in page
    assert page.index("Art 7") < page.index("Math 7") and "6 minutes (" in page
    assert "Math 7: every student accounted for" in page  # in the timeline too


def test_a_drills_roll_marks_say_drill_and_follow_retention(db, campus):
    event = start(campus)
    mark(campus, event, campus["students"][0], "present", "d")
    db.session.commit()
    marked = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "emergency.roll_mark")
    ).one()
    assert marked.detail["drill"] is True and marked.detail["event_id"] == event.id
    end_now(campus)
    assert retention.policy(campus["school"])["emergency_days"] == 3 * 365
    counts = retention.purge_school(campus["school"], now=TEN + timedelta(days=3 * 365 + 1))
    db.session.commit()
    assert counts["emergency_events"] == 1
    assert db.session.query(RollMark).count() == 0
    assert MarkStatus.RELEASED == "released"

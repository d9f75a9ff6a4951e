"""Calls to the office through the screens: the office finds and calls a student, the
class teacher's tablet shows the call live and sends them in one tap, the hallway marks
the pass, the office's list follows (on the way, arrived, not in class), and bad input
or the wrong teacher gets a clear 4xx with nothing written."""

from datetime import time

import pytest
from sqlalchemy import func, select

from hallpass.models import Destination, HallPass, OfficeCall
from hallpass.office_calls import OFFICE_TOPIC
from shared import live
from shared.models import BellPeriod, Enrollment, Room, SchoolClass, Student
from shared.schedule import school_now


@pytest.fixture
def calls(db, school, make_user):
    """Room 114's class meets all day today; an office destination; an office clerk."""
    teacher = make_user(school, "teacher")
    room = Room(school_id=school.id, name="114")
    office_room = Room(school_id=school.id, name="Front office", kind="office")
    db.session.add_all([room, office_room])
    db.session.flush()
    section = SchoolClass(school_id=school.id, name="Science 7", room_id=room.id, period="A")
    section.teachers.append(teacher)
    students = [
        Student(school_id=school.id, student_number=f"8{n}", first_name=f"Maya{n}", last_name="R")
        for n in range(3)
    ]
    office = Destination(school_id=school.id, name="Office", room_id=office_room.id)
    db.session.add_all(
        [
            section,
            office,
            *students,
            BellPeriod(
                school_id=school.id,
                name="A",
                weekday=school_now(school).weekday(),
                start_time=time(0, 0),
                end_time=time(23, 59, 59),
            ),
        ]
    )
    db.session.flush()
    db.session.add_all([Enrollment(class_id=section.id, student_id=s.id) for s in students])
    db.session.commit()
    return {
        "teacher": teacher,
        "room": room,
        "office": office,
        "students": students,
        "clerk": make_user(school, "office"),
    }


def _call(client, calls, student, **form):
    return client.post(
        "/hallpass/office-calls",
        data={"student_id": student.id, "destination_id": calls["office"].id, **form},
    )


def test_call_send_and_arrive_through_the_screens(app, db, client, login, school, calls):
    office = login(calls["clerk"])
    page = office.get("/hallpass/office-calls").get_data(as_text=True)
    assert "Call to the office" in page and "Front office" not in page and "Office" in page
    found = office.post("/hallpass/office-calls/students", data={"q": "maya1"})
    assert "Maya1 R" in found.get_data(as_text=True) and "<html" not in found.get_data(as_text=True)

    student = calls["students"][1]
    room_topic = f"room:{calls['room'].id}"
    shown = live.current(school.id, room_topic)
    response = _call(office, calls, student, note="Dentist", bring_things="1")
    assert response.status_code == 302
    listed = office.get("/hallpass/office-calls").get_data(as_text=True)
    assert "waiting for the teacher" in listed and "Dentist" in listed and "bring things" in listed

    teacher = login(calls["teacher"], on=app.test_client())
    region = teacher.get(f"/hallpass/rooms/{calls['room'].id}/calls?v={shown}")
    text = region.get_data(as_text=True)
    assert region.status_code == 200 and "Maya1 R" in text and "<html" not in text
    assert "bring your things" in text and "Dentist" in text
    version = live.current(school.id, room_topic)
    assert version > shown
    unchanged = teacher.get(f"/hallpass/rooms/{calls['room'].id}/calls?v={version}")
    assert unchanged.status_code == 204
    tablet = teacher.get("/hallpass/").get_data(as_text=True)
    assert 'id="room-calls"' in tablet and "Send" in tablet

    call = db.session.scalar(select(OfficeCall))
    hallway_before = live.current(school.id, "hallway")
    office_before = live.current(school.id, OFFICE_TOPIC)
    sent = teacher.post(f"/hallpass/office-calls/{call.id}/send")
    assert sent.status_code == 200 and "Maya1 R" not in sent.get_data(as_text=True)
    assert live.current(school.id, "hallway") > hallway_before
    assert live.current(school.id, OFFICE_TOPIC) > office_before
    hall_pass = db.session.scalar(select(HallPass))
    assert hall_pass.student_id == student.id and hall_pass.destination_id == calls["office"].id

    hallway = office.get("/hallpass/hallway").get_data(as_text=True)
    assert "called to the office" in hallway
    on_the_way = office.get(f"/hallpass/office-calls/list?v={office_before}")
    assert "On the way since" in on_the_way.get_data(as_text=True)

    arrived = office.post(f"/hallpass/office-calls/{call.id}/arrived")
    assert arrived.status_code == 200 and "Arrived" in arrived.get_data(as_text=True)
    assert "Gone home" in arrived.get_data(as_text=True)
    again = office.post(f"/hallpass/office-calls/{call.id}/arrived")
    assert again.status_code == 409
    ended = office.post(f"/hallpass/office-calls/{call.id}/end")
    assert ended.status_code == 200
    assert db.session.get(HallPass, hall_pass.id).status == "ended"


def test_the_teacher_answers_not_in_class_and_the_office_sees_it(app, db, login, calls):
    office = login(calls["clerk"], on=app.test_client())
    _call(office, calls, calls["students"][0])
    call = db.session.scalar(select(OfficeCall))
    teacher = login(calls["teacher"], on=app.test_client())
    assert teacher.post(f"/hallpass/office-calls/{call.id}/not-here").status_code == 200
    listed = office.get("/hallpass/office-calls/list").get_data(as_text=True)
    assert "Not in class" in listed and calls["teacher"].name in listed
    # Answered: the office can no longer cancel it, and a second answer is refused.
    assert office.post(f"/hallpass/office-calls/{call.id}/cancel").status_code == 409
    assert teacher.post(f"/hallpass/office-calls/{call.id}/send").status_code == 409


def test_bad_input_and_the_wrong_teacher_write_nothing(app, db, login, school, make_user, calls):
    office = login(calls["clerk"], on=app.test_client())
    missing = office.post("/hallpass/office-calls", data={"destination_id": calls["office"].id})
    assert missing.status_code == 400
    assert "Find the student and choose them." in missing.get_data(as_text=True)
    not_an_office = _call(office, calls, calls["students"][0], destination_id="abc")
    assert not_an_office.status_code == 400
    too_long = _call(office, calls, calls["students"][0], note="x" * 400)
    assert too_long.status_code == 400
    assert db.session.scalar(select(func.count(OfficeCall.id))) == 0

    _call(office, calls, calls["students"][0])
    call = db.session.scalar(select(OfficeCall))
    twice = _call(office, calls, calls["students"][0])
    assert twice.status_code == 409 and "already been called" in twice.get_data(as_text=True)
    stranger = login(make_user(school, "teacher"), on=app.test_client())
    assert stranger.post(f"/hallpass/office-calls/{call.id}/send").status_code == 403
    assert stranger.get(f"/hallpass/rooms/{calls['room'].id}/calls").status_code == 403
    assert db.session.get(OfficeCall, call.id).status == "called"
    assert office.post(f"/hallpass/office-calls/{call.id}/cancel").status_code == 200
    assert db.session.get(OfficeCall, call.id).status == "cancelled"


def test_without_an_office_destination_the_page_says_how_to_make_one(db, login, calls):
    calls["office"].active = False
    db.session.commit()
    page = login(calls["clerk"]).get("/hallpass/office-calls").get_data(as_text=True)
    assert "No office destination yet" in page

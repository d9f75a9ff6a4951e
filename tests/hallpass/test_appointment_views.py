"""Appointments through the browser's requests: the counselor's page and its live list,
the class teacher's "coming up" region with Release and Decline, the kiosk's and the
phone's notice at the time, and refusals answered with a clear 4xx that writes nothing."""

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from hallpass.models import Appointment, Destination, HallPass
from shared import live
from shared.models import Room, SchoolClass
from tests.hallpass.test_student import PHONE, kiosk, room  # noqa: F401  (fixtures)


@pytest.fixture
def counseling(db, school, room, make_user):  # noqa: F811
    """`room` (a class in session all day) with a counselor and the counselor's office."""
    office = Room(school_id=school.id, name="Counseling", kind="counselor")
    db.session.add(office)
    db.session.flush()
    destination = Destination(
        school_id=school.id, name="Counselor", room_id=office.id, self_start=False
    )
    db.session.add(destination)
    db.session.commit()
    return {**room, "counselor": make_user(school, "staff"), "counselor_office": destination}


def soon(school, minutes=2) -> tuple[str, str]:
    """Today's date and a time a few minutes ahead, as the form takes them."""
    local = datetime.now(UTC).astimezone(ZoneInfo(school.timezone)) + timedelta(minutes=minutes)
    if local.hour == 23 and local.minute > 50:
        pytest.skip("too close to midnight for a same-day appointment")
    return local.date().isoformat(), local.strftime("%H:%M")


def book(client, place, school, student=0, typed=None, **extra):
    """The signed-in staff member schedules a student (typed: what they type for them)."""
    day, at = soon(school)
    data = {
        "student": typed or place["students"][student].student_number,
        "destination_id": place["counselor_office"].id,
        "day": day,
        "time": at,
        **extra,
    }
    return client.post("/hallpass/appointments", data=data)


def test_the_counselor_schedules_and_the_teacher_releases_it_at_the_time(
    app, db, client, login, school, counseling
):
    login(counseling["counselor"])
    page = client.get("/hallpass/appointments").get_data(as_text=True)
    assert 'id="appointments-today"' in page and "Counselor" in page
    done = book(client, counseling, school, note="Check-in about grades")
    assert done.status_code == 200 and "Scheduled." in done.get_data(as_text=True)
    appointment = db.session.scalar(select(Appointment))
    assert (appointment.status, appointment.period) == ("scheduled", "2")
    listed = client.get("/hallpass/appointments/today").get_data(as_text=True)
    assert "<html" not in listed and "Kid0 Zed" in listed and "waiting" in listed
    # The class teacher's tablet shows it coming, due now (ten minutes early is fine).
    client.get("/logout")
    teacher = app.test_client()
    login(counseling["teacher"], on=teacher)
    tablet = teacher.get("/hallpass/").get_data(as_text=True)
    assert 'id="room-appointments"' in tablet
    assert re.search(r"Counselor at [^<]+ for Kid0 Z\.", tablet) and "Release" in tablet
    assert "Check-in about grades" in tablet  # the staff note is for staff
    room_id = counseling["room"].id
    version = live.current(school.id, f"room:{room_id}")
    polled = teacher.get(f"/hallpass/rooms/{room_id}/appointments?v={version}")
    assert polled.status_code == 204
    released = teacher.post(f"/hallpass/appointments/{appointment.id}/release")
    fragment = released.get_data(as_text=True)
    assert released.status_code == 200 and "<html" not in fragment
    assert 'id="room-passes"' in fragment and "appointment" in fragment  # its origin
    hall_pass = db.session.scalar(select(HallPass))
    assert (hall_pass.source, hall_pass.from_room_id) == ("appointment", room_id)
    again = teacher.post(f"/hallpass/appointments/{appointment.id}/release")
    assert again.status_code == 409
    assert db.session.scalar(select(func.count(HallPass.id))) == 1
    # The counselor's list says released.
    login(counseling["counselor"])
    assert "released" in client.get("/hallpass/appointments/today").get_data(as_text=True)


def test_decline_needs_a_reason_and_the_counselor_reads_it(
    app, db, client, login, school, counseling
):
    login(counseling["counselor"])
    book(client, counseling, school)
    appointment = db.session.scalar(select(Appointment))
    teacher = app.test_client()
    login(counseling["teacher"], on=teacher)
    url = f"/hallpass/appointments/{appointment.id}/decline"
    assert teacher.post(url, data={"reason": " "}).status_code == 400
    declined = teacher.post(url, data={"reason": "Quiz until 10:40"})
    assert declined.status_code == 200 and "No appointments coming up" in declined.get_data(
        as_text=True
    )
    listed = client.get("/hallpass/appointments/today").get_data(as_text=True)
    assert "declined" in listed and "Quiz until 10:40" in listed


def test_a_students_history_shows_their_appointments_beside_their_passes(
    app, db, client, login, school, counseling
):
    """The teacher reads a student's history: the appointment and its status (declined,
    with the reason), never the counselor's note; the office sees the same."""
    login(counseling["counselor"])
    book(client, counseling, school, note="Family matter")
    appointment = db.session.scalar(select(Appointment))
    teacher = app.test_client()
    login(counseling["teacher"], on=teacher)
    teacher.post(f"/hallpass/appointments/{appointment.id}/decline", data={"reason": "Quiz"})
    student_id = counseling["students"][0].id
    page = teacher.get(f"/hallpass/reports/students/{student_id}").get_data(as_text=True)
    section = page[page.index('id="student-appointments"') :]
    assert "Counselor" in section and "declined · Quiz" in section
    assert "Family matter" not in page
    other = counseling["students"][1].id
    empty = teacher.get(f"/hallpass/reports/students/{other}").get_data(as_text=True)
    assert "No appointments in these dates." in empty


def test_refusals_are_clear_and_write_nothing(db, client, login, school, counseling, make_user):
    login(counseling["counselor"])
    assert book(client, counseling, school).status_code == 200
    clash = book(client, counseling, school)
    assert clash.status_code == 400 and "already has an appointment then" in clash.get_data(
        as_text=True
    )
    nobody = book(client, counseling, school, typed="no such kid")
    assert nobody.status_code == 400 and "nobody matches" in nobody.get_data(as_text=True)
    bad_time = book(client, counseling, school, student=1, time="25:99")
    assert bad_time.status_code == 400
    no_until = book(client, counseling, school, student=1, repeat="1")
    assert no_until.status_code == 400 and "Repeat until" in no_until.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Appointment.id))) == 1
    # A teacher schedules only to their own room: the counselor's office is refused.
    client.get("/logout")
    login(counseling["teacher"])
    refused = book(client, counseling, school, student=2)
    assert refused.status_code == 403
    assert db.session.scalar(select(func.count(Appointment.id))) == 1


def test_a_teacher_of_another_room_cannot_release_it(app, db, client, login, school, counseling):
    login(counseling["counselor"])
    book(client, counseling, school)
    appointment = db.session.scalar(select(Appointment))
    other = make_teacher_elsewhere(db, school, counseling)
    outsider = app.test_client()
    login(other, on=outsider)
    assert outsider.post(f"/hallpass/appointments/{appointment.id}/release").status_code == 403
    assert (
        outsider.post(
            f"/hallpass/appointments/{appointment.id}/decline", data={"reason": "x"}
        ).status_code
        == 403
    )
    assert db.session.get(Appointment, appointment.id).status == "scheduled"


def make_teacher_elsewhere(db, school, place):
    from shared.models import Membership, User
    from tests.helpers import PASSWORD_HASH

    user = User(email="elsewhere@example.org", name="Elsewhere", password_hash=PASSWORD_HASH)
    db.session.add(user)
    db.session.flush()
    db.session.add(Membership(user_id=user.id, school_id=school.id, role="teacher"))
    other_room = Room(school_id=school.id, name="300")
    db.session.add(other_room)
    db.session.flush()
    section = SchoolClass(school_id=school.id, name="Art", room_id=other_room.id, period="2")
    section.teachers.append(user)
    db.session.add(section)
    db.session.commit()
    return user


def test_the_kiosk_and_the_phone_tell_the_student_at_the_time(
    app,
    db,
    client,
    login,
    school,
    counseling,
    kiosk,  # noqa: F811
):
    login(counseling["counselor"])
    book(client, counseling, school)
    chosen = kiosk.post("/hallpass/kiosk/scan", data={"number": "44100"}).get_data(as_text=True)
    assert "You have an appointment at" in chosen and "Counselor" not in chosen.split("<h2")[0]
    other = kiosk.post("/hallpass/kiosk/scan", data={"number": "44101"}).get_data(as_text=True)
    assert "You have an appointment" not in other
    # On the phone, once the student picked their name (room QR, then the restroom).
    from hallpass.room_qr import room_qr_token

    phone = app.test_client()
    token = room_qr_token(counseling["room"])
    went = phone.post(
        f"/hallpass/r/{token}",
        data={
            "student_id": counseling["students"][0].id,
            "destination_id": counseling["restroom"].id,
            "student_check": counseling["students"][0].student_number[-4:],
        },
        headers=PHONE,
    )
    assert went.status_code == 200
    assert "You have an appointment at" in went.get_data(as_text=True)


def test_in_spanish_for_a_spanish_speaking_teacher_and_student(
    app,
    db,
    client,
    login,
    school,
    counseling,
    kiosk,  # noqa: F811
):
    login(counseling["counselor"])
    book(client, counseling, school)
    counseling["teacher"].language = "es"
    db.session.commit()
    teacher = app.test_client()
    login(counseling["teacher"], on=teacher)
    tablet = teacher.get("/hallpass/").get_data(as_text=True)
    assert "Próximas citas: 1" in tablet and "Autorizar salida" in tablet
    assert re.search(r"Counselor a las [^<]+ para Kid0 Z\.", tablet)
    school.language = "es"
    db.session.commit()
    chosen = kiosk.post("/hallpass/kiosk/scan", data={"number": "44100"}).get_data(as_text=True)
    assert "Tienes una cita a las" in chosen


def test_a_weekly_repeat_from_the_form(db, client, login, school, counseling):
    login(counseling["counselor"])
    day, _ = soon(school)
    until = (datetime.fromisoformat(day) + timedelta(days=21)).date().isoformat()
    done = book(client, counseling, school, repeat="1", until=until)
    assert done.status_code == 200 and "Scheduled: 4 weeks." in done.get_data(as_text=True)
    made = db.session.scalars(select(Appointment).order_by(Appointment.day)).all()
    assert len(made) == 4 and len({a.series for a in made}) == 1
    assert (made[-1].day - made[0].day).days == 21


def test_a_rule_that_says_no_shows_why_with_an_override_where_the_rule_allows(
    app, db, client, login, school, counseling, office_user
):
    from hallpass.passes import start_sweep
    from hallpass.policy import policy_for
    from shared.audit import Actor

    policy_for(school).no_pass_periods = ["2"]
    db.session.commit()
    login(counseling["counselor"])
    book(client, counseling, school, student=0)
    book(client, counseling, school, student=1)
    first, second = db.session.scalars(select(Appointment).order_by(Appointment.id)).all()
    teacher = app.test_client()
    login(counseling["teacher"], on=teacher)
    url = f"/hallpass/appointments/{first.id}/release"
    blocked = teacher.post(url)
    answer = blocked.get_data(as_text=True)
    assert blocked.status_code == 409 and "No passes during period 2" in answer
    assert "Reason to override" in answer and "<html" not in answer
    assert db.session.scalar(select(func.count(HallPass.id))) == 0
    overridden = teacher.post(url, data={"override_reason": "counselor asked"})
    assert overridden.status_code == 200
    hall_pass = db.session.scalar(select(HallPass))
    assert (hall_pass.source, hall_pass.override_reason) == ("appointment", "counselor asked")
    # The pass check page says where the pass came from.
    page = teacher.get(f"/hallpass/p/{hall_pass.token}").get_data(as_text=True)
    assert "appointment" in page
    # A sweep: no override offered, nothing starts.
    start_sweep(school, Actor(user=office_user))
    db.session.commit()
    swept = teacher.post(f"/hallpass/appointments/{second.id}/release")
    assert swept.status_code == 409 and "sweep" in swept.get_data(as_text=True)
    assert "Reason to override" not in swept.get_data(as_text=True)
    assert db.session.get(Appointment, second.id).status == "scheduled"

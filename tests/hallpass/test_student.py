"""Students' hall pass flows through the client: kiosk, room QR on a phone, requests,
the wait line, pass checks and slips, arrival check-in, and who may do what."""

import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from hallpass import pass_requests, room_qr
from hallpass.models import Destination, HallPass, PassRequest
from hallpass.passes import start_pass
from hallpass.policy import policy_for
from shared.audit import Actor
from shared.models import BellPeriod, Enrollment, Room, SchoolClass, Student
from tests.hallpass.test_views import pair
from tests.helpers import audit_actions

PHONE = {"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) Mobile", "Viewport-Width": "390"}


@pytest.fixture
def room(db, school, make_user, app):
    """Room 114 with a class in session all day, a restroom (capacity 1), an office
    (approval needed), and an admin who pairs devices."""
    teacher = make_user(school, "teacher")
    admin = make_user(school, "admin")
    classroom = Room(school_id=school.id, name="114")
    restroom_room = Room(school_id=school.id, name="Restroom A", kind="restroom")
    db.session.add_all([classroom, restroom_room])
    db.session.flush()
    section = SchoolClass(school_id=school.id, name="Science 7", room_id=classroom.id, period="2")
    section.teachers.append(teacher)
    students = [
        Student(
            school_id=school.id, student_number=f"4410{n}", first_name=f"Kid{n}", last_name="Zed"
        )
        for n in range(4)
    ]
    today = datetime.now(UTC).astimezone(ZoneInfo(school.timezone)).weekday()
    restroom = Destination(
        school_id=school.id, name="Restroom", room_id=restroom_room.id, capacity=1
    )
    office = Destination(school_id=school.id, name="Office", self_start=False)
    db.session.add_all([section, *students, restroom, office])
    db.session.add(
        BellPeriod(
            school_id=school.id,
            name="2",
            weekday=today,
            start_time=time(0, 0),
            end_time=time(23, 59, 59),
        )
    )
    db.session.flush()
    db.session.add_all([Enrollment(class_id=section.id, student_id=s.id) for s in students])
    db.session.commit()
    policy_for(school).max_pass_minutes = None
    db.session.commit()
    return {
        "teacher": teacher,
        "admin": admin,
        "room": classroom,
        "restroom_room": restroom_room,
        "students": students,
        "restroom": restroom,
        "office": office,
    }


def restroom_pass(db, school, room, student: int = 0, **when) -> HallPass:
    """The room's teacher sends one of its students to the restroom (committed)."""
    hall_pass = start_pass(
        school,
        Actor(user=room["teacher"]),
        student_id=room["students"][student].id,
        destination_id=room["restroom"].id,
        from_room_id=room["room"].id,
        source="teacher",
        **when,
    )
    db.session.commit()
    return hall_pass


@pytest.fixture
def kiosk(app, db, school, room):
    return pair(app, db, school, room["admin"], "kiosk", room_id=room["room"].id, purpose=None)


def student_token(page: str) -> str:
    return re.search(r'name="student" value="([^"]+)"', page).group(1)


def test_kiosk_flow_with_a_typed_number(db, school, room, kiosk):
    kid = room["students"][0]
    scan_page = kiosk.get("/hallpass/kiosk").get_data(as_text=True)
    assert "data-keep-focus" in scan_page and 'data-scanner="kiosk-number"' in scan_page
    chosen = kiosk.post("/hallpass/kiosk/scan", data={"number": " 44100 "})
    page = chosen.get_data(as_text=True)
    assert chosen.status_code == 200 and "Kid0 Z." in page and "Zed" not in page
    assert "44100" not in page and "Restroom" in page and "Office" in page
    assert "Kid1" not in page  # no other student's name
    go = kiosk.post(
        "/hallpass/kiosk/go",
        data={"student": student_token(page), "destination_id": room["restroom"].id},
    )
    result = go.get_data(as_text=True)
    assert go.status_code == 200 and "Go ahead, Kid0 Z." in result and "<svg" in result
    hall_pass = db.session.scalar(select(HallPass))
    assert (hall_pass.source, hall_pass.from_room_id) == ("kiosk", room["room"].id)
    assert hall_pass.issued_by_device_id is not None and hall_pass.student_id == kid.id
    back = kiosk.post("/hallpass/kiosk/scan", data={"number": "44100"})
    assert back.status_code == 200 and "Welcome back" in back.get_data(as_text=True)
    db.session.refresh(hall_pass)
    assert (hall_pass.status, hall_pass.ended_by) == ("ended", "student")


@pytest.mark.parametrize(
    ("number", "status"),
    [("999999", 404), ("", 400), ("x" * 300, 400), ("https://x/hallpass/p/" + "A" * 24, 404)],
)
def test_kiosk_refuses_junk_with_a_clear_4xx(room, kiosk, number, status):
    response = kiosk.post("/hallpass/kiosk/scan", data={"number": number})
    assert response.status_code == status
    assert 'data-return-url="/hallpass/kiosk?turn=over"' in response.get_data(as_text=True)


def test_kiosk_does_not_know_students_of_another_school(db, make_school, room, kiosk):
    other = make_school()
    db.session.add(
        Student(school_id=other.id, student_number="77777", first_name="Far", last_name="Away")
    )
    db.session.commit()
    assert kiosk.post("/hallpass/kiosk/scan", data={"number": "77777"}).status_code == 404


@pytest.mark.parametrize("token", ["", "junk", "a.b.c"])
def test_kiosk_go_needs_a_genuine_student_value(db, room, kiosk, token):
    response = kiosk.post(
        "/hallpass/kiosk/go", data={"student": token, "destination_id": room["restroom"].id}
    )
    assert response.status_code == 400
    assert db.session.scalar(select(HallPass)) is None


def test_kiosk_value_from_another_kiosk_is_refused(app, db, school, room, kiosk):
    page = kiosk.post("/hallpass/kiosk/scan", data={"number": "44100"}).get_data(as_text=True)
    other = pair(app, db, school, room["admin"], "kiosk", room_id=room["room"].id, purpose=None)
    response = other.post(
        "/hallpass/kiosk/go",
        data={"student": student_token(page), "destination_id": room["restroom"].id},
    )
    assert response.status_code == 400


def test_kiosk_full_destination_offers_the_wait_line_and_the_teacher_sees_it(
    db, client, login, school, room, kiosk
):
    restroom_pass(db, school, room, 3)
    page = kiosk.post("/hallpass/kiosk/scan", data={"number": "44101"}).get_data(as_text=True)
    token = student_token(page)
    full = kiosk.post(
        "/hallpass/kiosk/go", data={"student": token, "destination_id": room["restroom"].id}
    )
    assert full.status_code == 409 and "Join the wait line" in full.get_data(as_text=True)
    joined = kiosk.post(
        "/hallpass/kiosk/go",
        data={"student": token, "destination_id": room["restroom"].id, "mode": "line"},
    )
    assert joined.status_code == 200 and "number 1" in joined.get_data(as_text=True)
    login(room["teacher"])
    teacher_page = client.get("/hallpass/").get_data(as_text=True)
    assert (
        "Kid1 Zed" in teacher_page and "#1" in teacher_page and 'id="room-requests"' in teacher_page
    )
    # the student scans again: their place in line, and they may cancel it
    again = kiosk.post("/hallpass/kiosk/scan", data={"number": "44101"}).get_data(as_text=True)
    assert "number 1" in again and "Cancel my request" in again
    cancelled = kiosk.post("/hallpass/kiosk/cancel", data={"student": student_token(again)})
    assert cancelled.status_code == 200
    assert db.session.scalar(select(PassRequest.status)) == "cancelled"


def test_kiosk_request_for_approval_then_teacher_approves_live(
    db, client, login, school, room, kiosk
):
    page = kiosk.post("/hallpass/kiosk/scan", data={"number": "44102"}).get_data(as_text=True)
    asked = kiosk.post(
        "/hallpass/kiosk/go",
        data={"student": student_token(page), "destination_id": room["office"].id},
    )
    assert asked.status_code == 200 and "Wait for your teacher" in asked.get_data(as_text=True)
    login(room["teacher"])
    url = f"/hallpass/rooms/{room['room'].id}/requests"
    region = client.get(url).get_data(as_text=True)
    assert "<html" not in region and "Kid2 Zed" in region and "Approve" in region
    version = int(re.search(r"v=(\d+)", region).group(1))
    assert client.get(f"{url}?v={version}").status_code == 204
    request_id = db.session.scalar(select(PassRequest.id))
    approved = client.post(
        f"/hallpass/requests/{request_id}/approve", headers={"HX-Request": "true"}
    )
    body = approved.get_data(as_text=True)
    assert approved.status_code == 200 and "No requests" in body and 'hx-swap-oob="true"' in body
    hall_pass = db.session.scalar(select(HallPass))
    assert hall_pass.issued_by_id == room["teacher"].id and hall_pass.source == "kiosk"
    assert "hallpass.request_approve" in audit_actions(db)
    assert client.post(f"/hallpass/requests/{request_id}/deny").status_code == 409


def test_the_kiosk_shows_the_teachers_answer_to_a_request(db, client, login, school, room, kiosk):
    """It used to go back to the scan screen after 8 s, before the teacher answered."""
    page = kiosk.post("/hallpass/kiosk/scan", data={"number": "44102"}).get_data(as_text=True)
    asked = kiosk.post(
        "/hallpass/kiosk/go",
        data={"student": student_token(page), "destination_id": room["office"].id},
    ).get_data(as_text=True)
    region_url = re.search(r'hx-get="(/hallpass/kiosk/requests/\d+)\?v=(\d+)"', asked)
    assert region_url, "the kiosk does not wait for the answer"
    assert 'data-return-after="120"' in asked and "Wait for your teacher" in asked
    url, version = region_url.group(1), region_url.group(2)
    assert kiosk.get(f"{url}?v={version}").status_code == 204  # no answer yet
    login(room["teacher"])
    request_id = db.session.scalar(select(PassRequest.id))
    client.post(f"/hallpass/requests/{request_id}/approve", headers={"HX-Request": "true"})
    answer = kiosk.get(f"{url}?v={version}").get_data(as_text=True)
    assert "Your teacher said yes" in answer and "Pass to" in answer and "<svg" in answer
    assert 'data-return-after="15"' in answer and "<html" not in answer
    # Denied: the message. A request of another room or kiosk is not this kiosk's to show.
    page = kiosk.post("/hallpass/kiosk/scan", data={"number": "44101"}).get_data(as_text=True)
    kiosk.post(
        "/hallpass/kiosk/go",
        data={"student": student_token(page), "destination_id": room["office"].id},
    )
    second = db.session.scalar(select(PassRequest.id).where(PassRequest.id != request_id))
    client.post(f"/hallpass/requests/{second}/deny", headers={"HX-Request": "true"})
    denied = kiosk.get(f"/hallpass/kiosk/requests/{second}?v=0").get_data(as_text=True)
    assert "Your teacher said no" in denied
    assert kiosk.get("/hallpass/kiosk/requests/999999?v=0").status_code == 404


def test_only_a_kiosk_opens_the_kiosk(app, db, client, login, school, room):
    display = pair(
        app, db, school, room["admin"], "classroom-display", room_id=room["room"].id, purpose=None
    )
    assert display.get("/hallpass/kiosk").status_code == 403
    assert display.post("/hallpass/kiosk/scan", data={"number": "44100"}).status_code == 403
    login(room["teacher"])
    assert client.get("/hallpass/kiosk").status_code == 403
    assert client.post("/hallpass/kiosk/scan", data={"number": "44100"}).status_code == 403
    anonymous = app.test_client()
    assert anonymous.post("/hallpass/kiosk/scan", data={"number": "44100"}).status_code == 401


def room_token(room) -> str:
    return room_qr.room_qr_token(room["room"])


def test_room_qr_flow_on_a_phone(app, db, client, login, school, room):
    display = pair(
        app, db, school, room["admin"], "classroom-display", room_id=room["room"].id, purpose=None
    )
    shown = display.get("/hallpass/display").get_data(as_text=True)
    assert "<svg" in shown and 'id="room-qr"' in shown
    step = re.search(r"/hallpass/display/qr\?v=(\d+)", shown).group(1)
    assert display.get(f"/hallpass/display/qr?v={step}").status_code == 204
    phone = app.test_client()
    token = room_token(room)
    pick = phone.get(f"/hallpass/r/{token}", headers=PHONE)
    page = pick.get_data(as_text=True)
    assert pick.status_code == 200 and "Kid0 Z." in page and "Zed" not in page
    assert "4410" not in page and pick.headers["Cache-Control"] == "no-store"
    kid = room["students"][0]
    went = phone.post(
        f"/hallpass/r/{token}",
        data={
            "student_id": kid.id,
            "destination_id": room["restroom"].id,
            "student_check": kid.student_number[-4:],
        },
        headers=PHONE,
    )
    assert went.status_code == 200 and "Pass to Restroom" in went.get_data(as_text=True)
    assert "passline_room_visit" in went.headers["Set-Cookie"]
    assert "HttpOnly" in went.headers["Set-Cookie"]
    hall_pass = db.session.scalar(select(HallPass))
    assert hall_pass.source == "room_qr" and hall_pass.from_room_id == room["room"].id
    # the same phone cannot send a second student out while its pass is open
    second = phone.post(
        f"/hallpass/r/{token}",
        data={"student_id": room["students"][1].id, "destination_id": room["office"].id},
    )
    assert second.status_code == 400
    # a phone without the cookie cannot end someone else's pass
    assert app.test_client().post(f"/hallpass/r/{token}/back").status_code == 404
    assert "I'm back" in phone.get(f"/hallpass/r/{token}").get_data(as_text=True)
    ended = phone.post(f"/hallpass/r/{token}/back")
    assert ended.status_code == 200 and "Welcome back" in ended.get_data(as_text=True)
    db.session.refresh(hall_pass)
    assert (hall_pass.status, hall_pass.ended_by) == ("ended", "student")


def test_room_qr_request_is_decided_live_by_the_teacher(app, db, client, login, school, room):
    phone = app.test_client()
    token = room_token(room)
    kid = room["students"][1]
    asked = phone.post(
        f"/hallpass/r/{token}",
        data={
            "student_id": kid.id,
            "destination_id": room["office"].id,
            "student_check": kid.student_number[-4:],
        },
    )
    assert asked.status_code == 200 and "Wait for your teacher" in asked.get_data(as_text=True)
    status = phone.get("/hallpass/visit").get_data(as_text=True)
    assert "<html" not in status and 'id="visit-status"' in status
    version = int(re.search(r"v=(\d+)", status).group(1))
    assert phone.get(f"/hallpass/visit?v={version}").status_code == 204
    login(room["teacher"])
    request_id = db.session.scalar(select(PassRequest.id))
    assert client.post(f"/hallpass/requests/{request_id}/deny").status_code == 200
    answered = phone.get(f"/hallpass/visit?v={version}")
    assert answered.status_code == 200 and "said no" in answered.get_data(as_text=True)


def test_room_qr_refuses_old_forged_and_wrong_input(app, db, school, room, make_room):
    phone = app.test_client()
    old = room_qr.room_qr_token(room["room"], datetime.now(UTC) - timedelta(minutes=3))
    assert phone.get(f"/hallpass/r/{old}").status_code == 410
    assert phone.get("/hallpass/r/forged-token-value").status_code == 404
    token = room_token(room)
    assert phone.post(f"/hallpass/r/{token}", data={}).status_code == 400
    other_room = make_room(school, "200")
    db.session.add(
        stranger := Student(
            school_id=school.id, student_number="5", first_name="Out", last_name="Side"
        )
    )
    db.session.commit()
    not_in_class = phone.post(
        f"/hallpass/r/{token}",
        data={"student_id": stranger.id, "destination_id": room["restroom"].id},
    )
    assert not_in_class.status_code == 400
    empty = phone.get(f"/hallpass/r/{room_qr.room_qr_token(other_room)}").get_data(as_text=True)
    assert "No class meets in this room" in empty
    assert phone.get("/hallpass/visit").status_code == 404
    assert phone.post("/hallpass/visit/cancel").status_code == 404
    assert db.session.scalar(select(HallPass)) is None


def test_pass_check_page_anonymous_and_staff(
    app, db, client, login, school, room, make_school, make_user
):
    hall_pass = restroom_pass(db, school, room)
    url = f"/hallpass/p/{hall_pass.token}"
    anonymous = app.test_client().get(url).get_data(as_text=True)
    assert "Valid" in anonymous and "Restroom" in anonymous and "min" in anonymous
    assert "Kid0" not in anonymous and "114" not in anonymous
    login(make_user(school, "staff"))
    staff = client.get(url).get_data(as_text=True)
    assert "Kid0 Zed" in staff and "114" in staff and room["teacher"].name in staff
    elsewhere = login(make_user(make_school(), "staff"), on=app.test_client())
    assert "Kid0" not in elsewhere.get(url).get_data(as_text=True)
    assert app.test_client().get("/hallpass/p/not-a-pass").status_code == 404


def test_printable_slip_for_the_teacher_only(app, db, client, login, school, room, make_user):
    hall_pass = restroom_pass(db, school, room)
    login(room["teacher"])
    slip = client.get(f"/hallpass/passes/{hall_pass.id}/slip").get_data(as_text=True)
    assert "Kid0 Zed" in slip and "<svg" in slip and "data-print" in slip
    other = login(make_user(school, "teacher"), on=app.test_client())
    assert other.get(f"/hallpass/passes/{hall_pass.id}/slip").status_code == 403
    assert app.test_client().get(f"/hallpass/passes/{hall_pass.id}/slip").status_code == 302


def test_requests_of_other_rooms_and_schools_are_refused(
    app, db, client, login, school, room, make_school, make_user
):
    request = pass_requests.ask_for_pass(
        school,
        Actor(),
        student_id=room["students"][0].id,
        destination_id=room["office"].id,
        from_room_id=room["room"].id,
        source="room_qr",
    )
    db.session.commit()
    login(make_user(school, "teacher"))
    assert client.post(f"/hallpass/requests/{request.id}/approve").status_code == 403
    assert client.post(f"/hallpass/requests/{request.id}/deny").status_code == 403
    outsider = login(make_user(make_school(), "admin"), on=app.test_client())
    assert outsider.post(f"/hallpass/requests/{request.id}/approve").status_code == 404
    kiosk = pair(app, db, school, room["admin"], "kiosk", room_id=room["room"].id, purpose=None)
    assert kiosk.post(f"/hallpass/requests/{request.id}/approve").status_code == 403
    assert client.post("/hallpass/requests/999999/deny").status_code == 404
    assert db.session.get(PassRequest, request.id).status == "pending"


def test_teacher_puts_a_student_in_the_wait_line_and_taps_go(db, client, login, school, room):
    login(room["teacher"])
    form = {"room_id": room["room"].id, "destination_id": room["restroom"].id}
    client.post("/hallpass/passes", data={**form, "student_id": room["students"][0].id})
    refused = client.post("/hallpass/passes", data={**form, "student_id": room["students"][1].id})
    assert refused.status_code == 409 and "Put in the wait line" in refused.get_data(as_text=True)
    joined = client.post("/hallpass/wait-line", data={**form, "student_id": room["students"][1].id})
    assert joined.status_code == 200 and "#1" in joined.get_data(as_text=True)
    first = db.session.scalar(select(HallPass))
    client.post(f"/hallpass/passes/{first.id}/end")
    ready = client.get(f"/hallpass/rooms/{room['room'].id}/requests").get_data(as_text=True)
    assert "place held" in ready
    request_id = db.session.scalar(select(PassRequest.id))
    assert client.post(f"/hallpass/requests/{request_id}/approve").status_code == 200
    assert (
        db.session.scalar(select(HallPass.student_id).where(HallPass.status == "active"))
        == room["students"][1].id
    )


def test_arrival_check_in_at_the_destinations_kiosk(app, db, school, room, kiosk):
    hall_pass = restroom_pass(db, school, room)
    code = f"https://passline.test/hallpass/p/{hall_pass.token}"
    wrong_room = kiosk.post("/hallpass/kiosk/scan", data={"number": code})
    assert wrong_room.status_code == 400
    restroom_kiosk = pair(
        app, db, school, room["admin"], "kiosk", room_id=room["restroom_room"].id, purpose=None
    )
    arrived = restroom_kiosk.post("/hallpass/kiosk/scan", data={"number": code})
    assert arrived.status_code == 200 and "Checked in" in arrived.get_data(as_text=True)
    db.session.refresh(hall_pass)
    assert hall_pass.arrived_at is not None and "hallpass.arrive" in audit_actions(db)


def test_end_overrun_command(app, db, school, room):
    hall_pass = restroom_pass(db, school, room, now=datetime.now(UTC) - timedelta(days=1))
    result = app.test_cli_runner().invoke(args=["hallpass", "end-overrun"])
    assert result.exit_code == 0, result.output
    assert "Ended 1 overrun passes" in result.output
    db.session.refresh(hall_pass)
    assert hall_pass.ended_by == "system"
    bad = app.test_cli_runner().invoke(args=["hallpass", "end-overrun", "--school", "NOPE"])
    assert bad.exit_code != 0


def test_a_student_proves_it_is_them_with_the_end_of_their_student_number(app, db, room):
    """Without it anyone who scans could tap a classmate's name and send them out."""
    token = room_token(room)
    kid, classmate = room["students"][0], room["students"][1]
    phone = app.test_client()
    pick = phone.get(f"/hallpass/r/{token}").get_data(as_text=True)
    assert "last 4 digits of your student number" in pick

    def go(student, typed):
        return phone.post(
            f"/hallpass/r/{token}",
            data={
                "student_id": student.id,
                "destination_id": room["restroom"].id,
                "student_check": typed,
            },
        )

    for student, typed in ((classmate, kid.student_number[-4:]), (kid, ""), (kid, "9999")):
        refused = go(student, typed)
        page = refused.get_data(as_text=True)
        assert refused.status_code == 400 and "not the end of your student number" in page
        assert 'aria-invalid="true"' in page and refused.headers["Cache-Control"] == "no-store"
    assert db.session.scalar(select(HallPass)) is None
    for n in range(4):  # with the try above: 5 wrong numbers for the classmate
        go(classmate, f"000{n}")
    throttled = go(classmate, classmate.student_number[-4:])  # 6th try: even the right one
    assert throttled.status_code == 400 and "Too many wrong numbers" in throttled.get_data(
        as_text=True
    )
    assert db.session.scalar(select(HallPass)) is None
    went = go(kid, kid.student_number[-4:])
    assert went.status_code == 200 and "Pass to Restroom" in went.get_data(as_text=True)

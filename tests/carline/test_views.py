"""Running dismissal through the browser: office control, curb, dismissal TV, classroom view."""

import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from carline.curb import curb_entry
from carline.dismissal import call_bus, start_dismissal
from carline.families import issue_tag
from carline.models import CalledStudent, CurbRequest, Dismissal, QueueEntry
from carline.plans import mark_absent, record_change, set_weekday_defaults
from shared.audit import SYSTEM, Actor
from shared.models import Enrollment, SchoolClass
from shared.schedule import school_today
from tests.hallpass.test_views import pair
from tests.helpers import StatementCounter, audit_actions, statements


@pytest.fixture
def admin(school, make_user):
    return make_user(school, "admin")


def start(db, school, office_user, lanes=1, spots=2) -> Dismissal:
    dismissal = start_dismissal(school, Actor(user=office_user), lanes, spots, school_today(school))
    db.session.commit()
    return dismissal


def today(school) -> int:
    return school_today(school).weekday()


def version_of(html: str) -> int:
    return int(re.search(r"[?&]v=(\d+)", html).group(1))


def text(response) -> str:
    return response.get_data(as_text=True)


HX = {"HX-Request": "true"}


# Office control


def test_office_starts_dismissal_with_the_schools_lanes_and_spots(
    db, client, login, school, office_user
):
    school.settings = {"carline": {"lanes": 3, "spots_per_lane": 4}}
    db.session.commit()
    login(office_user)
    page = text(client.get("/carline/dismissal"))
    assert 'name="lanes"' in page and 'value="3"' in page and 'value="4"' in page
    response = client.post("/carline/dismissal/start", data={"lanes": "3", "spots_per_lane": "4"})
    assert response.status_code == 302
    dismissal = db.session.scalar(select(Dismissal))
    assert (dismissal.lanes, dismissal.spots_per_lane) == (3, 4)
    assert dismissal.day == school_today(school)
    assert "carline.dismissal_start" in audit_actions(db)
    again = client.post("/carline/dismissal/start", data={"lanes": "3", "spots_per_lane": "4"})
    assert again.status_code == 409 and "already started" in text(again)
    bad = client.post("/carline/dismissal/start", data={"lanes": "x", "spots_per_lane": "99"})
    assert bad.status_code == 400
    page = text(client.get("/carline/dismissal"))
    assert 'id="dismissal-status"' in page and "End dismissal" in page


def test_status_region_polls_204_until_a_car_arrives(
    db, client, login, school, office_user, make_family, make_student
):
    make_family(school, 12, make_student(school))
    start(db, school, office_user)
    login(office_user)
    first = client.get("/carline/dismissal/status?v=-1", headers=HX)
    assert first.status_code == 200 and "<html" not in text(first)
    version = version_of(text(first))
    assert client.get(f"/carline/dismissal/status?v={version}").status_code == 204
    client.post("/carline/curb/entries", data={"entry": "12"})
    changed = client.get(f"/carline/dismissal/status?v={version}")
    assert changed.status_code == 200
    assert re.search(r"Cars at spots</span><strong>1<", text(changed))


def test_bus_call_and_walkers_by_grade_and_door(
    db, client, login, school, office_user, make_student
):
    school.settings = {"carline": {"walker_doors": {"North door": ["K", "1"]}}}
    riders = [make_student(school, f"Rider{n}") for n in range(2)]
    walkers = {g: make_student(school, f"Walk{g}", grade=g) for g in ("K", "1", "2")}
    for kid in riders:
        set_weekday_defaults(school, SYSTEM, kid, [today(school)], "bus", "7")
    for kid in walkers.values():
        set_weekday_defaults(school, SYSTEM, kid, [today(school)], "walker")
    db.session.commit()
    start(db, school, office_user)
    login(office_user)
    page = text(client.get("/carline/dismissal"))
    assert "Bus 7" in page and "0/2 called" in page and "North door" in page and "Grade 2" in page
    assert client.post("/carline/dismissal/bus", data={"route": "7"}).status_code == 302
    assert client.post("/carline/dismissal/bus", data={"route": "99"}).status_code == 400
    door = client.post("/carline/dismissal/walkers", data={"scope": "door", "door": "North door"})
    assert door.status_code == 302
    called = {c.student.first_name: c for c in db.session.scalars(select(CalledStudent))}
    assert set(called) == {"Rider0", "Rider1", "WalkK", "Walk1"}
    assert called["Rider0"].bus_route == "7" and called["WalkK"].mode == "walker"
    assert client.post(
        "/carline/dismissal/walkers", data={"scope": "grade", "grade": "2"}
    ).status_code == (302)
    db.session.expire_all()
    assert "Walk2" in {c.student.first_name for c in db.session.scalars(select(CalledStudent))}
    for form in ({"scope": "door", "door": "Back door"}, {"scope": "grade"}, {"scope": "x"}):
        assert client.post("/carline/dismissal/walkers", data=form).status_code == 400, form
    actions = audit_actions(db)
    assert actions.count("carline.bus_call") == 1 and actions.count("carline.walkers_release") == 2


def test_bus_and_walker_buttons_confirm_and_the_office_undoes_within_a_minute(
    db, client, login, school, office_user, make_student
):
    kid = make_student(school, "Rider")
    set_weekday_defaults(school, SYSTEM, kid, [today(school)], "bus", "7")
    set_weekday_defaults(school, SYSTEM, make_student(school, "Walker"), [today(school)], "walker")
    db.session.commit()
    start(db, school, office_user)
    login(office_user)
    page = text(client.get("/carline/dismissal"))
    assert 'data-confirm="Call bus 7? Its 1 rider not called yet is called."' in page
    assert 'data-confirm="Release all walkers?"' in page and "Just called" not in page
    client.post("/carline/dismissal/bus", data={"route": "7"})
    page = text(client.get("/carline/dismissal"))
    assert "Bus 7 called: 1 student. Undo below within a minute." in page
    assert "Just called" in page and "Bus 7: 1 student at" in page
    ids = re.findall(r'name="call_id" value="(\d+)"', page)
    assert client.post("/carline/dismissal/undo", data={"call_id": ids}).status_code == 302
    page = text(client.get("/carline/dismissal"))
    assert "Undone: 1 student no longer called." in page and "0/1 called" in page
    assert db.session.scalar(select(func.count(CalledStudent.id))) == 0
    assert client.post("/carline/dismissal/undo", data={"call_id": "x"}).status_code == 400
    assert client.post("/carline/dismissal/undo", data={"call_id": ids}).status_code == 404
    assert audit_actions(db)[-1] == "carline.calls_undo"


def test_end_lists_late_pickups_and_closes_the_curb(
    db, client, login, school, office_user, make_user, make_family, make_student
):
    ann, ben = make_student(school, "Ann"), make_student(school, "Ben")
    make_family(school, 5, ann)
    make_family(school, 6, ben)
    start(db, school, office_user)
    staff = login(make_user(school, "staff"), on=client.application.test_client())
    staff.post("/carline/curb/entries", data={"entry": "5"})
    login(office_user)
    response = client.post("/carline/dismissal/end")
    assert response.status_code == 302
    page = text(client.get("/carline/dismissal"))
    assert "Dismissal ended" in page and "2</strong> students were not picked up" in page
    assert "Ann Last" in page and "with tag 5" in page and "Ben Last" in page
    assert "Never called" in page
    refused = staff.post("/carline/curb/entries", data={"entry": "6"}, headers=HX)
    assert refused.status_code == 409 and "has ended" in text(refused)
    assert client.post("/carline/dismissal/end").status_code == 409
    assert "carline.dismissal_end" in audit_actions(db)
    # Reopened the same day, the curb takes entries again.
    assert "Reopen dismissal" in page
    assert staff.post("/carline/dismissal/reopen").status_code == 403  # office only
    assert client.post("/carline/dismissal/reopen").status_code == 302
    again = staff.post("/carline/curb/entries", data={"entry": "6"}, headers=HX)
    assert again.status_code == 200 and "Spot A2" in text(again)
    assert audit_actions(db)[-2:] == ["carline.dismissal_reopen", "carline.curb_entry"]
    assert client.post("/carline/dismissal/reopen").status_code == 409  # it is running


# The curb


@pytest.fixture
def curb_setup(db, school, office_user, make_family, make_student):
    ann, ben, cat = (make_student(school, name) for name in ("Ann", "Ben", "Cat"))
    families = {
        12: make_family(school, 12, ann, ben),
        13: make_family(school, 13, cat),
    }
    tag = issue_tag(school, families[13], actor=Actor(user=office_user))
    db.session.commit()
    return {"dismissal": start(db, school, office_user), "token": tag.token, **families}


def test_curb_entry_by_number_is_idempotent_with_the_same_key(
    db, client, login, school, make_user, curb_setup
):
    login(make_user(school, "staff"))
    page = text(client.get("/carline/curb"))
    assert 'id="curb-form"' in page and 'data-scanner="curb-entry"' in page
    assert "/carline/static/carline/curb.js" in page and 'id="curb-list"' in page
    form = {"entry": "12", "key": "3f1c2a9e-0000-4000-8000-000000000001"}
    first = client.post("/carline/curb/entries", data=form, headers=HX)
    answer = text(first)
    assert first.status_code == 200 and "<html" not in answer
    assert "Tag 12" in answer and "Spot A1" in answer
    assert "Ann Last" in answer and "Ben Last" in answer
    retry = client.post("/carline/curb/entries", data=form, headers=HX)
    assert retry.status_code == 200 and text(retry) == answer
    entry = db.session.scalar(select(QueueEntry))
    assert db.session.scalar(select(func.count(QueueEntry.id))) == 1
    assert entry.repeat_count == 0
    assert db.session.scalar(select(func.count(CurbRequest.id))) == 1
    assert audit_actions(db).count("carline.curb_entry") == 1
    repeat = client.post("/carline/curb/entries", data={"entry": "12", "key": "other-key"})
    assert repeat.status_code == 200 and "Repeat" in text(repeat)
    db.session.refresh(entry)
    assert entry.repeat_count == 1 and "carline.curb_repeat" in audit_actions(db)
    # without JavaScript the form answers with the whole page
    assert "<html" in text(repeat)


def test_curb_entry_by_scanned_token_and_by_a_scanner_device(app, db, school, admin, curb_setup):
    scanner = pair(app, db, school, admin, "scanner", room_id=None, purpose=None)
    assert scanner.get("/carline/curb").status_code == 200
    home = text(scanner.get("/device"))
    assert "/carline/curb" in home
    response = scanner.post(
        "/carline/curb/entries", data={"entry": curb_setup["token"], "key": "k-1"}, headers=HX
    )
    assert response.status_code == 200
    assert "Tag 13" in text(response) and "Cat Last" in text(response)
    entry = db.session.scalar(select(QueueEntry))
    assert entry.family_id == curb_setup[13].id and entry.entered_by_device_id is not None


def test_curb_refuses_unknown_revoked_and_malformed_entries(
    db, client, login, school, office_user, make_user, curb_setup
):
    old = curb_setup["token"]
    issue_tag(school, curb_setup[13], actor=Actor(user=office_user))
    db.session.commit()
    login(make_user(school, "staff"))
    cases = [
        ({"entry": "99"}, 404, "Tag 99 is not a tag"),
        ({"entry": old}, 400, "replaced by a newer one"),
        ({"entry": "https://example.org/?x=1"}, 404, "not a hang tag"),
        ({"entry": "nonsense-token"}, 404, "not a hang tag"),
        ({"entry": "   "}, 400, "Enter a tag number"),
        ({}, 400, "Enter a tag number"),
        ({"entry": "9" * 40}, 400, "too long"),
        ({"entry": "0"}, 400, "start at 1"),
        ({"entry": "12", "key": "k" * 65}, 400, "request id"),
    ]
    for form, status, message in cases:
        response = client.post("/carline/curb/entries", data=form, headers=HX)
        assert response.status_code == status, form
        assert message in text(response) and "<html" not in text(response), form
    assert db.session.scalar(select(func.count(QueueEntry.id))) == 0
    reused = {"entry": "12", "key": "same-key"}
    assert client.post("/carline/curb/entries", data=reused).status_code == 200
    conflict = client.post("/carline/curb/entries", data={**reused, "entry": "13"})
    assert conflict.status_code == 409


def test_curb_before_dismissal_starts_is_refused(db, client, login, school, make_user):
    login(make_user(school, "teacher"))
    assert "has not started" in text(client.get("/carline/curb"))
    response = client.post("/carline/curb/entries", data={"entry": "1"}, headers=HX)
    assert response.status_code == 409 and "has not started" in text(response)


def test_absent_and_other_plans_are_warnings_with_names(
    db, client, login, school, office_user, make_user, curb_setup
):
    ann, ben = curb_setup[12].students
    mark_absent(school, Actor(user=office_user), ann, school_today(school))
    record_change(
        school, Actor(user=office_user), ben, school_today(school), mode="bus", bus_route="4"
    )
    db.session.commit()
    login(make_user(school, "staff"))
    answer = text(client.post("/carline/curb/entries", data={"entry": "12"}, headers=HX))
    assert "Ann Last" in answer and "Absent today." in answer
    assert "Ben Last" in answer and "Rides bus 4 today." in answer
    assert "Nobody to call for this car today." in answer and "No spot" in answer
    assert "Spot A1" not in answer
    assert db.session.scalar(select(func.count(CalledStudent.id))) == 0
    assert db.session.scalar(select(func.count(QueueEntry.id))) == 0  # it takes no spot
    curb_list = text(client.get("/carline/curb/list"))
    assert "Tag 12" not in curb_list


def test_the_curb_answer_shows_who_may_pick_up(db, client, login, school, make_user, curb_setup):
    curb_setup[12].pickup_adults = "Maria Lopez\nJames Lopez"
    curb_setup[12].release_note = "Do not release to Tom Lopez."
    db.session.commit()
    login(make_user(school, "staff"))
    answer = text(client.post("/carline/curb/entries", data={"entry": "12"}, headers=HX))
    assert "May pick up:" in answer and "Maria Lopez · James Lopez" in answer
    assert "<strong>Note:</strong> Do not release to Tom Lopez." in answer
    assert re.search(r'hx-post="/carline/curb/cars/\d+/loaded"[^>]*>Loaded<', answer)  # its spot
    bare = text(client.post("/carline/curb/entries", data={"entry": "13"}, headers=HX))
    assert "No authorized adult on file" in bare


def test_loaded_moves_the_next_car_into_the_spot(
    db, client, login, school, office_user, make_user, make_family, make_student
):
    for tag in (1, 2, 3):
        make_family(school, tag, make_student(school, f"Kid{tag}"))
    start(db, school, office_user, lanes=1, spots=1)
    login(make_user(school, "staff"))
    client.post("/carline/curb/entries", data={"entry": "1"})
    waiting = text(client.post("/carline/curb/entries", data={"entry": "2"}, headers=HX))
    assert "Waiting · #1 in line" in waiting
    client.post("/carline/curb/entries", data={"entry": "3"})
    first = db.session.scalar(select(QueueEntry).where(QueueEntry.position == 1))
    curb_list = text(client.get("/carline/curb/list?v=-1", headers=HX))
    assert "<html" not in curb_list and "Tag 1" in curb_list and "2 waiting" in curb_list
    response = client.post(f"/carline/curb/cars/{first.id}/loaded", headers=HX)
    assert response.status_code == 200 and "<html" not in text(response)
    db.session.expire_all()
    spots = {
        e.family.tag_number: (e.status, e.spot) for e in db.session.scalars(select(QueueEntry))
    }
    assert spots == {1: ("loaded", 1), 2: ("at_spot", 1), 3: ("queued", None)}
    assert re.search(r"A1</span>\s*<span class=\"curb-car-who\">\s*<strong>Tag 2", text(response))
    assert "carline.loaded" in audit_actions(db)
    assert client.post("/carline/curb/cars/999999/loaded").status_code == 404


def test_curb_is_refused_to_the_wrong_principals(
    app, db, client, school, admin, make_school, make_user, make_room, login, curb_setup
):
    room = make_room(school)
    kiosk = pair(app, db, school, admin, "kiosk", room_id=room.id, purpose=None)
    tv = pair(app, db, school, admin, "display", room_id=None, purpose="dismissal")
    for device in (kiosk, tv):
        assert device.get("/carline/curb").status_code == 403
        assert device.post("/carline/curb/entries", data={"entry": "12"}).status_code == 403
        assert device.get("/carline/curb/list").status_code == 403
    anonymous = app.test_client()
    assert anonymous.get("/carline/curb").status_code == 302
    assert anonymous.post("/carline/curb/entries", data={"entry": "12"}).status_code == 401
    # staff of another school: the tag and the car are not theirs
    other = make_school()
    start_dismissal(other, SYSTEM, 1, 1, school_today(other))
    db.session.commit()
    login(make_user(other, "staff"))
    response = client.post("/carline/curb/entries", data={"entry": "12"}, headers=HX)
    assert response.status_code == 404
    mine = app.test_client()
    login(make_user(school, "staff"), on=mine)
    mine.post("/carline/curb/entries", data={"entry": "12"})
    entry = db.session.scalar(select(QueueEntry))
    assert client.post(f"/carline/curb/cars/{entry.id}/loaded").status_code == 404
    assert db.session.scalar(select(QueueEntry.status)) == "at_spot"


# The dismissal TV


def test_tv_lists_cars_newest_first_beside_buses_and_polls_204(
    app, db, school, admin, office_user, make_user, make_student, curb_setup
):
    rider = make_student(school, "Rider")
    set_weekday_defaults(school, SYSTEM, rider, [today(school)], "bus", "9")
    db.session.commit()
    tv = pair(app, db, school, admin, "display", room_id=None, purpose="dismissal")
    assert "/carline/tv" in text(tv.get("/device"))
    page = tv.get("/carline/tv")
    assert page.status_code == 200 and 'id="tv-calls"' in text(page)
    version = version_of(text(page))
    assert tv.get(f"/carline/tv/calls?v={version}").status_code == 204
    curb_entry(school, curb_setup["dismissal"], tag_number=13, actor=SYSTEM)
    db.session.commit()
    curb_entry(
        school, db.session.get(Dismissal, curb_setup["dismissal"].id), tag_number=12, actor=SYSTEM
    )
    call_bus(school, db.session.get(Dismissal, curb_setup["dismissal"].id), "9", actor=SYSTEM)
    db.session.commit()
    fresh = tv.get(f"/carline/tv/calls?v={version}")
    body = text(fresh)
    assert fresh.status_code == 200 and "<html" not in body
    cars, others = body.split('class="tv-others"')
    order = [cars.index(name) for name in ("Ben L.", "Ann L.", "Cat L.")]  # newest first
    assert order == sorted(order) and "Rider" not in body  # a bus is one group, by route
    assert "Bus 9" in others and "1 called" in others
    assert "Bus 9" in body and ">13<" in body and ">A1<" in body and ">12<" in body
    assert tv.get(f"/carline/tv/calls?v={version_of(body)}").status_code == 204
    assert app.test_client().get("/carline/tv").status_code == 302  # anonymous: sign in


def test_tv_is_refused_to_the_wrong_principals(app, db, client, login, school, admin, make_user):
    hallway = pair(app, db, school, admin, "display", room_id=None, purpose="hallway")
    scanner = pair(app, db, school, admin, "scanner", room_id=None, purpose=None)
    for device in (hallway, scanner):
        assert device.get("/carline/tv").status_code == 403
        assert device.get("/carline/tv/calls").status_code == 403
    for role in ("teacher", "staff"):
        login(make_user(school, role))
        assert client.get("/carline/tv").status_code == 403
        assert client.get("/carline/dismissal").status_code == 403
        assert client.post("/carline/dismissal/end").status_code == 403
    login(make_user(school, "office"))
    assert client.get("/carline/tv").status_code == 200


# The classroom view


@pytest.fixture
def classroom(db, school, make_user, make_room, make_student, make_family):
    teacher = make_user(school, "teacher")
    room, other_room = make_room(school, "114"), make_room(school, "115")
    section = SchoolClass(school_id=school.id, name="Homeroom 3A", room_id=room.id, period="HR")
    section.teachers.append(teacher)
    kids = [make_student(school, name) for name in ("Ann", "Ben")]
    elsewhere = make_student(school, "Zed")
    other = SchoolClass(school_id=school.id, name="Homeroom 3B", room_id=other_room.id)
    db.session.add_all([section, other])
    db.session.flush()
    db.session.add_all([Enrollment(class_id=section.id, student_id=k.id) for k in kids])
    db.session.add(Enrollment(class_id=other.id, student_id=elsewhere.id))
    db.session.commit()
    make_family(school, 21, kids[0], elsewhere)
    make_family(school, 22, kids[1])
    return {"teacher": teacher, "room": room, "other_room": other_room, "kids": kids}


def test_teacher_sees_the_rooms_calls_and_marks_sent(
    db, client, login, school, office_user, classroom
):
    dismissal = start(db, school, office_user)
    login(classroom["teacher"])
    page = text(client.get("/carline/classroom"))
    assert "Room 114" in page and 'id="classroom-calls"' in page and "data-chime-toggle" in page
    url = f"/carline/classroom/{classroom['room'].id}/calls"
    version = version_of(text(client.get(url + "?v=-1")))
    assert client.get(f"{url}?v={version}").status_code == 204
    curb_entry(school, dismissal, tag_number=21, actor=SYSTEM)
    db.session.commit()
    fresh = client.get(f"{url}?v={version}", headers=HX)
    body = text(fresh)
    assert fresh.status_code == 200 and "<html" not in body
    assert "Ann Last" in body and "Tag 21" in body and "Spot A1" in body
    assert "Zed Last" not in body  # dismissed from room 115
    call = db.session.scalar(
        select(CalledStudent).where(CalledStudent.student_id == classroom["kids"][0].id)
    )
    sent = client.post(
        f"/carline/calls/{call.id}/sent", data={"room_id": classroom["room"].id}, headers=HX
    )
    assert sent.status_code == 200 and "<html" not in text(sent) and "on the way" in text(sent)
    db.session.refresh(call)
    assert call.status == "sent" and call.sent_at is not None
    assert "carline.sent" in audit_actions(db)
    zed = db.session.scalar(select(CalledStudent).where(CalledStudent.id != call.id))
    refused = client.post(f"/carline/calls/{zed.id}/sent", data={"room_id": classroom["room"].id})
    assert refused.status_code == 403
    other = client.post(
        f"/carline/calls/{zed.id}/sent", data={"room_id": classroom["other_room"].id}
    )
    assert other.status_code == 403  # not a room this teacher teaches in
    assert client.get(f"/carline/classroom/{classroom['other_room'].id}/calls").status_code == 403
    assert client.get("/carline/classroom?room_id=999999").status_code == 404
    assert (
        client.post(
            "/carline/calls/999999/sent", data={"room_id": classroom["room"].id}
        ).status_code
        == 404
    )


def test_send_all_releases_a_called_bus_of_the_room_and_undoes_it(
    db, client, login, school, office_user, classroom
):
    for kid in classroom["kids"]:
        set_weekday_defaults(school, SYSTEM, kid, [today(school)], "bus", "7")
    db.session.commit()
    dismissal = start(db, school, office_user)
    call_bus(school, dismissal, "7", actor=SYSTEM)
    db.session.commit()
    login(classroom["teacher"])
    room_id = classroom["room"].id
    page = text(client.get(f"/carline/classroom?room_id={room_id}"))
    assert "Send all 2: Bus 7" in page
    sent = client.post(
        f"/carline/classroom/{room_id}/send-all", data={"mode": "bus", "route": "7"}, headers=HX
    )
    body = text(sent)
    assert sent.status_code == 200 and "Called now: 0" in body and "Bus 7: 2 sent." in body
    assert set(db.session.scalars(select(CalledStudent.status))) == {"released"}
    ids = re.findall(r'name="call_id" value="(\d+)"', body)
    other = classroom["other_room"].id
    assert (
        client.post(f"/carline/classroom/{other}/send-all/undo", data={"call_id": ids}).status_code
        == 403
    )
    undone = client.post(
        f"/carline/classroom/{room_id}/send-all/undo", data={"call_id": ids}, headers=HX
    )
    assert undone.status_code == 200 and "Called now: 2" in text(undone)
    db.session.expire_all()
    assert set(db.session.scalars(select(CalledStudent.status))) == {"called"}
    bad = client.post(f"/carline/classroom/{room_id}/send-all", data={"mode": "car"})
    assert bad.status_code == 400
    assert audit_actions(db)[-2:] == ["carline.sent_all", "carline.sent_undo"]


def test_classroom_display_sees_only_its_room(app, db, school, admin, office_user, classroom):
    dismissal = start(db, school, office_user)
    display = pair(
        app, db, school, admin, "classroom-display", room_id=classroom["room"].id, purpose=None
    )
    assert "/carline/classroom" in text(display.get("/device"))
    curb_entry(school, dismissal, tag_number=22, actor=SYSTEM)
    db.session.commit()
    page = text(display.get("/carline/classroom"))
    assert "Room 114" in page and "Ben Last" in page
    other = classroom["other_room"].id
    assert display.get(f"/carline/classroom?room_id={other}").status_code == 403
    assert display.get(f"/carline/classroom/{other}/calls").status_code == 403
    call = db.session.scalar(select(CalledStudent))
    sent = display.post(
        f"/carline/calls/{call.id}/sent", data={"room_id": classroom["room"].id}, headers=HX
    )
    assert sent.status_code == 200
    db.session.refresh(call)
    assert call.status == "sent"
    assert display.get("/carline/curb").status_code == 403
    assert display.get("/carline/tv").status_code == 403
    kiosk = pair(app, db, school, admin, "kiosk", room_id=classroom["room"].id, purpose=None)
    assert kiosk.get("/carline/classroom").status_code == 403
    assert kiosk.get(f"/carline/classroom/{classroom['room'].id}/calls").status_code == 403


def test_classroom_lists_todays_plan_changes(db, client, login, school, office_user, classroom):
    ann, ben = classroom["kids"]
    day = school_today(school)
    record_change(school, Actor(user=office_user), ann, day, mode="bus", bus_route="12")
    mark_absent(school, Actor(user=office_user), ben, day)
    db.session.commit()
    login(classroom["teacher"])
    url = f"/carline/classroom/{classroom['room'].id}/changes"
    body = text(client.get(url + "?v=-1", headers=HX))
    assert "<html" not in body and "Ann Last" in body and "Bus 12" in body
    assert "Ben Last" in body and "absent" in body
    assert client.get(f"{url}?v={version_of(body)}").status_code == 204


def test_other_schools_rooms_are_not_found(db, client, login, make_school, make_user, classroom):
    other = make_school()
    login(make_user(other, "office"))
    room_id = classroom["room"].id
    assert client.get(f"/carline/classroom?room_id={room_id}").status_code == 404
    assert client.get(f"/carline/classroom/{room_id}/calls").status_code == 404


# Concurrency through HTTP


def test_concurrent_curb_posts_keep_positions_and_spots_exact(
    app, db, school, office_user, make_user, make_family, make_student, login
):
    """6 phones post 8 tags each (half of them shared, every post retried once with its key)."""
    phones, per_phone, shared = 6, 8, 4
    tags = phones * (per_phone - shared) + shared
    for tag in range(1, tags + 1):
        make_family(school, tag, make_student(school))
    start(db, school, office_user, lanes=2, spots=3)
    clients = [login(make_user(school, "staff"), on=app.test_client()) for _ in range(phones)]

    def phone(index: int) -> list[int]:
        own = [shared + index * (per_phone - shared) + n + 1 for n in range(per_phone - shared)]
        statuses = []
        for n, tag in enumerate(own + list(range(1, shared + 1))):
            form = {"entry": str(tag), "key": f"phone{index}-{n}"}
            first = clients[index].post("/carline/curb/entries", data=form, headers=HX)
            retry = clients[index].post("/carline/curb/entries", data=form, headers=HX)
            assert text(first) == text(retry)
            statuses += [first.status_code, retry.status_code]
        return statuses

    with ThreadPoolExecutor(max_workers=phones) as pool:
        statuses = [s for result in pool.map(phone, range(phones)) for s in result]
    assert set(statuses) == {200}
    db.session.rollback()
    entries = db.session.scalars(select(QueueEntry).order_by(QueueEntry.position)).all()
    assert [e.position for e in entries] == list(range(1, tags + 1))
    assert len({e.family_id for e in entries}) == tags
    held = sorted(e.spot for e in entries if e.status == "at_spot")
    assert held == [1, 2, 3, 4, 5, 6]
    assert [e.status for e in entries[:6]] == ["at_spot"] * 6
    assert sum(e.repeat_count for e in entries) == (phones - 1) * shared
    assert db.session.scalar(select(func.count(CurbRequest.id))) == phones * per_phone
    actions = Counter(audit_actions(db))
    assert actions["carline.curb_entry"] == tags
    assert actions["carline.curb_repeat"] == (phones - 1) * shared
    assert db.session.scalar(select(func.count(CalledStudent.id))) == tags


def test_a_curb_entry_keeps_to_its_statement_budget(app, db, school, admin, curb_setup):
    """Every statement is a round trip to PostgreSQL, and under a district's load each one
    waits its turn for a core (bench/district.py): the curb's write keeps to a budget.

    The device (1), today's dismissal locked (1), the tag (1), the car's entry and the
    retried request (1), its position (1), the entry and the request (2), the riders with
    their plans and calls (1), the calls (1), a free spot (3), audit and live version (2),
    and the guardians who may pick up, for the answer (1).
    """
    if db.engine.dialect.name != "postgresql":
        pytest.skip("a round trip is PostgreSQL's cost; SQLite runs in the process")
    scanner = pair(app, db, school, admin, "scanner", room_id=None, purpose=None)
    with StatementCounter(db.engine) as counter:
        response = scanner.post(
            "/carline/curb/entries", data={"entry": "12", "key": "k-1"}, headers=HX
        )
    assert response.status_code == 200 and "Ben Last" in text(response)
    assert len(statements(counter)) <= 15, counter.statements


def test_full_names_find_students_on_every_car_line_search(
    db, client, login, school, office_user, make_family, make_student
):
    """The plans, today and family searches use the one student search of the core."""
    bianca = make_student(school, "Bianca", "Singh")
    others = make_family(
        school, 46, make_student(school, "Bianca", "Jones"), make_student(school, "Ravi", "Singh")
    )
    family = make_family(school, 44, bianca)
    empty = make_family(school, 45)
    db.session.commit()
    login(office_user)
    searches = ("/carline/plans", "/carline/today", f"/carline/families/{empty.id}/find-students")
    for text in ("Bianca Singh", "Singh, Bianca", "singh bia"):
        for url in searches:
            page = client.post(url, data={"q": text}).get_data(as_text=True)
            found = (
                f'/carline/plans/students/{bianca.id}"' in page or f'value="{bianca.id}"' in page
            )
            assert found, (url, text)
            assert "Jones" not in page and "Ravi" not in page, (url, text)
        page = client.post("/carline/families", data={"q": text}).get_data(as_text=True)
        assert f'/carline/families/{family.id}"' in page, text
        assert f'/carline/families/{others.id}"' not in page, text

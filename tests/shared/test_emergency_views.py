"""Emergency screens through the client: start, banner, roll from a phone, command view, end."""

import re

import pytest
from sqlalchemy import select

from hallpass.models import Destination, HallPass
from hallpass.passes import start_pass
from shared.audit import Actor
from shared.emergency_models import EmergencyEvent, RollMark
from shared.models import Enrollment, SchoolClass, Student
from tests.helpers import audit_actions


@pytest.fixture
def group(db, school, make_user):
    teacher = make_user(school, "teacher", name="Ms Ray")
    math = SchoolClass(school_id=school.id, name="Math 7")
    math.teachers.append(teacher)
    art = SchoolClass(school_id=school.id, name="Art 7")
    kids = [
        Student(school_id=school.id, student_number=f"7{n}", first_name=f"Kid{n}", last_name="Q")
        for n in range(4)
    ]
    restroom = Destination(school_id=school.id, name="Restroom", time_limit_minutes=10)
    db.session.add_all([math, art, *kids, restroom])
    db.session.flush()
    db.session.add_all([Enrollment(class_id=math.id, student_id=k.id) for k in kids[:3]])
    db.session.add(Enrollment(class_id=art.id, student_id=kids[3].id))
    db.session.commit()
    return {"teacher": teacher, "math": math, "art": art, "kids": kids, "restroom": restroom}


def test_a_drill_from_start_to_end(db, client, app, login, school, make_user, group):
    kids = group["kids"]
    start_pass(
        school,
        Actor(user=group["teacher"]),
        student_id=kids[1].id,
        destination_id=group["restroom"].id,
        from_room_id=None,
        source="teacher",
    )
    db.session.commit()
    office = login(make_user(school, "office"))
    started = office.post(
        "/emergency/start", data={"kind": "evacuation", "drill": "1", "location": "Park"}
    )
    assert started.status_code == 302 and started.headers["Location"].endswith("/emergency/command")
    assert db.session.scalar(select(HallPass.status)) == "ended"

    # The teacher's phone: the banner on any screen, the class list with the pass flagged.
    teacher = login(group["teacher"], on=app.test_client())
    hall = teacher.get("/hallpass/").get_data(as_text=True)
    assert "emergency-banner-drill" in hall and "DRILL · Evacuation" in hall and "Park" in hall
    page = teacher.get("/emergency/roll").get_data(as_text=True)
    assert "Roll · Math 7" in page and "was out on a pass" in page
    assert 'id="roll-list" data-live' in page
    for kid in kids[:3]:
        assert kid.display_name in page

    board = office.get("/emergency/command").get_data(as_text=True)
    version = int(re.search(r"command/board\?v=(\d+)", board).group(1))
    assert office.get(f"/emergency/command/board?v={version}").status_code == 204

    mark = {"student_id": kids[0].id, "status": "missing", "class_id": group["math"].id}
    answer = teacher.post("/emergency/roll/mark", data={**mark, "key": "k-1"})
    assert answer.status_code == 200 and answer.json["status"] == "missing"
    again = teacher.post("/emergency/roll/mark", data={**mark, "key": "k-1"})
    assert again.status_code == 200 and again.json["changed"] is False
    assert audit_actions(db).count("emergency.roll_mark") == 1
    fresh = office.get(f"/emergency/command/board?v={version}")
    html = fresh.get_data(as_text=True)
    assert fresh.status_code == 200 and "<html" not in html
    assert html.index("Kid0 Q") < html.index("Drill: Evacuation")  # missing names come first

    # A student of another class joins the group through the search.
    found = teacher.get(f"/emergency/roll/find?class_id={group['math'].id}&q=kid3")
    assert "Add to Math 7" in found.get_data(as_text=True)

    bad = teacher.post("/emergency/roll/mark", data={**mark, "status": "gone", "key": "k-2"})
    assert bad.status_code == 400 and "present, missing" in bad.get_data(as_text=True)
    no_key = teacher.post("/emergency/roll/mark", data=mark)
    assert no_key.status_code == 400
    stale = teacher.post("/emergency/roll/mark", data={**mark, "key": "k-3", "event": "999"})
    assert stale.status_code == 409
    assert teacher.post("/emergency/start", data={"kind": "shelter"}).status_code == 403
    twice = office.post("/emergency/start", data={"kind": "shelter", "drill": "1"})
    assert twice.status_code == 409 and "already running" in twice.get_data(as_text=True)

    ended = office.post("/emergency/end")
    assert ended.status_code == 302
    event = db.session.scalar(select(EmergencyEvent))
    report = office.get(ended.headers["Location"]).get_data(as_text=True)
    assert "This was a drill." in report and "Kid0 Q</strong> (missing)" in report
    assert event.summary["missing"] == 1 and event.summary["students"] == 4
    assert "emergency-banner" not in teacher.get("/hallpass/").get_data(as_text=True)
    closed = teacher.post("/emergency/roll/mark", data={**mark, "key": "k-4"})
    assert closed.status_code == 409
    assert db.session.scalar(select(RollMark.status)) == "missing"
    assert office.post("/emergency/end").status_code == 409


def test_bad_start_input_is_a_clear_400(client, login, school, make_user):
    office = login(make_user(school, "office"))
    answer = office.post("/emergency/start", data={"kind": "picnic"})
    assert answer.status_code == 400 and "Choose what kind" in answer.get_data(as_text=True)
    assert office.get("/emergency/roll").status_code == 200
    assert "No emergency event is running" in office.get("/emergency/command").get_data(
        as_text=True
    )


def test_the_emergency_screens_speak_the_staff_members_language(
    db, app, client, login, school, make_user, group
):
    office_user = make_user(school, "office")
    office_user.language = "es"
    group["teacher"].language = "es"
    db.session.commit()
    office = login(office_user)
    page = office.get("/emergency/").get_data(as_text=True)
    assert '<html lang="es">' in page and "Iniciar un evento o un simulacro" in page
    assert "Evacuación inversa" in page and "Simulacro (práctica)" in page
    office.post("/emergency/start", data={"kind": "evacuation", "drill": "1"})
    started = office.get("/emergency/command").get_data(as_text=True)
    assert "Simulacro: Evacuación iniciado." in started and "Desaparecidos: 0" in started
    assert re.search(r"desde las \d{1,2}:\d\d [ap]\. ?m\.", started)  # a 12-hour time

    teacher = login(group["teacher"], on=app.test_client())
    roll = teacher.get("/emergency/roll").get_data(as_text=True)
    assert "Lista · Math 7" in roll and "Sin marcar" in roll and "Presente" in roll
    assert "<strong>3</strong> estudiantes" in roll
    messages = re.search(r"data-messages='([^']*)'", roll).group(1)
    assert "Sin conexi\\u00f3n. {count} marcas se guardan" in messages  # roll.js's banner
    refused = teacher.post(
        "/emergency/roll/mark",
        data={"student_id": group["kids"][0].id, "status": "gone", "key": "k-1"},
    )
    assert refused.status_code == 400
    assert "Marque al estudiante como presente" in refused.get_data(as_text=True)
    twice = office.post("/emergency/start", data={"kind": "shelter", "drill": "1"})
    assert twice.status_code == 409 and "ya está en curso desde las" in twice.get_data(as_text=True)
    office.post("/emergency/end")
    assert "Simulacro: Evacuación terminó." in office.get(
        f"/emergency/events/{db.session.scalar(select(EmergencyEvent.id))}"
    ).get_data(as_text=True)


def test_the_roll_counts_one_student_and_many(db, app, login, school, make_user, group):
    office = login(make_user(school, "office"))
    office.post("/emergency/start", data={"kind": "evacuation", "drill": "1"})
    teacher = login(group["teacher"], on=app.test_client())
    assert "<strong>3</strong> students" in teacher.get("/emergency/roll").get_data(as_text=True)
    art = teacher.get(f"/emergency/roll?class_id={group['art'].id}").get_data(as_text=True)
    assert "<strong>1</strong> student ·" in art

"""The teacher's tablet: two taps to a pass, the room's live list, ending a pass."""

import html
import json
import re
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from hallpass.destinations import create_default_destinations
from hallpass.models import Destination, HallPass
from shared.models import BellPeriod, Enrollment, Room, SchoolClass, Student
from shared.timeutil import utcnow
from tests.helpers import StatementCounter, statements


@pytest.fixture
def classroom(db, school, make_user):
    teacher = make_user(school, "teacher")
    room = Room(school_id=school.id, name="114")
    db.session.add_all(
        [
            room,
            Room(school_id=school.id, name="Restroom A", kind="restroom"),
            Room(school_id=school.id, name="Nurse", kind="nurse"),
        ]
    )
    db.session.flush()
    section = SchoolClass(school_id=school.id, name="Science 7", room_id=room.id, period="2")
    section.teachers.append(teacher)
    students = [
        Student(school_id=school.id, student_number=f"7{n}", first_name=f"Kid{n}", last_name="Test")
        for n in range(3)
    ]
    db.session.add_all([section, *students])
    db.session.flush()
    db.session.add_all([Enrollment(class_id=section.id, student_id=s.id) for s in students])
    create_default_destinations(school)
    db.session.commit()
    return {"teacher": teacher, "room": room, "section": section, "students": students}


def test_default_destinations_come_from_the_schools_rooms(db, school, classroom):
    destinations = {d.name: d for d in db.session.scalars(select(Destination))}
    assert set(destinations) == {"Restroom A", "Nurse"}
    assert destinations["Nurse"].is_nurse and destinations["Restroom A"].capacity == 2
    assert create_default_destinations(school) == []  # nothing made twice


def test_teacher_issues_and_ends_a_pass_in_two_taps(db, client, login, classroom):
    login(classroom["teacher"])
    page = client.get(f"/hallpass/?class_id={classroom['section'].id}").get_data(as_text=True)
    assert "Kid0 Test" in page and "Restroom A" in page and 'id="room-passes"' in page
    restroom = db.session.scalar(select(Destination).where(Destination.name == "Restroom A"))
    student = classroom["students"][0]
    # tap 1 chooses the student (a radio in the form), tap 2 the destination (submit)
    response = client.post(
        "/hallpass/passes",
        data={
            "room_id": classroom["room"].id,
            "student_id": student.id,
            "destination_id": restroom.id,
        },
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    fragment = response.get_data(as_text=True)
    assert "<html" not in fragment and "Kid0 Test" in fragment and "data-started" in fragment
    hall_pass = db.session.scalar(select(HallPass))
    assert hall_pass.status == "active" and hall_pass.issued_by_id == classroom["teacher"].id
    ended = client.post(f"/hallpass/passes/{hall_pass.id}/end", headers={"HX-Request": "true"})
    assert ended.status_code == 200 and "Everyone is in class" in ended.get_data(as_text=True)
    db.session.refresh(hall_pass)
    assert hall_pass.status == "ended"


def test_room_list_polls_204_until_something_changes(db, client, login, classroom):
    login(classroom["teacher"])
    url = f"/hallpass/rooms/{classroom['room'].id}/passes"
    first = client.get(url + "?v=-1").get_data(as_text=True)
    version = int(re.search(r"v=(\d+)", first).group(1))
    assert client.get(f"{url}?v={version}").status_code == 204
    restroom = db.session.scalar(select(Destination).where(Destination.name == "Restroom A"))
    client.post(
        "/hallpass/passes",
        data={
            "room_id": classroom["room"].id,
            "student_id": classroom["students"][1].id,
            "destination_id": restroom.id,
        },
    )
    changed = client.get(f"{url}?v={version}")
    assert changed.status_code == 200 and "Kid1 Test" in changed.get_data(as_text=True)


def test_blocked_pass_explains_why_and_offers_an_override(db, client, login, classroom):
    login(classroom["teacher"])
    restroom = db.session.scalar(select(Destination).where(Destination.name == "Restroom A"))
    restroom.capacity = 1
    db.session.commit()
    form = {"room_id": classroom["room"].id, "destination_id": restroom.id}
    client.post("/hallpass/passes", data={**form, "student_id": classroom["students"][0].id})
    refused = client.post(
        "/hallpass/passes", data={**form, "student_id": classroom["students"][1].id}
    )
    assert refused.status_code == 409
    assert "full right now" in refused.get_data(as_text=True)
    assert "override_reason" not in refused.get_data(as_text=True)  # capacity: no override


@pytest.mark.parametrize(
    "form",
    [
        {},
        {"room_id": "x"},
        {"student_id": "999999", "destination_id": "999999"},
        {"room_id": "ROOM", "student_id": "-1", "destination_id": "abc"},
    ],
)
def test_malformed_pass_requests_are_4xx(client, login, classroom, form):
    login(classroom["teacher"])
    data = {"room_id": classroom["room"].id, **form} if "room_id" not in form else form
    response = client.post("/hallpass/passes", data=data)
    assert 400 <= response.status_code < 500


def test_teacher_cannot_issue_or_watch_for_a_room_they_do_not_teach(
    db, client, login, school, make_user, classroom
):
    other = make_user(school, "teacher")
    login(other)
    assert client.get(f"/hallpass/rooms/{classroom['room'].id}/passes").status_code == 403
    restroom = db.session.scalar(select(Destination).where(Destination.name == "Restroom A"))
    response = client.post(
        "/hallpass/passes",
        data={
            "room_id": classroom["room"].id,
            "student_id": classroom["students"][0].id,
            "destination_id": restroom.id,
        },
    )
    assert response.status_code == 403
    assert db.session.scalar(select(HallPass)) is None


def test_class_in_session_is_shown_by_default(db, client, login, school, classroom):
    today = datetime.now(UTC).astimezone(ZoneInfo(school.timezone)).weekday()
    db.session.add(
        BellPeriod(
            school_id=school.id,
            name="2",
            weekday=today,
            start_time=time(0, 0),
            end_time=time(23, 59, 59),
        )
    )
    db.session.commit()
    login(classroom["teacher"])
    page = client.get("/hallpass/").get_data(as_text=True)
    assert "Science 7" in page and "Kid2 Test" in page


def pair(app, db, school, admin, kind, **fields):
    """A paired device's test client (through a real pairing code)."""
    from shared import pairing
    from shared.access import Principal

    principal = Principal(school=school, user=admin, roles=frozenset({"admin"}))
    _, code = pairing.create_pairing_code(principal, kind=kind, label=f"{kind} test", **fields)
    db.session.commit()
    device_client = app.test_client()
    assert device_client.post("/pair", data={"code": code}).status_code == 302
    return device_client


def test_hallway_overview_lists_everyone_out_overdue_first(
    app, db, client, login, school, make_user, classroom
):
    from datetime import timedelta

    from hallpass.passes import start_pass
    from shared.audit import Actor
    from shared.timeutil import utcnow

    restroom = db.session.scalar(select(Destination).where(Destination.name == "Restroom A"))
    nurse = db.session.scalar(select(Destination).where(Destination.name == "Nurse"))
    kid0, kid1 = classroom["students"][:2]
    actor = Actor(user=classroom["teacher"])
    start_pass(
        school,
        actor,
        student_id=kid0.id,
        destination_id=nurse.id,
        from_room_id=classroom["room"].id,
        source="teacher",
    )
    start_pass(
        school,
        actor,
        student_id=kid1.id,
        destination_id=restroom.id,
        from_room_id=classroom["room"].id,
        source="teacher",
        now=utcnow() - timedelta(minutes=30),
    )
    db.session.commit()
    login(make_user(school, "office"))
    page = client.get("/hallpass/hallway").get_data(as_text=True)
    assert page.index("Kid1 Test") < page.index("Kid0 Test")  # overdue first
    assert "overdue-row" in page and "Out now: 2" in page
    assert page.count("⚠ overdue") == 1  # said in words, not only by the row's colour
    only_overdue = client.get("/hallpass/hallway/list?overdue=1").get_data(as_text=True)
    assert "Kid1 Test" in only_overdue and "Kid0 Test" not in only_overdue
    nurse_only = client.get(f"/hallpass/hallway/list?destination={nurse.id}").get_data(as_text=True)
    assert "Kid0 Test" in nurse_only and "Kid1 Test" not in nurse_only
    version = int(re.search(r"hallway/list\?v=(\d+)", page).group(1))
    assert client.get(f"/hallpass/hallway/list?v={version}").status_code == 204


def test_the_hallway_list_costs_the_same_statements_for_2_or_12_students_out(
    db, client, login, school, make_user, classroom
):
    """The hallway screens poll the list: no lazy load per student, room or destination."""
    from hallpass.passes import start_pass
    from shared.audit import Actor

    places = [Destination(school_id=school.id, name=f"Place {n}") for n in range(4)]
    students = [
        Student(school_id=school.id, student_number=f"9{n}", first_name=f"Out{n}", last_name="T")
        for n in range(12)
    ]
    db.session.add_all([*places, *students])
    db.session.commit()
    actor = Actor(user=classroom["teacher"])
    login(make_user(school, "office"))

    def statements_with_out(group) -> int:
        for n, student in enumerate(group):
            start_pass(
                school,
                actor,
                student_id=student.id,
                destination_id=places[n % len(places)].id,
                from_room_id=classroom["room"].id,
                source="teacher",
            )
        db.session.commit()
        with StatementCounter(db.engine) as counter:
            page = client.get("/hallpass/hallway/list").get_data(as_text=True)
        assert all(student.display_name in page for student in group)
        return len(statements(counter))

    assert statements_with_out(students[:2]) == statements_with_out(students[2:])


def test_hall_staff_end_a_pass_from_the_hallway_list(
    app, db, client, login, school, make_user, classroom
):
    """The student came back without ending their pass: the hall monitor who sees them ends
    it from the hallway list on their phone; the pass ends as theirs, in the audit log, and
    the hallway screen (a display) shows no End button."""
    from hallpass.passes import start_pass
    from shared.audit import Actor
    from shared.models import AuditEvent

    restroom = db.session.scalar(select(Destination).where(Destination.name == "Restroom A"))
    kid0, kid1 = classroom["students"][:2]
    passes = [
        start_pass(
            school,
            Actor(user=classroom["teacher"]),
            student_id=kid.id,
            destination_id=restroom.id,
            from_room_id=classroom["room"].id,
            source="teacher",
        )
        for kid in (kid0, kid1)
    ]
    db.session.commit()
    monitor = make_user(school, "staff")
    login(monitor)
    page = client.get("/hallpass/hallway").get_data(as_text=True)
    end_url = f"/hallpass/hallway/passes/{passes[0].id}/end"
    assert f'hx-post="{end_url}"' in page
    assert "End Kid0 Test\u2019s pass? Only when they are back in class." in html.unescape(page)

    answer = client.post(end_url, headers={"HX-Request": "true"})
    assert answer.status_code == 200
    region = answer.get_data(as_text=True)
    assert "Kid0 Test" not in region and "Kid1 Test" in region and "Out now: 1" in region
    db.session.expire_all()
    ended = db.session.get(HallPass, passes[0].id)
    assert (ended.status, ended.ended_by) == ("ended", "staff")
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "hallpass.end").order_by(AuditEvent.id.desc())
    ).first()
    assert (event.actor_user_id, event.target_id) == (monitor.id, passes[0].id)

    # Someone else ended it first: a clear refusal, nothing changes.
    again = client.post(end_url, headers={"HX-Request": "true"})
    assert again.status_code == 409
    assert "already ended" in again.get_data(as_text=True)

    # A screen shows the hallway and ends nothing.
    hallway_tv = pair(
        app, db, school, make_user(school, "admin"), "display", room_id=None, purpose="hallway"
    )
    screen = hallway_tv.get("/hallpass/hallway").get_data(as_text=True)
    assert "Kid1 Test" in screen and "/end" not in screen
    assert hallway_tv.post(f"/hallpass/hallway/passes/{passes[1].id}/end").status_code == 403
    db.session.expire_all()
    assert db.session.get(HallPass, passes[1].id).status == "active"


def test_hallway_access(app, db, client, login, school, make_user, classroom):
    admin = make_user(school, "admin")
    login(classroom["teacher"])
    assert client.get("/hallpass/hallway").status_code == 403
    hallway_tv = pair(app, db, school, admin, "display", room_id=None, purpose="hallway")
    assert hallway_tv.get("/hallpass/hallway").status_code == 200
    assert b"Open the hallway screen" in hallway_tv.get("/device").data
    dismissal_tv = pair(app, db, school, admin, "display", room_id=None, purpose="dismissal")
    assert dismissal_tv.get("/hallpass/hallway").status_code == 403
    kiosk = pair(app, db, school, admin, "kiosk", room_id=classroom["room"].id, purpose=None)
    assert kiosk.get("/hallpass/hallway").status_code == 403
    assert kiosk.get("/hallpass/").status_code == 403


def test_emergency_sweep_stops_passes_and_accounts_for_everyone(
    db, client, login, school, make_user, classroom
):
    from hallpass.passes import start_pass
    from shared.audit import Actor
    from tests.helpers import audit_actions

    restroom = db.session.scalar(select(Destination).where(Destination.name == "Restroom A"))
    kid0, kid1, kid2 = classroom["students"]
    out = start_pass(
        school,
        Actor(user=classroom["teacher"]),
        student_id=kid0.id,
        destination_id=restroom.id,
        from_room_id=classroom["room"].id,
        source="teacher",
    )
    db.session.commit()
    login(make_user(school, "office"))
    assert client.post("/hallpass/sweep", data={"action": "start"}).status_code == 302
    page = client.get("/hallpass/sweep").get_data(as_text=True)
    assert "Sweep in progress" in page and "Kid0 Test" in page and "Restroom A" in page
    assert '<section id="sweep-list" data-live' in page  # the live list, not its escaped text
    teacher = login(classroom["teacher"], on=client.application.test_client())
    refused = teacher.post(
        "/hallpass/passes",
        data={
            "room_id": classroom["room"].id,
            "student_id": kid1.id,
            "destination_id": restroom.id,
        },
    )
    assert refused.status_code == 409 and "sweep" in refused.get_data(as_text=True)
    assert client.post("/hallpass/sweep", data={"action": "start"}).status_code == 409
    version = int(re.search(r"sweep/list\?v=(\d+)", page).group(1))
    assert client.get(f"/hallpass/sweep/list?v={version}").status_code == 204
    # Another office computer marks the student found: this list updates without a reload.
    other = login(make_user(school, "office"), on=client.application.test_client())
    other.post("/hallpass/sweep", data={"action": "account", "pass_id": out.id})
    fresh = client.get(f"/hallpass/sweep/list?v={version}")
    assert fresh.status_code == 200 and "<html" not in fresh.get_data(as_text=True)
    assert "Every student is accounted for" in fresh.get_data(as_text=True)
    db.session.refresh(out)
    assert out.status == "ended" and out.ended_by == "sweep" and out.accounted_at is not None
    assert "Every student is accounted for" in client.get("/hallpass/sweep").get_data(as_text=True)
    client.post("/hallpass/sweep", data={"action": "end"})
    allowed = teacher.post(
        "/hallpass/passes",
        data={
            "room_id": classroom["room"].id,
            "student_id": kid2.id,
            "destination_id": restroom.id,
        },
    )
    assert allowed.status_code == 200
    actions = audit_actions(db)
    assert {"hallpass.sweep_start", "hallpass.accounted_for", "hallpass.sweep_end"} <= set(actions)
    assert client.post("/hallpass/sweep", data={"action": "end"}).status_code == 409
    assert client.post("/hallpass/sweep", data={"action": "boom"}).status_code == 400
    assert client.post("/hallpass/sweep", data={"action": "account"}).status_code == 400


def test_only_office_and_admin_run_a_sweep(client, login, school, make_user, classroom):
    login(classroom["teacher"])
    assert client.get("/hallpass/sweep").status_code == 403
    assert client.post("/hallpass/sweep", data={"action": "start"}).status_code == 403


def test_starting_and_ending_a_pass_keep_to_their_statement_budget(db, client, login, classroom):
    """Every statement is a round trip to PostgreSQL, and under a district's load each one
    waits its turn for a core (bench/district.py): the tablet's two writes keep to a budget.

    Starting: who is asking (2), the room and the teacher check (1), the student with an
    active pass, an open request and their own limit (1), the destination with the school's
    policy and whether a wait line is waiting (1; with no no-pass window set, the bell
    schedule is not read), the claims (4), audit and both live versions in one upsert (2),
    and the answer (1: the room's version comes back with the upsert).
    """
    if db.engine.dialect.name != "postgresql":
        pytest.skip("a round trip is PostgreSQL's cost; SQLite runs in the process")
    login(classroom["teacher"])
    restroom = db.session.scalar(select(Destination).where(Destination.name == "Restroom A"))
    headers = {"HX-Request": "true"}

    room_id, restroom_id = classroom["room"].id, restroom.id
    first, second = ((s.id, s.first_name) for s in classroom["students"][:2])

    def start(student_id):
        form = {"room_id": room_id, "student_id": student_id, "destination_id": restroom_id}
        return client.post("/hallpass/passes", data=form, headers=headers)

    start(first[0])  # the school's pass policy is made on first use
    pass_id = db.session.scalar(select(HallPass.id).where(HallPass.student_id == first[0]))
    client.post(f"/hallpass/passes/{pass_id}/end", headers=headers)
    with StatementCounter(db.engine) as started:
        response = start(second[0])
    assert response.status_code == 200 and second[1] in response.get_data(as_text=True)
    pass_id = db.session.scalar(select(HallPass.id).where(HallPass.student_id == second[0]))
    with StatementCounter(db.engine) as ended:
        response = client.post(f"/hallpass/passes/{pass_id}/end", headers=headers)
    assert response.status_code == 200
    assert len(statements(started)) <= 12, started.statements
    assert len(statements(ended)) <= 14, ended.statements


def test_the_tablet_marks_a_nurse_pass_urgent_and_no_rule_but_a_sweep_stops_it(
    db, client, login, classroom, school
):
    """The settings promise it; the tablet's urgent control (one tap) keeps the promise."""
    from hallpass.policy import policy_for

    login(classroom["teacher"])
    page = client.get(f"/hallpass/?class_id={classroom['section'].id}").get_data(as_text=True)
    control = re.search(r'<input type="checkbox" name="(\w+)" value="(\w+)"> Urgent nurse', page)
    assert control, "the tablet has no urgent control"
    nurse = db.session.scalar(select(Destination).where(Destination.name == "Nurse"))
    restroom = db.session.scalar(select(Destination).where(Destination.name == "Restroom A"))
    policy = policy_for(school)
    policy.building_cap, policy.no_pass_periods = 1, ["2"]
    db.session.add_all(
        BellPeriod(
            school_id=school.id,
            name="2",
            weekday=day,
            start_time=time(0, 0),
            end_time=time(23, 59, 59),
        )
        for day in range(7)
    )
    db.session.commit()
    kid0, kid1, kid2 = classroom["students"]
    form = {"room_id": classroom["room"].id, "destination_id": nurse.id}
    # Kid0 is out already (over the cap), and period 2 is a no-pass period all day here.
    db.session.add(
        HallPass(
            school_id=school.id,
            student_id=kid0.id,
            destination_id=restroom.id,
            status="active",
            started_at=utcnow(),
            time_limit_minutes=5,
            source="teacher",
        )
    )
    policy.out_now = 1
    db.session.commit()
    plain = client.post("/hallpass/passes", data={**form, "student_id": kid1.id})
    assert plain.status_code == 409
    urgent = client.post(
        "/hallpass/passes", data={**form, "student_id": kid1.id, control[1]: control[2]}
    )
    assert urgent.status_code == 200
    started = db.session.scalar(select(HallPass).where(HallPass.student_id == kid1.id))
    assert started.urgent and started.status == "active"
    policy.sweep_started_at = utcnow()
    db.session.commit()
    swept = client.post(
        "/hallpass/passes", data={**form, "student_id": kid2.id, control[1]: control[2]}
    )
    assert swept.status_code == 409 and "sweep" in swept.get_data(as_text=True)
    page = client.get(f"/hallpass/?class_id={classroom['section'].id}").get_data(as_text=True)
    assert "Emergency sweep in progress" in page


def test_a_building_cap_refusal_offers_the_override_inside_the_pass_form(
    db, client, login, classroom, school
):
    from hallpass.policy import policy_for

    policy_for(school).building_cap = 1
    db.session.commit()
    login(classroom["teacher"])
    restroom = db.session.scalar(select(Destination).where(Destination.name == "Restroom A"))
    form = {"room_id": classroom["room"].id, "destination_id": restroom.id}
    client.post("/hallpass/passes", data={**form, "student_id": classroom["students"][0].id})
    refused = client.post(
        "/hallpass/passes", data={**form, "student_id": classroom["students"][1].id}
    )
    body = refused.get_data(as_text=True)
    assert refused.status_code == 409 and "building is at its limit" in body
    # Shown inside the tablet's pass form: no form of its own, its button submits that one.
    assert "<form" not in body and 'name="override_reason"' in body
    over = client.post(
        "/hallpass/passes",
        data={**form, "student_id": classroom["students"][1].id, "override_reason": "nurse sent"},
    )
    assert over.status_code == 200


def test_a_classroom_limit_refusal_on_the_tablet_offers_the_override(
    db, client, login, classroom, school
):
    from hallpass.policy import policy_for

    policy_for(school).room_cap = 1
    db.session.commit()
    login(classroom["teacher"])
    restroom = db.session.scalar(select(Destination).where(Destination.name == "Restroom A"))
    form = {"room_id": classroom["room"].id, "destination_id": restroom.id}
    client.post("/hallpass/passes", data={**form, "student_id": classroom["students"][0].id})
    refused = client.post(
        "/hallpass/passes", data={**form, "student_id": classroom["students"][1].id}
    )
    body = refused.get_data(as_text=True)
    assert refused.status_code == 409
    assert "1 student is already out of this classroom, its limit." in body
    assert 'name="override_reason"' in body
    over = client.post(
        "/hallpass/passes",
        data={**form, "student_id": classroom["students"][1].id, "override_reason": "test make-up"},
    )
    assert over.status_code == 200


def test_the_hallway_and_the_sweep_speak_the_staff_members_language(
    db, client, login, school, make_user, classroom
):
    from hallpass.passes import start_pass
    from shared.audit import Actor

    restroom = db.session.scalar(select(Destination).where(Destination.name == "Restroom A"))
    start_pass(
        school,
        Actor(user=classroom["teacher"]),
        student_id=classroom["students"][0].id,
        destination_id=restroom.id,
        from_room_id=classroom["room"].id,
        source="teacher",
    )
    db.session.commit()
    office = make_user(school, "office")
    login(office)
    page = client.get("/hallpass/hallway").get_data(as_text=True)
    assert re.search(r'data-limit-minutes="\d+">\d{1,2}:\d\d [AP]M<', page), "a 12-hour time"
    client.post("/hallpass/sweep", data={"action": "start"})
    swept = client.get("/hallpass/sweep").get_data(as_text=True)
    assert "Sweep started: no new passes. 1 student is out." in swept
    client.post("/hallpass/sweep", data={"action": "end"})

    office.language = "es"
    db.session.commit()
    page = client.get("/hallpass/hallway").get_data(as_text=True)
    assert "Fuera ahora: 1" in page and "Tiempo fuera" in page
    assert re.search(r'data-limit-minutes="\d+">\d{1,2}:\d\d [ap]\. ?m\.<', page)
    messages = json.loads(html.unescape(re.search(r"data-messages='([^']*)'", page).group(1)))
    assert messages["timer.overdue"] == "⚠ con retraso"  # the timer script's word
    client.post("/hallpass/sweep", data={"action": "start"})
    swept = client.get("/hallpass/sweep").get_data(as_text=True)
    assert "Barrido iniciado: no hay pases nuevos. 1 estudiante está fuera." in swept
    refused = client.post("/hallpass/sweep", data={"action": "start"})
    assert refused.status_code == 409
    assert "Ya hay un barrido en curso." in refused.get_data(as_text=True)

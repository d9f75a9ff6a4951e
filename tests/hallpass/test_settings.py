"""Hall pass settings: destinations, pass rules, student limits and keep-apart groups."""

import re
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from hallpass import destinations, passes, student_rules
from hallpass.models import (
    Destination,
    HallPass,
    HallpassPolicy,
    KeepApartGroup,
    PassRequest,
    StudentPassLimit,
)
from hallpass.policy import policy_for, update_policy
from hallpass.rules import RuleBlocked
from hallpass.settings_forms import destination_values, policy_values
from shared.audit import Actor
from shared.errors import InvalidInput, NotFound
from shared.models import AuditEvent, BellPeriod, Room, Student
from shared.schedule import period_names, school_today
from tests.helpers import audit_actions

NOW = datetime(2026, 11, 24, 16, 0, tzinfo=UTC)  # a Tuesday, 10:00 in Chicago


@pytest.fixture
def setup(db, school, make_user):
    """A school with a classroom, a restroom, two destinations, students and staff."""
    room = Room(school_id=school.id, name="114")
    restroom = Room(school_id=school.id, name="Restroom A", kind="restroom")
    db.session.add_all([room, restroom])
    db.session.flush()
    restroom_dest = Destination(
        school_id=school.id, name="Restroom A", room_id=restroom.id, capacity=2
    )
    library = Destination(school_id=school.id, name="Library", time_limit_minutes=20)
    students = [
        Student(school_id=school.id, student_number=f"5{n:03d}", first_name=f"Ana{n}",
                last_name="Lopez", grade="7")
        for n in range(4)
    ]  # fmt: skip
    db.session.add_all([restroom_dest, library, *students])
    for name, start, end in (("1", time(8), time(8, 50)), ("2", time(9), time(9, 50))):
        db.session.add(
            BellPeriod(school_id=school.id, name=name, weekday=1, start_time=start, end_time=end)
        )
    db.session.commit()
    return {
        "school": school,
        "room": room,
        "restroom_room": restroom,
        "restroom": restroom_dest,
        "library": library,
        "students": students,
        "admin": make_user(school, "admin"),
        "office": make_user(school, "office"),
        "teacher": make_user(school, "teacher"),
        "staff": make_user(school, "staff"),
    }


def destination_form(**fields) -> dict:
    form = {
        "name": "Nurse",
        "room_id": "",
        "time_limit_minutes": "15",
        "capacity": "",
        "approval": "self",
        "counts_toward_limit": "",
        "is_nurse": "1",
        "active": "1",
    }
    form.update(fields)
    return form


def count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


# ------------------------------------------------------------------------- access

PAGES = [
    "/hallpass/settings",
    "/hallpass/settings/rules",
    "/hallpass/settings/limits",
    "/hallpass/settings/keep-apart",
    "/hallpass/settings/destinations/new",
]


@pytest.mark.parametrize("role", ["admin", "office", "teacher", "staff"])
def test_settings_pages_by_role(client, login, setup, role):
    login(setup[role])
    for path in PAGES:
        response = client.get(path)
        if role == "admin" or (role == "office" and not path.endswith("/new")):
            assert response.status_code == 200, (role, path)
        else:
            assert response.status_code == 403, (role, path)
    page = client.get(f"/hallpass/settings/destinations/{setup['restroom'].id}")
    assert page.status_code == (200 if role in ("admin", "office") else 403)


def test_office_sees_the_settings_but_cannot_change_them(db, client, login, setup):
    login(setup["office"])
    page = client.get("/hallpass/settings/rules").get_data(as_text=True)
    assert "the school admin changes them" in page and "Save rules" not in page
    assert client.post("/hallpass/settings/rules", data={"daily_limit": "3"}).status_code == 403
    refused = client.post("/hallpass/settings/destinations/new", data=destination_form())
    assert refused.status_code == 403
    assert count(db, Destination) == 2


def test_a_destination_of_another_school_is_404(db, client, login, setup, make_school):
    other = make_school()
    foreign = Destination(school_id=other.id, name="Elsewhere")
    db.session.add(foreign)
    db.session.commit()
    login(setup["admin"])
    assert client.get(f"/hallpass/settings/destinations/{foreign.id}").status_code == 404
    posted = client.post(f"/hallpass/settings/destinations/{foreign.id}", data=destination_form())
    assert posted.status_code == 404
    assert client.post(f"/hallpass/settings/destinations/{foreign.id}/delete").status_code == 404
    db.session.refresh(foreign)
    assert foreign.name == "Elsewhere"


# ------------------------------------------------------------------- destinations


def test_admin_adds_a_destination_and_it_is_audited(db, client, login, setup):
    login(setup["admin"])
    response = client.post(
        "/hallpass/settings/destinations/new",
        data=destination_form(room_id=str(setup["restroom_room"].id), capacity="3"),
    )
    assert response.status_code == 302
    nurse = db.session.scalar(select(Destination).where(Destination.name == "Nurse"))
    assert nurse.time_limit_minutes == 15 and nurse.capacity == 3 and nurse.is_nurse
    assert nurse.self_start and not nurse.counts_toward_limit and nurse.out_now == 0
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "hallpass.destination_create")
    )
    assert event.target_id == nurse.id and event.detail["capacity"] == 3


@pytest.mark.parametrize(
    "fields, field, message",
    [
        ({"name": "  "}, "name", "Name"),
        ({"name": "x" * 101}, "name", "Name"),
        ({"name": "restroom a"}, "name", "already a destination"),
        ({"time_limit_minutes": "0"}, "time_limit_minutes", "Time limit"),
        ({"time_limit_minutes": "abc"}, "time_limit_minutes", "Time limit"),
        ({"time_limit_minutes": "-5"}, "time_limit_minutes", "Time limit"),
        ({"capacity": "0"}, "capacity", "Capacity"),
        ({"capacity": "99999999999"}, "capacity", "Capacity"),
        ({"approval": "maybe"}, "approval", "approval"),
        ({"room_id": "999999"}, "room_id", "Room"),
    ],
)
def test_bad_destination_input_is_refused_and_writes_nothing(
    db, client, login, setup, fields, field, message
):
    with pytest.raises(InvalidInput) as refused:
        destinations.create_destination(
            setup["school"], destination_values(MultiDict(destination_form(**fields)))
        )
    assert refused.value.field == field
    db.session.rollback()
    login(setup["admin"])
    response = client.post("/hallpass/settings/destinations/new", data=destination_form(**fields))
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert count(db, Destination) == 2
    assert "hallpass.destination_create" not in audit_actions(db)


def test_a_room_of_another_school_is_refused(db, setup, make_school):
    other = make_school()
    foreign_room = Room(school_id=other.id, name="X")
    db.session.add(foreign_room)
    db.session.commit()
    with pytest.raises(InvalidInput):
        destinations.create_destination(
            setup["school"],
            destination_values(MultiDict(destination_form(room_id=str(foreign_room.id)))),
        )


def test_editing_never_touches_the_live_counter(db, client, login, setup):
    restroom = setup["restroom"]
    db.session.execute(
        Destination.__table__.update().where(Destination.id == restroom.id).values(out_now=1)
    )
    db.session.commit()
    login(setup["admin"])
    response = client.post(
        f"/hallpass/settings/destinations/{restroom.id}",
        data=destination_form(
            name="Restroom A",
            room_id=str(setup["restroom_room"].id),
            capacity="1",
            approval="approval",
            counts_toward_limit="1",
            is_nurse="",
            out_now="0",
        ),
    )
    assert response.status_code == 302
    db.session.refresh(restroom)
    assert restroom.capacity == 1 and not restroom.self_start and restroom.out_now == 1
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "hallpass.destination_update")
    )
    assert event.detail["before"] == {"capacity": 2, "self_start": True, "time_limit_minutes": 10}
    assert event.detail["after"] == {"capacity": 1, "self_start": False, "time_limit_minutes": 15}


def test_deactivating_with_students_out_is_safe(db, setup):
    school, restroom = setup["school"], setup["restroom"]
    out, waiting = setup["students"][0], setup["students"][1]
    hall_pass = passes.start_pass(
        school,
        Actor(user=setup["teacher"]),
        student_id=out.id,
        destination_id=restroom.id,
        from_room_id=setup["room"].id,
        source="teacher",
        now=NOW,
    )
    # a second student holds a place from the wait line ("ready")
    db.session.execute(
        Destination.__table__.update()
        .where(Destination.id == restroom.id)
        .values(out_now=Destination.out_now + 1)
    )
    db.session.execute(
        HallpassPolicy.__table__.update()
        .where(HallpassPolicy.school_id == school.id)
        .values(out_now=HallpassPolicy.out_now + 1)
    )
    held = PassRequest(
        school_id=school.id,
        student_id=waiting.id,
        destination_id=restroom.id,
        from_room_id=setup["room"].id,
        source="kiosk",
        status="ready",
        position=1,
        ready_at=NOW,
    )
    db.session.add(held)
    db.session.commit()

    destinations.update_destination(
        school,
        restroom.id,
        destination_values(MultiDict(destination_form(name="Restroom A", active=""))),
        now=NOW,
    )
    db.session.commit()
    db.session.refresh(restroom)
    db.session.refresh(held)
    assert not restroom.active and held.status == "expired"
    assert restroom.out_now == 1  # the student still out keeps their place
    with pytest.raises(NotFound):  # no new pass there
        passes.start_pass(
            school,
            Actor(user=setup["teacher"]),
            student_id=setup["students"][2].id,
            destination_id=restroom.id,
            from_room_id=None,
            source="teacher",
            now=NOW,
        )
    db.session.rollback()
    passes.end_pass(school, Actor(user=setup["teacher"]), pass_id=hall_pass.id, ended_by="staff")
    db.session.commit()
    db.session.refresh(restroom)
    policy = db.session.get(HallpassPolicy, school.id)
    assert restroom.out_now == 0 and policy.out_now == 0
    assert "hallpass.request_expire" in audit_actions(db)


def test_delete_only_a_destination_never_used(db, client, login, setup):
    library, restroom = setup["library"], setup["restroom"]
    db.session.add(
        HallPass(
            school_id=setup["school"].id,
            student_id=setup["students"][0].id,
            destination_id=restroom.id,
            source="teacher",
            status="ended",
            started_at=NOW - timedelta(hours=1),
            ended_at=NOW - timedelta(minutes=55),
            time_limit_minutes=10,
        )
    )
    db.session.commit()
    login(setup["admin"])
    refused = client.post(f"/hallpass/settings/destinations/{restroom.id}/delete")
    assert refused.status_code == 400 and "Deactivate it instead" in refused.get_data(as_text=True)
    assert client.post(f"/hallpass/settings/destinations/{library.id}/delete").status_code == 302
    assert {d.name for d in db.session.scalars(select(Destination))} == {"Restroom A"}
    assert count(db, HallPass) == 1
    assert "hallpass.destination_delete" in audit_actions(db)


# ------------------------------------------------------------------------- rules


def rules_form(**fields) -> dict:
    form = {
        "daily_limit": "4",
        "cooldown_minutes": "10",
        "building_cap": "25",
        "room_cap": "3",
        "no_pass_first_minutes": "5",
        "no_pass_last_minutes": "5",
        "no_pass_periods": ["2"],
        "max_pass_minutes": "",
    }
    form.update(fields)
    return form


def test_admin_saves_the_rules_and_the_change_is_audited(db, client, login, setup):
    school = setup["school"]
    policy_for(school)
    db.session.execute(
        HallpassPolicy.__table__.update()
        .where(HallpassPolicy.school_id == school.id)
        .values(out_now=3)
    )
    db.session.commit()
    login(setup["admin"])
    page = client.get("/hallpass/settings/rules").get_data(as_text=True)
    assert 'value="1"' in page and 'value="2"' in page  # the bell periods offered
    assert client.post("/hallpass/settings/rules", data=rules_form()).status_code == 302
    policy = db.session.get(HallpassPolicy, school.id)
    db.session.refresh(policy)
    assert (policy.daily_limit, policy.cooldown_minutes, policy.building_cap) == (4, 10, 25)
    assert policy.room_cap == 3
    assert (policy.no_pass_first_minutes, policy.no_pass_last_minutes) == (5, 5)
    assert policy.no_pass_periods == ["2"] and policy.max_pass_minutes is None
    assert policy.out_now == 3
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "hallpass.policy_update")
    )
    assert event.detail["before"]["daily_limit"] is None
    assert event.detail["after"]["daily_limit"] == 4
    assert event.detail["after"]["no_pass_periods"] == ["2"]


def test_the_admin_gives_one_classroom_its_own_limit_on_the_rules_page(db, client, login, setup):
    room, restroom = setup["room"], setup["restroom_room"]
    login(setup["admin"])
    page = client.get("/hallpass/settings/rules").get_data(as_text=True)
    assert "Every classroom follows the limit above." in page
    assert f'<option value="{room.id}"' in page and f'<option value="{restroom.id}"' not in page
    saved = client.post(
        "/hallpass/settings/rules/rooms", data={"room_id": room.id, "pass_cap": "4"}
    )
    assert saved.status_code == 302
    page = client.get("/hallpass/settings/rules").get_data(as_text=True)
    assert "114: at most 4 students out at once" in page
    db.session.refresh(room)
    assert room.pass_cap == 4
    for form, field in (
        ({"room_id": room.id, "pass_cap": "0"}, "pass_cap"),
        ({"room_id": room.id, "pass_cap": "many"}, "pass_cap"),
        ({"room_id": restroom.id, "pass_cap": "2"}, "room_id"),  # not a classroom
        ({"room_id": "999999", "pass_cap": "2"}, "room_id"),
    ):
        refused = client.post("/hallpass/settings/rules/rooms", data=form)
        assert refused.status_code == 400, form
        assert re.search(rf'name="{field}"[^>]*aria-invalid="true"', refused.get_data(as_text=True))
    db.session.refresh(room)
    assert room.pass_cap == 4
    cleared = client.post(
        "/hallpass/settings/rules/rooms", data={"room_id": room.id, "pass_cap": ""}
    )
    assert cleared.status_code == 302
    db.session.refresh(room)
    assert room.pass_cap is None
    login(setup["office"])
    assert (
        client.post(
            "/hallpass/settings/rules/rooms", data={"room_id": room.id, "pass_cap": "2"}
        ).status_code
        == 403
    )


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"daily_limit": "0"}, "daily_limit"),
        ({"daily_limit": "x"}, "daily_limit"),
        ({"cooldown_minutes": "-1"}, "cooldown_minutes"),
        ({"building_cap": "0"}, "building_cap"),
        ({"room_cap": "0"}, "room_cap"),
        ({"room_cap": "101"}, "room_cap"),
        ({"no_pass_first_minutes": "61"}, "no_pass_first_minutes"),
        ({"no_pass_periods": ["Lunch"]}, "no_pass_periods"),
        ({"max_pass_minutes": "0"}, "max_pass_minutes"),
        ({"max_pass_minutes": "1.5"}, "max_pass_minutes"),
    ],
)
def test_bad_rules_are_refused_whole(db, client, login, setup, fields, field):
    school = setup["school"]
    with pytest.raises(InvalidInput) as refused:
        update_policy(school, policy_values(MultiDict(rules_form(**fields))), period_names(school))
    assert refused.value.field == field
    db.session.rollback()
    login(setup["admin"])
    response = client.post("/hallpass/settings/rules", data=rules_form(**fields))
    assert response.status_code == 400 and 'aria-invalid="true"' in response.get_data(as_text=True)
    policy = db.session.get(HallpassPolicy, school.id)
    assert policy is None or policy.daily_limit is None  # nothing half-saved
    assert "hallpass.policy_update" not in audit_actions(db)


def test_saved_rules_take_effect(db, setup):
    school, student = setup["school"], setup["students"][0]
    rules = policy_values(MultiDict(rules_form(daily_limit="1", cooldown_minutes="0")))
    update_policy(school, rules, ["1", "2"])
    db.session.commit()
    start = NOW - timedelta(hours=1)  # 09:00, period 2 is a no-pass period
    with pytest.raises(RuleBlocked, match="period 2"):
        passes.start_pass(
            school,
            Actor(user=setup["teacher"]),
            student_id=student.id,
            destination_id=setup["restroom"].id,
            from_room_id=None,
            source="teacher",
            now=start + timedelta(minutes=20),
        )


# ------------------------------------------------------------ per-student limits


def test_student_search_is_a_post_and_limits_are_set_and_removed(db, client, login, setup):
    login(setup["admin"])
    student = setup["students"][1]
    found = client.post("/hallpass/settings/limits", data={"action": "search", "q": "ana1"})
    assert found.status_code == 200 and "Lopez, Ana1" in found.get_data(as_text=True)
    saved = client.post(
        "/hallpass/settings/limits",
        data={"action": "set", "student_id": student.id, "kind": "limit", "daily_limit": "6",
              "note": "504 plan"},
    )  # fmt: skip
    assert saved.status_code == 302
    limit = db.session.get(StudentPassLimit, student.id)
    assert limit.daily_limit == 6 and limit.note == "504 plan"
    client.post(
        "/hallpass/settings/limits",
        data={"action": "set", "student_id": student.id, "kind": "exempt", "note": "IEP"},
    )
    db.session.refresh(limit)
    assert limit.daily_limit is None and limit.note == "IEP"
    listing = client.get("/hallpass/settings/limits").get_data(as_text=True)
    assert "exempt" in listing and "IEP" in listing
    removed = client.post(
        "/hallpass/settings/limits", data={"action": "remove", "student_id": student.id}
    )
    assert removed.status_code == 302
    assert db.session.get(StudentPassLimit, student.id) is None
    assert audit_actions(db, target_id=student.id) == [
        "hallpass.student_limit_set",
        "hallpass.student_limit_set",
        "hallpass.student_limit_remove",
    ]
    first = db.session.scalar(
        select(AuditEvent)
        .where(AuditEvent.action == "hallpass.student_limit_set")
        .order_by(AuditEvent.id)
    )
    assert first.detail["after"]["daily_limit"] == 6 and "504" not in str(first.detail)


def test_bad_student_limits_are_refused(db, client, login, setup, make_school):
    other = make_school()
    foreign = Student(school_id=other.id, student_number="1", first_name="O", last_name="T")
    db.session.add(foreign)
    db.session.commit()
    login(setup["admin"])
    student = setup["students"][0]
    cases = [
        ({"student_id": foreign.id, "kind": "exempt"}, 404),
        ({"student_id": "abc", "kind": "exempt"}, 400),
        ({"student_id": student.id, "kind": "limit", "daily_limit": "-1"}, 400),
        ({"student_id": student.id, "kind": "limit", "daily_limit": ""}, 400),
        ({"student_id": student.id, "kind": "other"}, 400),
        ({"student_id": student.id, "kind": "exempt", "note": "x" * 1001}, 400),
    ]
    for data, status in cases:
        response = client.post("/hallpass/settings/limits", data={"action": "set", **data})
        assert response.status_code == status, data
    assert count(db, StudentPassLimit) == 0
    assert (
        client.post(
            "/hallpass/settings/limits", data={"action": "remove", "student_id": student.id}
        ).status_code
        == 404
    )


# -------------------------------------------------------------- keep-apart groups


def test_keep_apart_group_is_built_from_post_searches(db, client, login, setup):
    login(setup["admin"])
    a, b = setup["students"][0], setup["students"][1]
    found = client.post(
        "/hallpass/settings/keep-apart",
        data={"action": "search", "q": "Lopez", "student_ids": [a.id], "note": "fight 11/20"},
    )
    page = found.get_data(as_text=True)
    assert found.status_code == 200
    assert f'value="{a.id}" checked' in page and f'value="{b.id}">' in page
    assert "fight 11/20" in page
    created = client.post(
        "/hallpass/settings/keep-apart",
        data={"action": "create", "student_ids": [a.id, b.id], "note": "fight 11/20",
              "ends_on": "2099-06-01"},
    )  # fmt: skip
    assert created.status_code == 302
    group = db.session.scalar(select(KeepApartGroup))
    assert {s.id for s in group.members} == {a.id, b.id}
    assert group.note == "fight 11/20" and group.ends_on == date(2099, 6, 1)
    assert group.created_by_id == setup["admin"].id
    listing = client.get("/hallpass/settings/keep-apart").get_data(as_text=True)
    assert "Ana0 Lopez" in listing and "applies" in listing
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "hallpass.keep_apart_create")
    )
    assert event.detail["student_ids"] == sorted([a.id, b.id])


def test_bad_keep_apart_groups_are_refused(db, client, login, setup, make_school):
    other = make_school()
    foreign = Student(school_id=other.id, student_number="1", first_name="O", last_name="T")
    db.session.add(foreign)
    db.session.commit()
    login(setup["admin"])
    a, b = setup["students"][0], setup["students"][1]
    cases = [
        {"student_ids": [a.id], "note": "n"},
        {"student_ids": [a.id, a.id], "note": "n"},
        {"student_ids": [a.id, foreign.id], "note": "n"},
        {"student_ids": [a.id, "x"], "note": "n"},
        {"student_ids": [a.id, b.id], "note": " "},
        {"student_ids": [a.id, b.id], "note": "n", "ends_on": "2020-01-01"},
        {"student_ids": [a.id, b.id], "note": "n", "ends_on": "soon"},
    ]
    for data in cases:
        response = client.post("/hallpass/settings/keep-apart", data={"action": "create", **data})
        assert response.status_code == 400, data
    assert count(db, KeepApartGroup) == 0
    assert "hallpass.keep_apart_create" not in audit_actions(db)


def test_ending_and_deleting_a_group(db, client, login, setup):
    school, teacher = setup["school"], setup["teacher"]
    a, b = setup["students"][0], setup["students"][1]
    today = school_today(school)
    group = student_rules.create_keep_apart_group(
        school, setup["admin"], [a.id, b.id], note="n", ends_on=None, today=today
    )
    db.session.commit()
    group_id = group.id

    def go(student):
        return passes.start_pass(
            school,
            Actor(user=teacher),
            student_id=student.id,
            destination_id=setup["library"].id,
            from_room_id=None,
            source="teacher",
        )

    first = go(a)
    db.session.commit()
    with pytest.raises(RuleBlocked):
        go(b)
    db.session.rollback()
    login(setup["admin"])
    ended = client.post(f"/hallpass/settings/keep-apart/{group_id}", data={"action": "end"})
    assert ended.status_code == 302
    db.session.refresh(group)
    assert group.ends_on == today - timedelta(days=1)
    go(b)  # the group no longer applies
    db.session.commit()
    assert (
        client.post(f"/hallpass/settings/keep-apart/{group_id}", data={"action": "end"}).status_code
        == 400
    )
    passes.end_pass(school, Actor(user=teacher), pass_id=first.id, ended_by="staff")
    db.session.commit()
    deleted = client.post(f"/hallpass/settings/keep-apart/{group_id}", data={"action": "delete"})
    assert deleted.status_code == 302
    assert count(db, KeepApartGroup) == 0
    assert (
        client.post(
            f"/hallpass/settings/keep-apart/{group_id}", data={"action": "delete"}
        ).status_code
        == 404
    )
    assert [a for a in audit_actions(db) if a.startswith("hallpass.keep_apart")] == [
        "hallpass.keep_apart_create",
        "hallpass.keep_apart_end",
        "hallpass.keep_apart_delete",
    ]


def test_teacher_cannot_change_groups(db, client, login, setup):
    a, b = setup["students"][0], setup["students"][1]
    login(setup["teacher"])
    response = client.post(
        "/hallpass/settings/keep-apart",
        data={"action": "create", "student_ids": [a.id, b.id], "note": "n"},
    )
    assert response.status_code == 403
    assert count(db, KeepApartGroup) == 0


# ---------------------------------------------------------------------- languages


def test_a_spanish_admin_reads_the_settings_and_their_messages_in_spanish(db, client, login, setup):
    admin = setup["admin"]
    admin.language = "es"
    db.session.commit()
    login(admin)
    page = client.get("/hallpass/settings").get_data(as_text=True)
    assert '<html lang="es">' in page and "Configuración de los pases" in page
    assert "Agregar un destino" in page and "Tiempo límite" in page and "20 min" in page
    rules = client.get("/hallpass/settings/rules").get_data(as_text=True)
    assert "Guardar reglas" in rules and "Estudiantes fuera ahora: 0." in rules
    added = client.post("/hallpass/settings/destinations/new", data=destination_form())
    assert added.status_code == 302
    assert "Nurse agregado." in client.get(added.headers["Location"]).get_data(as_text=True)
    refused = client.post(
        "/hallpass/settings/destinations/new", data=destination_form(name="restroom a")
    )
    assert refused.status_code == 400
    assert "Ya hay un destino llamado restroom a." in refused.get_data(as_text=True)


def test_limits_say_their_counts_in_words_for_one_and_many(db, client, login, setup):
    update_policy(setup["school"], policy_values(MultiDict({"daily_limit": "1"})), [])
    db.session.commit()
    login(setup["office"])
    assert "limit: 1 pass a day." in client.get("/hallpass/settings/limits").get_data(as_text=True)
    update_policy(setup["school"], policy_values(MultiDict({"daily_limit": "3"})), [])
    db.session.commit()
    assert "limit: 3 passes a day." in client.get("/hallpass/settings/limits").get_data(
        as_text=True
    )


def test_the_hall_pass_records_of_the_data_inventory_read_in_spanish(db, client, login, setup):
    admin = setup["admin"]
    admin.language = "es"
    db.session.commit()
    login(admin)
    inventory = client.get("/privacy/inventory").get_data(as_text=True)
    assert "Destinos de los pases" in inventory and "Grupos de separación" in inventory
    assert "Periodo de conservación del historial de pases" in inventory
    assert "Historial de pases" in client.get("/admin/privacy").get_data(as_text=True)

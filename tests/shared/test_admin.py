"""School admin: staff accounts, school settings and the audit log browser."""

import re

from sqlalchemy import func, select

from shared.models import AuditEvent, Membership, User
from shared.passwords import verify_password
from tests.conftest import PASSWORD, audit_actions


def test_admin_adds_a_teacher_who_can_sign_in_with_the_temporary_password(
    app, db, client, school, make_user, login
):
    login(make_user(school, "admin"))
    response = client.post(
        "/admin/staff/new",
        data={"email": "New.Teacher@Example.org", "name": "Nia Teacher", "roles": ["teacher"]},
    )
    assert response.status_code == 200
    temporary = re.search(r'class="pairing-code">([a-z0-9-]+)<', response.get_data(as_text=True))
    assert temporary
    user = db.session.scalar(select(User).where(User.email == "new.teacher@example.org"))
    assert user is not None
    newcomer = app.test_client()
    assert (
        newcomer.post(
            "/login", data={"email": "new.teacher@example.org", "password": temporary.group(1)}
        ).status_code
        == 302
    )
    assert newcomer.get("/hallpass/").status_code == 200
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "staff.add"))
    assert temporary.group(1) not in str(event.detail)


def test_adding_an_existing_account_from_another_school_adds_a_role_only(
    db, client, make_school, make_user, login
):
    here, there = make_school(), make_school()
    person = make_user(there, "teacher", email="shared@example.org")
    login(make_user(here, "admin"))
    response = client.post(
        "/admin/staff/new",
        data={"email": "shared@example.org", "name": "Whoever", "roles": ["staff"]},
    )
    assert response.status_code == 200
    assert b"keeps its password" in response.data
    db.session.rollback()
    assert verify_password(db.session.get(User, person.id).password_hash, PASSWORD)
    roles = db.session.execute(
        select(Membership.school_id, Membership.role).where(Membership.user_id == person.id)
    ).all()
    assert sorted(roles) == sorted([(there.id, "teacher"), (here.id, "staff")])


def test_bad_staff_input_is_refused_clearly(db, client, school, make_user, login):
    login(make_user(school, "admin"))
    before = db.session.scalar(select(func.count(User.id)))
    cases = [
        {"email": "not-an-email", "name": "X", "roles": ["teacher"]},
        {"email": "a@example.org", "name": "", "roles": ["teacher"]},
        {"email": "a@example.org", "name": "X"},
        {"email": "a@example.org", "name": "X", "roles": ["superuser"]},
    ]
    for data in cases:
        response = client.post("/admin/staff/new", data=data)
        assert response.status_code == 400, data
        assert b"flash-error" in response.data
    assert db.session.scalar(select(func.count(User.id))) == before


def test_deactivate_signs_the_person_out_and_reactivate_restores(
    app, db, client, school, make_user, login
):
    admin = make_user(school, "admin")
    teacher = make_user(school, "teacher")
    teacher_client = login(teacher, on=app.test_client())
    login(admin)
    assert (
        client.post(f"/admin/staff/{teacher.id}", data={"action": "deactivate"}).status_code == 302
    )
    assert teacher_client.get("/dashboard").status_code == 302
    assert (
        app.test_client()
        .post("/login", data={"email": teacher.email, "password": PASSWORD})
        .status_code
        == 401
    )
    client.post(f"/admin/staff/{teacher.id}", data={"action": "activate"})
    login(teacher, on=app.test_client())
    assert {"staff.deactivate", "staff.activate"} <= set(audit_actions(db))


def test_admin_resets_a_password(app, db, client, school, make_user, login):
    teacher = make_user(school, "teacher")
    old_session = login(teacher, on=app.test_client())
    login(make_user(school, "admin"))
    response = client.post(f"/admin/staff/{teacher.id}", data={"action": "reset_password"})
    temporary = re.search(r'class="pairing-code">([a-z0-9-]+)<', response.get_data(as_text=True))
    assert temporary
    assert old_session.get("/dashboard").status_code == 302
    assert (
        app.test_client()
        .post("/login", data={"email": teacher.email, "password": temporary.group(1)})
        .status_code
        == 302
    )
    assert "staff.password_reset" in audit_actions(db)


def test_school_admin_cannot_take_over_an_account_of_another_school(
    db, client, make_school, make_user, login
):
    here, there = make_school(), make_school()
    person = make_user(there, "admin")
    db.session.add(Membership(user_id=person.id, school_id=here.id, role="teacher"))
    db.session.commit()
    login(make_user(here, "admin"))
    for action in ("reset_password", "deactivate"):
        assert client.post(f"/admin/staff/{person.id}", data={"action": action}).status_code == 403
    stranger = make_user(there, "teacher")
    assert client.get(f"/admin/staff/{stranger.id}").status_code == 404


def test_admin_cannot_lock_themselves_out(client, school, make_user, login):
    admin = make_user(school, "admin")
    login(admin)
    assert client.post(f"/admin/staff/{admin.id}", data={"action": "deactivate"}).status_code == 400
    response = client.post(
        f"/admin/staff/{admin.id}", data={"action": "roles", "roles": ["teacher"]}
    )
    assert response.status_code == 400
    assert client.get("/admin/").status_code == 200


def test_roles_can_be_changed(db, client, school, make_user, login):
    person = make_user(school, "teacher")
    login(make_user(school, "admin"))
    client.post(f"/admin/staff/{person.id}", data={"action": "roles", "roles": ["staff", "office"]})
    roles = db.session.scalars(select(Membership.role).where(Membership.user_id == person.id))
    assert sorted(roles) == ["office", "staff"]
    assert client.post(f"/admin/staff/{person.id}", data={"action": "explode"}).status_code == 400


def test_school_settings_validate_the_time_zone(db, client, school, make_user, login):
    login(make_user(school, "admin"))
    bad = client.post("/admin/school", data={"name": "Lincoln", "timezone": "Mars/Olympus"})
    assert bad.status_code == 400
    good = client.post("/admin/school", data={"name": "Lincoln MS", "timezone": "America/Denver"})
    assert good.status_code == 302
    db.session.refresh(school)
    assert (school.name, school.timezone) == ("Lincoln MS", "America/Denver")
    assert "school.update" in audit_actions(db)


def test_audit_log_lists_and_filters_this_schools_events(
    app, client, make_school, make_user, login
):
    here, there = make_school(), make_school()
    login(make_user(there, "teacher", email="elsewhere@example.org"), on=app.test_client())
    admin = make_user(here, "admin", email="boss@example.org")
    app.test_client().post("/login", data={"email": admin.email, "password": "wrong-wrong"})
    login(admin)
    page = client.get("/admin/audit").get_data(as_text=True)
    assert "auth.login_failed" in page and "boss@example.org" in page
    assert "elsewhere@example.org" not in page  # another school's events stay there
    filtered = client.get("/admin/audit?action=auth.login_failed").get_data(as_text=True)
    assert "auth.login_failed" in filtered and "<td>auth.login</td>" not in filtered
    assert client.get("/admin/audit?since=yesterday").status_code == 400
    assert client.get("/admin/audit?page=-4&actor=%25").status_code == 200


def test_student_list_filters_by_grade_and_searches_by_post(
    db, client, make_school, make_user, login
):
    from shared.models import Student

    here, there = make_school(), make_school()
    db.session.add_all(
        [
            Student(
                school_id=here.id,
                student_number="1001",
                first_name="Ada",
                last_name="Lovelace",
                grade="7",
            ),
            Student(
                school_id=here.id,
                student_number="1002",
                first_name="Alan",
                last_name="Turing",
                grade="8",
            ),
            Student(
                school_id=there.id,
                student_number="1003",
                first_name="Grace",
                last_name="Hopper",
                grade="7",
            ),
        ]
    )
    db.session.commit()
    login(make_user(here, "admin"))
    page = client.get("/admin/students").get_data(as_text=True)
    assert "Lovelace" in page and "Turing" in page and "Hopper" not in page
    seventh = client.get("/admin/students?grade=7").get_data(as_text=True)
    assert "Lovelace" in seventh and "Turing" not in seventh
    found = client.post("/admin/students", data={"q": "turi"}).get_data(as_text=True)
    assert "Turing" in found and "Lovelace" not in found
    assert "Hopper" not in client.post("/admin/students", data={"q": "hopper"}).get_data(
        as_text=True
    )


def test_bell_schedule_page(db, client, school, make_user, login):
    from datetime import time

    from shared.models import BellPeriod

    login(make_user(school, "admin"))
    assert b"No bell schedule" in client.get("/admin/schedule").data
    db.session.add(
        BellPeriod(
            school_id=school.id, name="1", weekday=0, start_time=time(8, 0), end_time=time(8, 50)
        )
    )
    db.session.commit()
    page = client.get("/admin/schedule").get_data(as_text=True)
    assert "08:00" in page and "08:50" in page and "Mon" in page

"""School admin: staff accounts, school settings and the audit log browser."""

import re

import pytest
from sqlalchemy import func, select

from shared.models import AuditEvent, Membership, StaffInvitation, User
from shared.passwords import verify_password
from tests.helpers import PASSWORD, audit_actions


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


INVITED = "An invitation was recorded for this address"


@pytest.fixture
def karen(app, db, make_school, make_user, login):
    """A teacher of school A who has signed in there (so she has a last sign-in time)."""
    school_a = make_school(name="Adams Elementary")
    person = make_user(
        school_a, "teacher", email="karen.whitfield@example.org", name="Karen Whitfield"
    )
    login(person, on=app.test_client())
    db.session.refresh(person)
    assert person.last_login_at is not None
    return person


def roles_of(db, user) -> list[tuple[int, str]]:
    db.session.rollback()
    return sorted(
        db.session.execute(
            select(Membership.school_id, Membership.role).where(Membership.user_id == user.id)
        ).all()
    )


def test_adding_another_schools_teacher_discloses_nothing_and_attaches_nothing(
    db, client, make_school, make_user, login, karen
):
    school_b = make_school(name="Brook Middle")
    before = roles_of(db, karen)
    login(make_user(school_b, "admin"))
    response = client.post(
        "/admin/staff/new",
        data={"email": "Karen.Whitfield@example.org", "name": "K W", "roles": ["teacher"]},
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert INVITED in page
    assert "Karen" not in page and "Whitfield" not in page and "Adams" not in page
    assert "pairing-code" not in page  # no password: hers stays hers
    assert roles_of(db, karen) == before  # no role at school B
    assert verify_password(db.session.get(User, karen.id).password_hash, PASSWORD)

    staff_page = client.get("/admin/staff").get_data(as_text=True)
    assert "karen.whitfield@example.org" in staff_page and "invited" in staff_page
    assert "Karen" not in staff_page and "Whitfield" not in staff_page
    row = re.search(r"<tr>(?:(?!</tr>).)*karen\.whitfield(?:(?!</tr>).)*</tr>", staff_page, re.S)
    assert row and not re.search(r"\d:\d\d", row.group(0))  # no last sign-in time
    assert client.get(f"/admin/staff/{karen.id}").status_code == 404
    audit_page = client.get("/admin/audit").get_data(as_text=True)
    assert "staff.invite" in audit_page and "Whitfield" not in audit_page
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "staff.invite"))
    assert event.school_id == school_b.id
    assert event.detail == {"email": "karen.whitfield@example.org", "roles": ["teacher"]}

    # Asking again (other roles) renews the one invitation; still nothing is said or given.
    again = client.post(
        "/admin/staff/new",
        data={"email": "karen.whitfield@example.org", "name": "X", "roles": ["office"]},
    )
    assert INVITED in again.get_data(as_text=True)
    assert db.session.scalar(select(func.count(StaffInvitation.id))) == 1
    assert db.session.scalar(select(StaffInvitation.roles)) == ["office"]
    assert roles_of(db, karen) == before


def test_the_invited_person_accepts_after_signing_in(
    app, db, client, make_school, make_user, login, karen
):
    school_b = make_school(name="Brook Middle")
    admin_b = login(make_user(school_b, "admin"), on=app.test_client())
    admin_b.post(
        "/admin/staff/new",
        data={"email": karen.email, "name": "K", "roles": ["teacher", "office"]},
    )
    signed_in = client.post("/login", data={"email": karen.email, "password": PASSWORD})
    assert signed_in.status_code == 302
    assert "invited you" in client.get("/dashboard").get_data(as_text=True)
    listing = client.get("/account/invitations").get_data(as_text=True)
    assert "Brook Middle" in listing
    invitation_id = db.session.scalar(select(StaffInvitation.id))
    assert client.post(f"/account/invitations/{invitation_id}", data={}).status_code == 400
    response = client.post(f"/account/invitations/{invitation_id}", data={"action": "accept"})
    assert response.status_code == 302
    assert (school_b.id, "office") in roles_of(db, karen)
    assert (school_b.id, "teacher") in roles_of(db, karen)
    assert db.session.scalar(select(func.count(StaffInvitation.id))) == 0
    assert "staff.invitation_accept" in audit_actions(db, school_id=school_b.id)
    assert client.post("/school", data={"school_id": school_b.id}).status_code == 302
    # School B's admin now sees her as staff (she agreed).
    assert "Karen Whitfield" in admin_b.get("/admin/staff").get_data(as_text=True)


def test_an_invitation_can_be_declined_and_is_only_its_owners(
    app, db, client, make_school, make_user, login, karen
):
    school_b = make_school()
    admin_b = login(make_user(school_b, "admin"), on=app.test_client())
    admin_b.post("/admin/staff/new", data={"email": karen.email, "name": "K", "roles": ["staff"]})
    invitation_id = db.session.scalar(select(StaffInvitation.id))
    stranger = login(make_user(school_b, "teacher"), on=app.test_client())
    answer = stranger.post(f"/account/invitations/{invitation_id}", data={"action": "accept"})
    assert answer.status_code == 404
    assert "Brook" not in stranger.get("/account/invitations").get_data(as_text=True)
    login(karen)
    assert (
        client.post(f"/account/invitations/{invitation_id}", data={"action": "decline"}).status_code
        == 302
    )
    assert all(school_id != school_b.id for school_id, _ in roles_of(db, karen))
    assert db.session.scalar(select(func.count(StaffInvitation.id))) == 0
    assert "staff.invitation_decline" in audit_actions(db, school_id=school_b.id)


def test_a_district_admin_adds_an_existing_account_directly_or_confirms_an_invitation(
    app, db, client, make_school, make_user, login, karen
):
    school_b, school_c = make_school(), make_school()
    login(make_user(school_b, "admin", district=True))
    response = client.post(
        "/admin/staff/new", data={"email": karen.email, "name": "K", "roles": ["teacher"]}
    )
    assert response.status_code == 200
    assert b"keeps its password" in response.data
    assert (school_b.id, "teacher") in roles_of(db, karen)
    assert db.session.scalar(select(func.count(StaffInvitation.id))) == 0

    # An invitation another school's admin recorded: that admin cannot confirm it,
    # another school cannot reach it, a district admin (acting there) can.
    admin_c = login(make_user(school_c, "admin"), on=app.test_client())
    admin_c.post("/admin/staff/new", data={"email": karen.email, "name": "K", "roles": ["staff"]})
    invitation_id = db.session.scalar(select(StaffInvitation.id))
    path = f"/admin/staff/invitations/{invitation_id}"
    assert admin_c.post(path, data={"action": "confirm"}).status_code == 403
    assert client.post(path, data={"action": "confirm"}).status_code == 404  # acting at B
    assert all(school_id != school_c.id for school_id, _ in roles_of(db, karen))
    assert client.post("/school", data={"school_id": school_c.id}).status_code == 302
    assert "Add now" in client.get("/admin/staff").get_data(as_text=True)
    assert client.post(path, data={"action": "confirm"}).status_code == 302
    assert (school_c.id, "staff") in roles_of(db, karen)
    assert "staff.invitation_confirm" in audit_actions(db, school_id=school_c.id)


def test_a_school_admin_cancels_an_invitation(db, client, make_school, make_user, login, karen):
    school_b = make_school()
    login(make_user(school_b, "admin"))
    client.post("/admin/staff/new", data={"email": karen.email, "name": "K", "roles": ["staff"]})
    invitation_id = db.session.scalar(select(StaffInvitation.id))
    path = f"/admin/staff/invitations/{invitation_id}"
    assert client.post(path, data={"action": "explode"}).status_code == 400
    assert client.post(path, data={"action": "cancel"}).status_code == 302
    assert db.session.scalar(select(func.count(StaffInvitation.id))) == 0
    assert "staff.invitation_cancel" in audit_actions(db, school_id=school_b.id)
    assert client.post(path, data={"action": "cancel"}).status_code == 404


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
    assert "auth.login_failed" in filtered and "<code>auth.login</code>" not in filtered
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
    # A US school reads 12-hour times, as every other page writes them.
    assert "8:00 AM" in page and "8:50 AM" in page and "Mon" in page
    assert "08:00" not in page

"""Substitutes: a one-day sign-in for the absent teacher's rooms and classes only.

Service rules (the code works once, the day ends at the school's local midnight, a revoke
or a new code ends the session at once, bad input is a clear 4xx) and what the substitute
may reach through the app: the absent teacher's room and nothing else, no admin, office,
account or pairing page. Everything they do is marked in the audit log and the reports.
"""

import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from hallpass.models import Destination, HallPass
from shared import live, mail, substitutes
from shared.access import ACCESS_TOPIC, SUBSTITUTE_COOKIE
from shared.audit import SYSTEM, Actor
from shared.errors import Conflict, InvalidInput, NotFound
from shared.models import AuditEvent, Enrollment, OutboxMail, SchoolClass, SubstituteAssignment
from shared.timeutil import utcnow
from tests.smtp_server import OwnSMTP

PUBLIC_URL = "https://passline.example.org"


@pytest.fixture
def classes(db, school, make_user, make_room, make_student):
    """Two teachers, each with a class in a room of their own, and a restroom pass."""
    absent = make_user(school, "teacher", name="Ann Absent", email="ann@example.org")
    other = make_user(school, "teacher", name="Bo Other")
    room, other_room = make_room(school, "101"), make_room(school, "102")
    restroom = make_room(school, "Restroom", kind="restroom")
    sections = []
    for teacher, where, name in ((absent, room, "Math 7"), (other, other_room, "Art 7")):
        section = SchoolClass(school_id=school.id, name=name, room_id=where.id, period="1")
        section.teachers.append(teacher)
        sections.append(section)
    destination = Destination(
        school_id=school.id, name="Restroom", room_id=restroom.id, time_limit_minutes=10
    )
    db.session.add_all([*sections, destination])
    db.session.flush()
    students = [make_student(school, "Maya", "Reyes"), make_student(school, "Li", "Chen")]
    db.session.add_all(
        [
            Enrollment(class_id=sections[0].id, student_id=students[0].id),
            Enrollment(class_id=sections[1].id, student_id=students[1].id),
        ]
    )
    db.session.commit()
    return {
        "absent": absent,
        "other": other,
        "room": room,
        "other_room": other_room,
        "destination": destination,
        "students": students,
    }


def _office(make_user, school):
    return Actor(user=make_user(school, "office"))


def _signed_in(app, code: str):
    """A browser (test client) signed in as a substitute with `code`."""
    browser = app.test_client()
    response = browser.post("/substitute", data={"code": code})
    assert response.status_code == 302, response.get_data(as_text=True)[:400]
    assert response.headers["Location"].endswith("/hallpass/")
    return browser


# ------------------------------------------------------------------ service


def test_create_stores_only_a_keyed_hash_of_the_code(db, school, classes, make_user):
    created = substitutes.create(
        school, _office(make_user, school), teacher_id=classes["absent"].id, name="  Sam  Sub "
    )
    db.session.commit()
    row = db.session.get(SubstituteAssignment, created.assignment.id)
    assert row.name == "Sam Sub" and row.teacher_id == classes["absent"].id
    assert len(created.code) == 8 and created.code not in row.code_hash
    assert row.code_hash != substitutes.secret_digest(created.code)  # keyed, not plain SHA
    assert row.session_token_hash is None and row.code_used_at is None
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "substitute.create"))
    assert event.target_id == row.id and "code" not in event.detail


def test_the_day_ends_at_the_schools_local_midnight(db, school, classes):
    # 15:30 in Chicago (CST, UTC-6) on 2026-12-07: the access lasts until 00:00 local.
    now = datetime(2026, 12, 7, 21, 30, tzinfo=UTC)
    created = substitutes.create(
        school, SYSTEM, teacher_id=classes["absent"].id, name="Sam", now=now
    )
    assert created.assignment.day.isoformat() == "2026-12-07"
    assert created.assignment.expires_at == datetime(2026, 12, 8, 6, 0, tzinfo=UTC)
    db.session.commit()
    with pytest.raises(NotFound):  # a minute after midnight the code no longer works
        substitutes.sign_in(created.code, now=datetime(2026, 12, 8, 6, 1, tzinfo=UTC))


def test_a_code_signs_in_once(db, school, classes):
    created = substitutes.create(school, SYSTEM, teacher_id=classes["absent"].id, name="Sam")
    db.session.commit()
    assignment, token = substitutes.sign_in(created.shown_code.lower())  # typed as it comes
    assert assignment.id == created.assignment.id and token
    db.session.commit()
    with pytest.raises(NotFound):
        substitutes.sign_in(created.code)


@pytest.mark.parametrize(
    ("field", "form"),
    [
        ("teacher_id", {"teacher_id": "", "name": "Sam"}),
        ("teacher_id", {"teacher_id": "999999", "name": "Sam"}),
        ("teacher_id", {"teacher_id": "abc", "name": "Sam"}),
        ("name", {"name": "   "}),
        ("name", {"name": "x" * 101}),
        ("contact", {"name": "Sam", "contact": "x" * 255}),
    ],
)
def test_bad_input_is_refused_with_its_field(db, school, classes, field, form):
    form = {"teacher_id": str(classes["absent"].id), **form}
    with pytest.raises(InvalidInput) as refused:
        substitutes.create(school, SYSTEM, **form)
    assert refused.value.field == field


def test_only_a_teacher_of_this_school_can_be_stood_in_for(
    db, school, classes, make_school, make_user
):
    elsewhere = make_user(make_school(), "teacher")
    office = make_user(school, "office")
    for who in (elsewhere, office):
        with pytest.raises(InvalidInput):
            substitutes.create(school, SYSTEM, teacher_id=who.id, name="Sam")


def test_revoke_and_new_code_end_the_old_access(db, school, classes, make_school):
    created = substitutes.create(school, SYSTEM, teacher_id=classes["absent"].id, name="Sam")
    db.session.commit()
    substitutes.sign_in(created.code)
    before = live.current(school.id, ACCESS_TOPIC)
    again = substitutes.new_code(school, SYSTEM, created.assignment.id)
    assert again.assignment.session_token_hash is None  # the browser is signed out
    assert live.current(school.id, ACCESS_TOPIC) > before
    with pytest.raises(NotFound):
        substitutes.sign_in(created.code)  # the old code is gone
    with pytest.raises(NotFound):  # another school cannot end this one
        substitutes.revoke(make_school(), SYSTEM, created.assignment.id)
    substitutes.revoke(school, SYSTEM, created.assignment.id)
    assert substitutes.status(created.assignment) == "revoked"
    with pytest.raises(Conflict):
        substitutes.revoke(school, SYSTEM, created.assignment.id)
    with pytest.raises(NotFound):
        substitutes.sign_in(again.code)  # a revoked day's code does not work either


# ------------------------------------------------------------------ through the app


def test_office_adds_a_substitute_and_sees_the_code_once(
    app, db, client, school, classes, office_user, login
):
    login(office_user)
    form = {"teacher_id": classes["absent"].id, "name": "Sam Sub", "contact": "sam@example.org"}
    response = client.post("/substitutes", data=form)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    code = html.split('class="pairing-code"')[1].split(">")[1].split("<")[0]
    assert len(code.replace("-", "")) == 8
    listing = client.get("/substitutes").get_data(as_text=True)
    assert "Sam Sub" in listing and "Ann Absent" in listing and code not in listing
    bad = client.post("/substitutes", data={"teacher_id": classes["absent"].id, "name": ""})
    assert bad.status_code == 400 and "name" in bad.get_data(as_text=True)
    _signed_in(app, code)


def test_substitute_acts_on_the_absent_teachers_room_only(app, db, school, classes):
    created = substitutes.create(school, SYSTEM, teacher_id=classes["absent"].id, name="Sam")
    db.session.commit()
    sub = _signed_in(app, created.code)
    room, other_room = classes["room"], classes["other_room"]
    tablet = sub.get("/hallpass/").get_data(as_text=True)
    assert "Math 7" in tablet and "Art 7" not in tablet  # the absent teacher's classes
    assert "Sam" in tablet and 'class="badge sub"' in tablet and "for Ann Absent" in tablet
    math = db.session.scalar(select(SchoolClass.id).where(SchoolClass.name == "Math 7"))
    art = db.session.scalar(select(SchoolClass.id).where(SchoolClass.name == "Art 7"))
    assert "Maya" in sub.get(f"/hallpass/?class_id={math}").get_data(as_text=True)
    assert "Chen" not in sub.get(f"/hallpass/?class_id={art}").get_data(as_text=True)
    assert sub.get(f"/hallpass/rooms/{room.id}/passes").status_code == 200
    assert sub.get(f"/hallpass/rooms/{other_room.id}/passes").status_code == 403
    start = {"student_id": classes["students"][1].id, "destination_id": classes["destination"].id}
    assert sub.post("/hallpass/passes", data={**start, "room_id": other_room.id}).status_code == 403
    assert db.session.scalar(select(HallPass.id)) is None


@pytest.mark.parametrize(
    "path",
    [
        "/dashboard",
        "/admin/",
        "/admin/staff",
        "/account/password",
        "/account/invitations",
        "/devices/new",
        "/substitutes",
        "/hallpass/settings",
        "/hallpass/hallway",
        "/carline/dismissal",
    ],
)
def test_substitute_is_refused_every_page_beyond_a_teachers(app, db, school, classes, path):
    created = substitutes.create(school, SYSTEM, teacher_id=classes["absent"].id, name="Sam")
    db.session.commit()
    sub = _signed_in(app, created.code)
    assert sub.get(path).status_code == 403, path


def test_substitutes_actions_are_marked_in_the_audit_log_and_the_reports(
    app, db, client, school, classes, login, make_user
):
    created = substitutes.create(school, SYSTEM, teacher_id=classes["absent"].id, name="Sam Sub")
    db.session.commit()
    sub = _signed_in(app, created.code)
    maya = classes["students"][0]
    form = {
        "room_id": classes["room"].id,
        "student_id": maya.id,
        "destination_id": classes["destination"].id,
    }
    assert sub.post("/hallpass/passes", data=form).status_code == 200
    hall_pass = db.session.scalar(select(HallPass))
    assert hall_pass.substitute_id == created.assignment.id
    assert hall_pass.issued_by_id == classes["absent"].id
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "hallpass.start"))
    assert event.actor_label == "substitute: Sam Sub for ann@example.org"
    assert event.detail["substitute_id"] == created.assignment.id
    assert event.actor_user_id == classes["absent"].id
    signed_in = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "substitute.sign_in")
    )
    assert signed_in.detail["substitute_id"] == created.assignment.id

    admin = make_user(school, "admin")
    login(admin)
    report = client.get("/hallpass/reports").get_data(as_text=True)
    passes = report.split('class="table pass-table"')[1]
    row = passes.split("Reyes, Maya")[1].split("</tr>")[0]
    assert "Sam Sub" in row and 'class="badge sub"' in row and "Ann Absent" in row
    csv = client.get("/hallpass/reports/export.csv").get_data(as_text=True)
    header, line = csv.splitlines()[:2]
    assert header.endswith("issued by substitute") and line.endswith("Sam Sub")
    log = client.get("/admin/audit").get_data(as_text=True)
    assert "substitute: Sam Sub for ann@example.org" in log and 'class="badge sub"' in log


def test_revoke_ends_the_session_at_once(app, db, client, school, classes, office_user, login):
    created = substitutes.create(school, SYSTEM, teacher_id=classes["absent"].id, name="Sam")
    db.session.commit()
    sub = _signed_in(app, created.code)
    region = f"/hallpass/rooms/{classes['room'].id}/passes"
    assert sub.get(region).status_code == 200
    login(office_user)
    assert client.post(f"/substitutes/{created.assignment.id}/revoke").status_code == 302
    answer = sub.get(region, headers={"HX-Request": "true"})
    assert answer.status_code == 401 and answer.headers["HX-Redirect"] == "/substitute"
    assert f"{SUBSTITUTE_COOKIE}=;" in answer.headers.get("Set-Cookie", "")
    sub.set_cookie(SUBSTITUTE_COOKIE, "the-old-token", domain="passline.test")  # kept anyway
    again = sub.get("/hallpass/")
    assert again.status_code == 302 and again.headers["Location"] == "/substitute"
    assert "Your substitute access has ended" in sub.get("/substitute").get_data(as_text=True)
    assert "substitute.revoke" in set(db.session.scalars(select(AuditEvent.action)))


def test_the_session_ends_with_the_day(app, db, school, classes):
    created = substitutes.create(school, SYSTEM, teacher_id=classes["absent"].id, name="Sam")
    db.session.commit()
    sub = _signed_in(app, created.code)
    assert sub.get("/hallpass/").status_code == 200
    db.session.execute(  # the school's day is over
        update(SubstituteAssignment).values(
            expires_at=utcnow() - timedelta(seconds=1), created_at=utcnow() - timedelta(hours=9)
        )
    )
    db.session.commit()
    assert sub.get("/hallpass/").status_code == 302


def test_signing_out_ends_the_session(app, db, school, classes):
    created = substitutes.create(school, SYSTEM, teacher_id=classes["absent"].id, name="Sam")
    db.session.commit()
    sub = _signed_in(app, created.code)
    assert sub.post("/substitute/sign-out").status_code == 302
    assert db.session.scalar(select(SubstituteAssignment.session_token_hash)) is None
    assert sub.get("/hallpass/").status_code == 302


def test_wrong_codes_are_answered_clearly_and_throttled(app, db, client, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_FAILURES_PER_ADDRESS", 3)
    assert client.post("/substitute", data={"code": "short"}).status_code == 400
    assert client.post("/substitute", data={"code": "ABCD-EFGH"}).status_code == 404
    assert client.post("/substitute", data={"code": "ABCD-EFGJ"}).status_code == 404
    refused = client.post("/substitute", data={"code": "ABCD-EFGK"})
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    assert "substitute.sign_in_failed" in set(db.session.scalars(select(AuditEvent.action)))


def test_a_substitutes_day_is_purged_with_the_audit_log(app, db, school, classes):
    from shared import retention

    created = substitutes.create(school, SYSTEM, teacher_id=classes["absent"].id, name="Sam")
    kept = substitutes.create(school, SYSTEM, teacher_id=classes["absent"].id, name="Pat")
    db.session.commit()
    days = retention.policy(school)["audit_days"]
    long_ago = utcnow() - timedelta(days=days + 1)
    db.session.execute(
        update(SubstituteAssignment)
        .where(SubstituteAssignment.id == created.assignment.id)
        .values(created_at=long_ago - timedelta(hours=1), expires_at=long_ago)
    )
    db.session.commit()
    assert retention.purge_school(school)["substitute_assignments"] == 1
    remaining = db.session.scalars(select(SubstituteAssignment.id)).all()
    assert remaining == [kept.assignment.id]


# ------------------------------------------------------------------ by mail


@pytest.fixture
def mail_on(app):
    """The app sends mail to an SMTP server of the test's own (aiosmtpd on 127.0.0.1)."""
    server = OwnSMTP()
    server.start()
    settings = {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": server.port,
        "SMTP_SECURITY": "none",
        "SMTP_USER": "",
        "SMTP_PASSWORD": "",
        "SMTP_TIMEOUT_SECONDS": 5.0,
        "MAIL_FROM": "passline@example.org",
        "PUBLIC_URL": PUBLIC_URL,
    }
    saved = {key: app.config.get(key) for key in settings}
    app.config.update(settings)
    server.settle = mail.sender(app).wait_idle
    yield server
    mail.sender(app).stop()
    app.config.update(saved)
    server.stop()


def _attempted(db, timeout: float = 10.0) -> OutboxMail:
    """The outbox's mail once the background sender's attempt has an outcome."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        db.session.rollback()
        outbox = db.session.scalar(select(OutboxMail))
        if outbox.sent_at or outbox.failed_at or outbox.last_error:
            return outbox
        time.sleep(0.05)
    raise AssertionError("the background sender made no attempt")


def test_the_code_is_mailed_when_an_email_is_given(
    app, db, client, school, classes, office_user, login, mail_on
):
    login(office_user)
    form = {"teacher_id": classes["absent"].id, "name": "Sam Sub", "contact": "sam@example.org"}
    page = client.post("/substitutes", data=form).get_data(as_text=True)
    shown = page.split('class="pairing-code"')[1].split(">")[1].split("<")[0]
    assert "sam@example.org" in page
    (message,) = mail_on.wait_for(1)
    assert message["To"] == "sam@example.org"
    content = message.get_content()
    assert shown in content and f"{PUBLIC_URL}/substitute" in content and "Ann Absent" in content
    outbox = _attempted(db)
    assert outbox.sent_at is not None and outbox.substitute_id is not None
    assert shown not in outbox.body and mail.CODE_MARK in outbox.body  # never stored
    row = db.session.scalar(select(SubstituteAssignment))
    assert row.code_nonce is None  # nothing left to rebuild the code from
    _signed_in(app, shown)


def test_no_mail_for_a_phone_number_or_without_smtp(app, db, school, classes, mail_on):
    phoned = substitutes.create(
        school, SYSTEM, teacher_id=classes["absent"].id, name="Sam", contact="555-0100"
    )
    assert not phoned.mailed and phoned.assignment.code_nonce is None
    app.config["SMTP_HOST"] = ""
    unsent = substitutes.create(
        school, SYSTEM, teacher_id=classes["absent"].id, name="Pat", contact="pat@example.org"
    )
    assert not unsent.mailed and unsent.assignment.code_nonce is None
    db.session.commit()
    assert db.session.scalar(select(OutboxMail.id)) is None


def test_a_mail_whose_code_was_used_before_it_left_is_not_sent(app, db, school, classes, mail_on):
    created = substitutes.create(
        school, SYSTEM, teacher_id=classes["absent"].id, name="Sam", contact="sam@example.org"
    )
    assert created.mailed
    substitutes.sign_in(created.code)  # used at the office before the mail went out
    db.session.commit()
    outbox = _attempted(db)
    assert outbox.sent_at is None and outbox.failed_at is not None
    assert "used, replaced or expired" in outbox.last_error
    assert mail_on.messages == []

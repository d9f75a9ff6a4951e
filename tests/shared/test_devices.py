"""Pairing codes, paired device sessions bound to one screen, revocation, last seen."""

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from shared import pairing
from shared.access import DEVICE_COOKIE
from shared.models import AuditEvent, Device, PairingCode, SchoolClass
from shared.timeutil import utcnow
from tests.helpers import PASSWORD, audit_actions


def create_code(client, **form) -> str:
    response = client.post("/devices/new", data=form)
    assert response.status_code == 200, response.get_data(as_text=True)[:400]
    match = re.search(
        r'class="pairing-code"[^>]*>([A-Z0-9]{4}-[A-Z0-9]{4})<', response.get_data(as_text=True)
    )
    assert match, "no code shown"
    return match.group(1)


@pytest.fixture
def admin_client(client, school, make_user, login):
    login(make_user(school, "admin"))
    return client


def test_admin_pairs_a_kiosk_and_it_reaches_only_its_screen(
    app, db, admin_client, school, make_room
):
    room = make_room(school, "114")
    code = create_code(admin_client, kind="kiosk", label="Room 114 kiosk", room_id=room.id)
    tablet = app.test_client()
    response = tablet.post("/pair", data={"code": code.lower().replace("-", " ")})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/device")
    assert tablet.get_cookie(DEVICE_COOKIE, domain="passline.test").http_only
    home = tablet.get("/device")
    assert home.status_code == 200
    assert b"Room 114 kiosk" in home.data and b"114" in home.data
    assert tablet.get("/").headers["Location"].endswith("/device")
    for staff_page in (
        "/dashboard",
        "/admin/",
        "/hallpass/",
        "/carline/",
        "/devices",
        "/devices/new",
        "/admin/audit",
        "/account/password",
    ):
        assert tablet.get(staff_page).status_code == 403, staff_page
    device = db.session.scalar(select(Device))
    assert (device.kind, device.room_id, device.school_id) == ("kiosk", room.id, school.id)
    assert "device.pair" in audit_actions(db)


def test_code_works_only_once(app, admin_client, school):
    code = create_code(admin_client, kind="scanner", label="Curb phone 1")
    assert app.test_client().post("/pair", data={"code": code}).status_code == 302
    second = app.test_client().post("/pair", data={"code": code})
    assert second.status_code == 404
    assert b"not valid" in second.data


def test_expired_code_is_refused(app, db, admin_client):
    code = create_code(admin_client, kind="scanner", label="Curb phone 1")
    record = db.session.scalar(select(PairingCode))
    record.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert app.test_client().post("/pair", data={"code": code}).status_code == 404


@pytest.mark.parametrize("bad", ["", "abc", "ZZZZ-ZZZZ", "x" * 5000, "ÄÖÜ-ß∑œ", "' OR 1=1 --"])
def test_malformed_codes_get_a_clear_4xx(client, bad):
    response = client.post("/pair", data={"code": bad})
    assert response.status_code in (400, 404)
    assert b"flash-error" in response.data


def test_racing_devices_cannot_both_redeem_one_code(app, db, admin_client):
    code = create_code(admin_client, kind="display", label="Office TV", purpose="dismissal")

    def redeem(_):
        return app.test_client().post("/pair", data={"code": code}).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(redeem, range(6)))
    assert sorted(statuses) == [302] + [404] * 5
    db.session.rollback()
    assert db.session.scalar(select(func.count(Device.id))) == 1


def test_revoked_device_stops_at_once(app, db, admin_client):
    code = create_code(admin_client, kind="scanner", label="Curb phone 1")
    phone = app.test_client()
    phone.post("/pair", data={"code": code})
    assert phone.get("/device").status_code == 200
    device = db.session.scalar(select(Device))
    listing = admin_client.get("/devices")
    assert b"Curb phone 1" in listing.data
    assert admin_client.post(f"/devices/{device.id}/revoke").status_code == 302
    response = phone.get("/device")
    assert response.status_code == 302  # no longer a device: sent to sign in
    assert (
        phone.get_cookie(DEVICE_COOKIE, domain="passline.test") is None
    )  # the dead cookie is deleted
    assert "device.revoke" in audit_actions(db)
    assert admin_client.post(f"/devices/{device.id}/revoke").status_code == 400


def test_admin_cannot_revoke_another_schools_device(app, db, client, make_school, make_user, login):
    here, there = make_school(), make_school()
    login(make_user(here, "admin"))
    other_admin = login(make_user(there, "admin"), on=app.test_client())
    code = create_code(other_admin, kind="scanner", label="Their phone")
    app.test_client().post("/pair", data={"code": code})
    device = db.session.scalar(select(Device))
    assert client.post(f"/devices/{device.id}/revoke").status_code == 404
    assert b"Their phone" not in client.get("/devices").data
    db.session.rollback()
    assert db.session.get(Device, device.id).revoked_at is None


def test_device_can_unpair_itself_with_a_staff_members_sign_in(
    app, db, admin_client, school, make_school, make_user
):
    """A student at the kiosk cannot unpair it: a staff member of the school confirms."""
    code = create_code(admin_client, kind="scanner", label="Curb phone 1")
    kiosk = app.test_client()
    kiosk.post("/pair", data={"code": code})
    page = kiosk.get("/device").get_data(as_text=True)
    assert "Staff email" in page
    stranger = make_user(make_school(), "admin")
    teacher = make_user(school, "teacher")
    db.session.commit()
    for tried in (
        {},  # a student taps "Unpair"
        {"email": teacher.email, "password": "not-it"},
        {"email": stranger.email, "password": PASSWORD},  # staff of another school
    ):
        refused = kiosk.post("/device/unpair", data=tried)
        assert refused.status_code == 400
        assert "not the email and password of a staff member" in refused.get_data(as_text=True)
    assert not db.session.scalar(select(Device)).is_revoked
    assert kiosk.get("/device").status_code == 200
    assert audit_actions(db).count("device.unpair_refused") == 3
    done = kiosk.post("/device/unpair", data={"email": teacher.email, "password": PASSWORD})
    assert done.status_code == 302 and done.headers["Location"] == "/pair"
    assert kiosk.get("/device").status_code == 302
    db.session.expire_all()
    assert db.session.scalar(select(Device)).is_revoked
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "device.unpair"))
    assert event.actor_user_id == teacher.id and event.actor_device_id is not None


def test_unpair_tries_are_throttled_like_sign_ins(app, db, admin_client, school, make_user):
    code = create_code(admin_client, kind="scanner", label="Curb phone 1")
    kiosk = app.test_client()
    kiosk.post("/pair", data={"code": code})
    teacher = make_user(school, "teacher")
    db.session.commit()
    answers = [
        kiosk.post("/device/unpair", data={"email": teacher.email, "password": f"guess{n}"})
        for n in range(8)
    ]
    assert "Too many tries" in answers[-1].get_data(as_text=True)
    right = kiosk.post("/device/unpair", data={"email": teacher.email, "password": PASSWORD})
    assert right.status_code == 400  # even the right password waits out the limit
    assert not db.session.scalar(select(Device)).is_revoked


def test_teacher_pairs_only_rooms_they_teach_in(db, client, school, make_user, make_room, login):
    teacher = make_user(school, "teacher")
    mine, other = make_room(school, "201"), make_room(school, "202")
    section = SchoolClass(school_id=school.id, name="Math 7", room_id=mine.id, period="1")
    section.teachers.append(teacher)
    db.session.add(section)
    db.session.commit()
    login(teacher)
    form = client.get("/devices/new").get_data(as_text=True)
    assert ">201<" in form and ">202<" not in form
    assert "Curb scanner" not in form
    create_code(client, kind="classroom-display", label="201 screen", room_id=mine.id)
    refused = client.post("/devices/new", data={"kind": "kiosk", "label": "x", "room_id": other.id})
    assert refused.status_code == 400
    assert client.post("/devices/new", data={"kind": "scanner", "label": "x"}).status_code == 403
    assert client.get("/devices").status_code == 403  # the device list is for admins


@pytest.mark.parametrize(
    "form",
    [
        {"kind": "kiosk", "label": "no room"},
        {"kind": "display", "label": "no purpose"},
        {"kind": "display", "label": "bad purpose", "purpose": "cinema"},
        {"kind": "scanner", "label": ""},
        {"kind": "scanner", "label": "x" * 101},
        {"kind": "toaster", "label": "x"},
        {"kind": "kiosk", "label": "x", "room_id": "not-a-number"},
    ],
)
def test_bad_pairing_forms_are_refused_without_writing(db, admin_client, form):
    response = admin_client.post("/devices/new", data=form)
    assert 400 <= response.status_code < 500
    assert db.session.scalar(select(func.count(PairingCode.id))) == 0


def test_last_seen_is_written_at_most_once_a_minute(app, db, admin_client):
    code = create_code(admin_client, kind="scanner", label="Curb phone 1")
    phone = app.test_client()
    phone.post("/pair", data={"code": code})
    device = db.session.scalar(select(Device))
    first = device.last_seen_at
    phone.get("/device")
    db.session.rollback()
    assert db.session.get(Device, device.id).last_seen_at == first
    device.last_seen_at = utcnow() - pairing.LAST_SEEN_EVERY - timedelta(seconds=1)
    db.session.commit()
    phone.get("/device")
    db.session.rollback()
    assert db.session.get(Device, device.id).last_seen_at > first


def test_pairing_page_qr_keeps_the_code_out_of_the_url_path(admin_client):
    response = admin_client.post("/devices/new", data={"kind": "scanner", "label": "Phone"})
    html = response.get_data(as_text=True)
    assert "<svg" in html
    assert "?code=" not in html


def test_a_device_writing_after_a_quiet_minute_is_not_blocked_by_its_last_seen_update(
    app, db, admin_client, school, make_user
):
    """The last-seen update must not wait for the write lock its own request holds."""
    code = create_code(admin_client, kind="scanner", label="Curb phone 1")
    phone = app.test_client()
    phone.post("/pair", data={"code": code})
    device = db.session.scalar(select(Device))
    staff = {"email": make_user(school, "office").email, "password": PASSWORD}
    quiet_since = utcnow() - pairing.LAST_SEEN_EVERY - timedelta(seconds=5)
    device.last_seen_at = quiet_since
    db.session.commit()
    busy_timeout = None
    if db.engine.dialect.name == "sqlite":
        from shared import database

        busy_timeout, database.SQLITE_BUSY_TIMEOUT_MS = database.SQLITE_BUSY_TIMEOUT_MS, 500
        db.engine.dispose()  # new connections pick up the short timeout
    try:
        assert phone.post("/device/unpair", data=staff).status_code == 302
    finally:
        if busy_timeout is not None:
            from shared import database

            database.SQLITE_BUSY_TIMEOUT_MS = busy_timeout
            db.engine.dispose()
    db.session.rollback()
    refreshed = db.session.get(Device, device.id)
    assert refreshed.is_revoked and refreshed.last_seen_at > quiet_since

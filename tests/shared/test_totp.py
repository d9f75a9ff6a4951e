"""Two-factor sign-in (RFC 6238): the code step, enrolment, recovery codes, the district's
rule, a district admin's reset, reuse and throttling. Codes are computed with pyotp from
the secret, as an authenticator app computes them."""

import re
import threading
import time

import pyotp
from sqlalchemy import select

from shared import totp
from shared.audit import Actor
from shared.models import AuditEvent, RecoveryCode, User
from tests.helpers import PASSWORD, audit_actions


def _step() -> int:
    return int(time.time()) // 30


def _code(secret: str, offset: int = 0) -> str:
    return pyotp.TOTP(secret).generate_otp(_step() + offset)


def _enrolled(db, user: User) -> tuple[str, list[str]]:
    """Turn two-factor on for `user` with the previous step's code; (secret, recovery codes)."""
    secret = totp.enrolment(user).secret
    codes = totp.confirm_enrolment(user, _code(secret, -1), actor=Actor(user=user))
    db.session.commit()
    return secret, codes


def _password(client, user):
    return client.post("/login", data={"email": user.email, "password": PASSWORD})


def test_an_admin_with_two_factor_signs_in_with_a_code(client, db, school, make_user):
    admin = make_user(school, "admin")
    secret, _ = _enrolled(db, admin)
    first = _password(client, admin)
    assert first.status_code == 302 and first.headers["Location"].endswith("/login/code")
    assert client.get("/dashboard").status_code == 302  # a right password alone admits nothing
    assert client.get("/login/code").status_code == 200
    done = client.post("/login/code", data={"code": _code(secret)})
    assert done.status_code == 302 and done.headers["Location"].endswith("/")
    assert client.get("/admin/").status_code == 200
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "auth.login").order_by(AuditEvent.id.desc())
    )
    assert event.detail == {"second_factor": "totp"} and event.actor_user_id == admin.id
    assert "auth.password_ok" in audit_actions(db)


def test_a_code_is_refused_the_second_time(app, db, school, make_user):
    admin = make_user(school, "admin")
    secret, _ = _enrolled(db, admin)
    code = _code(secret)
    first, second = app.test_client(), app.test_client()
    _password(first, admin)
    assert first.post("/login/code", data={"code": code}).status_code == 302
    _password(second, admin)
    again = second.post("/login/code", data={"code": code})
    assert again.status_code == 401 and b"used already" in again.data
    assert second.get("/dashboard").status_code == 302
    assert "auth.totp_failed" in audit_actions(db)


def test_two_requests_with_one_code_at_once_sign_in_once(app, db, school, make_user):
    admin = make_user(school, "admin")
    secret, _ = _enrolled(db, admin)
    clients = [app.test_client() for _ in range(4)]
    for client in clients:
        _password(client, admin)
    code, codes = _code(secret), []

    def send(client):
        codes.append(client.post("/login/code", data={"code": code}).status_code)

    threads = [threading.Thread(target=send, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(codes) == [302, 401, 401, 401]


def test_wrong_codes_are_throttled(client, db, school, make_user):
    admin = make_user(school, "admin")
    secret, _ = _enrolled(db, admin)
    _password(client, admin)
    codes = [client.post("/login/code", data={"code": "000000"}).status_code for _ in range(6)]
    assert codes == [401] * 5 + [429]
    refused = client.post("/login/code", data={"code": _code(secret)})  # even the right one
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert "auth.totp_throttled" in audit_actions(db)


def test_a_recovery_code_signs_in_once(app, db, school, make_user):
    admin = make_user(school, "admin")
    _secret, codes = _enrolled(db, admin)
    assert len(codes) == 10 and len(set(codes)) == 10
    stored = db.session.scalars(select(RecoveryCode.code_hash)).all()
    assert not set(codes) & set(stored)  # only hashes are stored
    client = app.test_client()
    _password(client, admin)
    done = client.post("/login/code", data={"code": codes[3].upper().replace("-", " ")})
    assert done.status_code == 302
    assert b"9 left" in client.get("/dashboard", follow_redirects=True).data
    other = app.test_client()
    _password(other, admin)
    assert other.post("/login/code", data={"code": codes[3]}).status_code == 401


def test_the_district_requires_it_and_an_admin_enrols_at_sign_in(
    app, client, db, school, make_user
):
    district = make_user(None, email="it@example.org", district=True)
    totp.set_admins_must_use_it(Actor(user=district), True)
    db.session.commit()
    admin = make_user(school, "admin")
    teacher = make_user(school, "teacher")
    # Others stay optional: the teacher signs in with a password.
    assert _password(app.test_client(), teacher).headers["Location"].endswith("/")
    first = _password(client, admin)
    assert first.headers["Location"].endswith("/login/two-factor-setup")
    page = client.get("/login/two-factor-setup").get_data(as_text=True)
    assert '<svg class="qr-code"' in page
    secret = re.search(r'class="totp-secret">([A-Z2-7 ]+)<', page).group(1).replace(" ", "")
    wrong = client.post("/login/two-factor-setup", data={"code": "123456"})
    assert wrong.status_code == 400 and b"not right" in wrong.data
    done = client.post("/login/two-factor-setup", data={"code": _code(secret)})
    assert done.status_code == 200 and b"recovery codes" in done.data
    assert (
        len(
            re.findall(
                r"<li><code>[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}</code>",
                done.get_data(as_text=True),
            )
        )
        == 10
    )
    assert client.get("/admin/").status_code == 200
    db.session.rollback()
    assert db.session.get(User, admin.id).totp_enabled_at is not None
    assert "auth.totp_enable" in audit_actions(db)
    # Required: it cannot be turned off by its owner.
    off = client.post("/account/two-factor/off", data={"code": _code(secret, 1)})
    assert off.status_code == 403


def test_a_teacher_may_turn_it_on_and_off(client, db, school, make_user, login):
    teacher = make_user(school, "teacher")
    login(teacher)
    assert b"Set up two-factor" in client.get("/account/two-factor").data
    page = client.get("/account/two-factor/setup").get_data(as_text=True)
    secret = re.search(r'class="totp-secret">([A-Z2-7 ]+)<', page).group(1).replace(" ", "")
    assert (
        client.post("/account/two-factor/setup", data={"code": _code(secret, -1)}).status_code
        == 200
    )
    assert b"10 recovery codes left." in client.get("/account/two-factor").data
    bad = client.post("/account/two-factor/off", data={"code": "999999"})
    assert bad.status_code == 400
    assert client.post("/account/two-factor/off", data={"code": _code(secret)}).status_code == 302
    db.session.rollback()
    user = db.session.get(User, teacher.id)
    assert user.totp_secret is None and user.totp_enabled_at is None
    assert [a for a in audit_actions(db) if a.startswith("auth.totp")] == [
        "auth.totp_enable",
        "auth.totp_disable",
    ]


def test_only_a_district_admin_resets_a_second_factor(app, db, school, make_user, login):
    person = make_user(school, "admin")
    _enrolled(db, person)
    school_admin = make_user(school, "admin")
    district = make_user(school, "admin", district=True)
    as_school_admin = login(school_admin, on=app.test_client())
    assert as_school_admin.post(f"/admin/staff/{person.id}/two-factor-reset").status_code == 403
    as_district = login(district, on=app.test_client())
    assert b"Reset two-factor" in as_district.get(f"/admin/staff/{person.id}").data
    assert as_district.post(f"/admin/staff/{person.id}/two-factor-reset").status_code == 302
    db.session.rollback()
    reset = db.session.get(User, person.id)
    assert reset.totp_secret is None and reset.totp_enabled_at is None
    assert db.session.scalar(select(RecoveryCode)) is None
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "staff.totp_reset"))
    assert event.actor_user_id == district.id and event.target_id == person.id
    # Signs in with the password alone now (the district does not require it).
    assert _password(app.test_client(), person).headers["Location"].endswith("/")


def test_only_a_district_admin_changes_the_district_rule(app, db, school, make_user, login):
    school_admin = login(make_user(school, "admin"), on=app.test_client())
    assert school_admin.get("/admin/district").status_code == 200
    assert school_admin.post("/admin/district", data={"totp": "1"}).status_code == 403
    assert not totp.admins_must_use_it()
    district = login(make_user(school, "admin", district=True), on=app.test_client())
    assert district.post("/admin/district", data={"totp": "1"}).status_code == 302
    db.session.rollback()
    assert totp.admins_must_use_it()
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "district.settings"))
    assert event.detail["after"] is True and event.detail["before"] is False


def test_a_pending_sign_in_expires_and_a_password_reset_voids_it(
    app, client, db, school, make_user, monkeypatch
):
    admin = make_user(school, "admin")
    secret, _ = _enrolled(db, admin)
    _password(client, admin)
    admin.session_nonce = "changed-by-a-password-reset"
    db.session.commit()
    voided = client.post("/login/code", data={"code": _code(secret)})
    assert voided.status_code == 302 and voided.headers["Location"].endswith("/login")
    _password(client, admin)
    monkeypatch.setattr("shared.two_factor_views.PENDING_SECONDS", -1)
    late = client.post("/login/code", data={"code": _code(secret)})
    assert late.status_code == 302 and late.headers["Location"].endswith("/login")
    assert client.get("/dashboard").status_code == 302

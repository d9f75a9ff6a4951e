"""Sign-in, sign-out, password changes, deactivation and the session rules around them."""

from sqlalchemy import select

from shared.models import AuditEvent, User
from shared.passwords import hash_password, needs_rehash, verify_password
from tests.helpers import PASSWORD, audit_actions


def test_password_hash_is_argon2id_at_owasp_parameters():
    encoded = hash_password("a long enough password")
    assert encoded.startswith("$argon2id$")
    params = dict(p.split("=") for p in encoded.split("$")[3].split(","))
    # OWASP: argon2id, m >= 19 MiB, t >= 2, p = 1
    assert int(params["m"]) >= 19 * 1024
    assert int(params["t"]) >= 2
    assert int(params["p"]) == 1
    assert verify_password(encoded, "a long enough password")
    assert not verify_password(encoded, "a wrong password")
    assert not verify_password(None, "anything")


def test_weaker_hash_is_upgraded_at_sign_in(client, db, school, make_user):
    from argon2 import PasswordHasher

    user = make_user(school, "teacher")
    user.password_hash = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    db.session.commit()
    assert needs_rehash(user.password_hash)
    client.post("/login", data={"email": user.email, "password": PASSWORD})
    db.session.rollback()
    assert not needs_rehash(db.session.get(User, user.id).password_hash)


def test_login_success_lands_on_dashboard_and_is_audited(client, db, school, make_user):
    user = make_user(school, "teacher", email="t@example.org")
    response = client.post("/login", data={"email": "T@Example.org ", "password": PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/")
    page = client.get("/dashboard")
    assert page.status_code == 200
    assert user.name.encode() in page.data
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "auth.login"))
    assert event.actor_user_id == user.id and event.school_id == school.id
    assert event.client_address == "127.0.0.1"


def test_wrong_password_is_refused_and_audited_without_the_password(client, db, school, make_user):
    user = make_user(school, "teacher")
    response = client.post("/login", data={"email": user.email, "password": "not-the-password"})
    assert response.status_code == 401
    assert b"Email or password is incorrect." in response.data
    assert client.get("/dashboard").status_code == 302  # still signed out
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "auth.login_failed"))
    assert event.detail == {"email": user.email, "reason": "bad password"}
    assert "not-the-password" not in str(event.detail)


def test_unknown_account_gets_the_same_message(client, db):
    response = client.post("/login", data={"email": "nobody@example.org", "password": "x" * 12})
    assert response.status_code == 401
    assert b"Email or password is incorrect." in response.data
    assert audit_actions(db) == ["auth.login_failed"]


def test_login_with_missing_fields_is_a_clear_4xx(client):
    assert client.post("/login", data={}).status_code == 401


def test_deactivated_user_cannot_sign_in(client, school, make_user):
    user = make_user(school, "teacher", active=False)
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 401
    assert b"deactivated" in response.data


def test_deactivation_ends_an_open_session(client, db, school, make_user, login):
    user = make_user(school, "teacher")
    login(user)
    assert client.get("/dashboard").status_code == 200
    db.session.get(User, user.id).active = False
    db.session.commit()
    assert client.get("/dashboard").status_code == 302  # back to sign-in


def test_logout_is_post_only_and_ends_the_session(client, school, make_user, login):
    user = make_user(school, "teacher")
    login(user)
    assert client.get("/logout").status_code == 405
    response = client.post("/logout")
    assert response.status_code == 302
    assert client.get("/dashboard").status_code == 302


def test_next_parameter_cannot_redirect_off_site(client, school, make_user):
    user = make_user(school, "teacher")
    for evil in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)"):
        response = client.post(
            "/login", data={"email": user.email, "password": PASSWORD, "next": evil}
        )
        assert response.headers["Location"] in ("/", "http://passline.test/"), evil
        client.post("/logout")
    response = client.post(
        "/login", data={"email": user.email, "password": PASSWORD, "next": "/hallpass/"}
    )
    assert response.headers["Location"] == "/hallpass/"


def test_change_password_ends_other_sessions(app, client, db, school, make_user, login):
    user = make_user(school, "teacher")
    other = login(user, on=app.test_client())
    login(user)
    response = client.post(
        "/account/password",
        data={
            "current_password": PASSWORD,
            "new_password": "a brand new secret",
            "confirm_password": "a brand new secret",
        },
    )
    assert response.status_code == 302
    assert client.get("/dashboard").status_code == 200  # this session goes on
    assert other.get("/dashboard").status_code == 302  # the other one ended
    db.session.rollback()
    assert verify_password(db.session.get(User, user.id).password_hash, "a brand new secret")
    assert "auth.password_change" in audit_actions(db)


def test_change_password_rejects_bad_input(client, school, make_user, login):
    login(make_user(school, "teacher"))
    cases = [
        (
            {"current_password": "wrong", "new_password": "x" * 12, "confirm_password": "x" * 12},
            b"current password",
        ),
        (
            {"current_password": PASSWORD, "new_password": "x" * 12, "confirm_password": "y" * 12},
            b"not the same",
        ),
        (
            {"current_password": PASSWORD, "new_password": "short", "confirm_password": "short"},
            b"at least 10",
        ),
    ]
    for data, message in cases:
        response = client.post("/account/password", data=data)
        assert response.status_code == 400
        assert message in response.data


def test_switch_school_only_to_own_schools(client, make_school, make_user, login):
    first, second, third = make_school(), make_school(), make_school()
    user = make_user(first, "teacher")
    from shared.extensions import db
    from shared.models import Membership

    db.session.add(Membership(user_id=user.id, school_id=second.id, role="office"))
    db.session.commit()
    login(user)
    assert client.post("/school", data={"school_id": second.id}).status_code == 302
    assert second.name.encode() in client.get("/dashboard").data
    assert client.post("/school", data={"school_id": third.id}).status_code == 403
    assert client.post("/school", data={"school_id": "nonsense"}).status_code == 403


def test_csrf_is_required_on_login_and_accepted_from_the_form(csrf_app, school, make_user):
    from tests.helpers import csrf_token_from

    user = make_user(school, "teacher")
    client = csrf_app.test_client()
    no_token = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert no_token.status_code == 400
    assert b"expired" in no_token.data
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    ok = client.post(
        "/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token}
    )
    assert ok.status_code == 302


def test_htmx_requests_send_csrf_in_a_header(csrf_app, school, make_user):
    from tests.helpers import csrf_token_from

    user = make_user(school, "teacher")
    client = csrf_app.test_client()
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    client.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token})
    page = client.get("/dashboard").get_data(as_text=True)
    assert 'hx-headers=\'{"X-CSRFToken": "' in page
    header_token = page.split('"X-CSRFToken": "')[1].split('"')[0]
    assert client.post("/logout", headers={"HX-Request": "true"}).status_code == 400
    response = client.post("/logout", headers={"HX-Request": "true", "X-CSRFToken": header_token})
    assert response.status_code == 302

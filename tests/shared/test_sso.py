"""Single sign-on against a real OpenID provider (tests/oidc, `oidc-provider` on Node).

The app's code is the real one (Authlib's Flask client, no mock): the test client starts
the sign-in, a `requests` session plays the person at the provider's page, and the
provider's redirect comes back to the app's callback. Misbehaving providers
(`<issuer>/rogue/<mode>`) send ID tokens with a wrong audience, a wrong issuer, an
expired one, a forged signature, a wrong nonce, none at all.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import threading
import time

import pytest
from sqlalchemy import select

from shared import sso, sso_providers, throttle
from shared.access import Principal
from shared.models import AuditEvent, Membership, SsoIdentity, SsoProvider, User
from tests.helpers import PASSWORD, audit_actions
from tests.oidc_provider import needs_node, path_of, running_provider, sign_in_at_provider
from tests.redis_server import REDIS_SERVER, own_redis

pytestmark = needs_node

APP_ORIGIN = "http://passline.test"
CLIENT_ID = "passline-tests"
CLIENT_SECRET = "provider-secret-that-must-never-show-7f3a9"
TENANT = "7a1f3c2e-0b5d-4e8f-9a6b-1c2d3e4f5a6b"
ROGUE_MODES = (
    "tampered",
    "wrong-audience",
    "wrong-issuer",
    "expired",
    "bad-signature",
    "wrong-nonce",
    "no-id-token",
    "rotated",
)
KEYS = ("district", "google", "entra", "selfreg", *(f"rogue-{m}" for m in ROGUE_MODES))


def _user(email: str, *, verified: bool = True, **claims) -> dict:
    return {
        "password": "provider-pw",
        "claims": {"email": email, "email_verified": verified, "name": email, **claims},
    }


USERS = {
    "teacher": _user("teacher@district.test", hd="district.test", tid=TENANT),
    "unverified": _user("unverified@district.test", verified=False),
    "outsider": _user("someone@elsewhere.test"),
    "stranger": _user("stranger@district.test"),
    "gone": _user("gone@district.test"),
    "newbie": _user("newbie@join.test"),
    "personal": _user("teacher@district.test"),  # same email, no hd, other sub
    "other-tenant": _user("teacher@district.test", tid="00000000-0000-0000-0000-000000000000"),
}


@pytest.fixture(scope="session")
def oidc(tmp_path_factory):
    clients = [
        {
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "redirect_uris": [f"{APP_ORIGIN}/sso/{key}/callback" for key in KEYS],
        }
    ]
    with running_provider(tmp_path_factory.mktemp("oidc"), clients, USERS) as provider:
        yield provider


@pytest.fixture
def district_admin(school, make_user) -> User:
    return make_user(school, "admin", email="it@district.test", district=True)


@pytest.fixture
def add_provider(db, school, district_admin, oidc):
    """Store a provider as a district admin would (through the service)."""

    def add(key: str = "district", *, kind: str = "oidc", issuer: str | None = None, **values):
        settings = {
            "key": key,
            "kind": kind,
            "issuer": issuer if issuer is not None else oidc.issuer,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "domains": "district.test",
            "password_sign_in": "on",
            **values,
        }
        row = sso_providers.add_provider(Principal(school=school, user=district_admin), settings)
        db.session.commit()
        return row

    return add


def start(client, key: str, next_path: str = ""):
    response = client.get(f"/sso/{key}/start", query_string={"next": next_path})
    assert response.status_code == 302, response.get_data(as_text=True)[:800]
    return response.headers["Location"]


def sso_sign_in(client, key: str, username: str, next_path: str = ""):
    """The whole round trip: passline -> provider's page -> passline's callback."""
    authorize = start(client, key, next_path)
    back = sign_in_at_provider(authorize, username, "provider-pw", APP_ORIGIN)
    return client.get(path_of(back)), back


def refusals(db) -> list[dict]:
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "sso.refused").order_by(AuditEvent.id)
    )
    return [event.detail for event in events]


def test_teacher_signs_in_and_lands_where_they_started(client, db, school, make_user, add_provider):
    teacher = make_user(school, "teacher", email="teacher@district.test")
    add_provider()
    response, _ = sso_sign_in(client, "district", "teacher", next_path="/hallpass/")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/hallpass/")
    # The session is the usual server-side one: the tablet opens, sign-out ends it.
    assert client.get("/hallpass/").status_code == 200
    identity = db.session.scalar(select(SsoIdentity))
    assert (identity.user_id, identity.provider_key, identity.subject) == (
        teacher.id,
        "district",
        "teacher",
    )
    assert "sso.login" in audit_actions(db, target_id=teacher.id)
    assert client.post("/logout").status_code == 302
    assert client.get("/hallpass/").status_code == 302  # back to sign-in


def test_the_authorization_request_uses_pkce_state_and_nonce(client, add_provider, oidc):
    add_provider()
    authorize = start(client, "district")
    assert authorize.startswith(f"{oidc.issuer}/auth?")
    for parameter in ("code_challenge=", "code_challenge_method=S256", "state=", "nonce="):
        assert parameter in authorize
    assert "scope=openid+email+profile" in authorize


def test_roles_come_from_passline_only(client, db, school, make_user, add_provider):
    teacher = make_user(school, "staff", email="teacher@district.test")
    add_provider()
    sso_sign_in(client, "district", "teacher")
    roles = db.session.scalars(select(Membership.role).where(Membership.user_id == teacher.id))
    assert list(roles) == ["staff"]
    assert client.get("/admin/").status_code == 403


def test_a_new_session_at_sign_in(client, school, make_user, add_provider, login):
    """A session cookie from before the sign-in is not the one after (no fixation)."""
    make_user(school, "teacher", email="teacher@district.test")
    add_provider()
    authorize = start(client, "district")
    before = client.get_cookie("passline_session", domain="passline.test").value
    back = sign_in_at_provider(authorize, "teacher", "provider-pw", APP_ORIGIN)
    assert client.get(path_of(back)).status_code == 302
    assert client.get_cookie("passline_session", domain="passline.test").value != before


@pytest.mark.parametrize(
    ("username", "reason", "text"),
    [
        ("unverified", "email not verified", "has not verified your email"),
        ("outsider", "domain not allowed", "cannot sign in here"),
        ("stranger", "unknown email", "Ask your school&#39;s admin to add you"),
    ],
)
def test_refused_with_a_clear_page(
    client, db, school, make_user, add_provider, username, reason, text
):
    add_provider()
    make_user(school, "teacher", email="teacher@district.test")
    response, _ = sso_sign_in(client, "district", username)
    assert response.status_code == 403
    assert text in response.get_data(as_text=True)
    assert refusals(db)[-1]["reason"] == reason
    assert client.get("/dashboard").status_code == 302  # not signed in


def test_deactivated_staff_are_refused(client, db, school, make_user, add_provider):
    make_user(school, "teacher", email="gone@district.test", active=False)
    add_provider()
    response, _ = sso_sign_in(client, "district", "gone")
    assert response.status_code == 403
    assert "deactivated" in response.get_data(as_text=True)
    assert refusals(db)[-1]["reason"] == "deactivated"
    # The refusal is in the audit log of the person's school.
    assert audit_actions(db, school_id=school.id, action="sso.refused") == ["sso.refused"]


def test_another_subject_for_a_linked_account_is_refused(
    app, client, db, school, make_user, add_provider
):
    """The provider gave the address to someone else (a new `sub`): no takeover."""
    make_user(school, "teacher", email="teacher@district.test")
    add_provider()
    assert sso_sign_in(client, "district", "teacher")[0].status_code == 302
    other = app.test_client()
    response, _ = sso_sign_in(other, "district", "personal")
    assert response.status_code == 403
    assert refusals(db)[-1]["reason"] == "another subject is linked to this account"


def test_a_district_admin_removes_a_link(
    app, client, db, school, make_user, add_provider, district_admin, login
):
    teacher = make_user(school, "teacher", email="teacher@district.test")
    add_provider()
    assert sso_sign_in(app.test_client(), "district", "teacher")[0].status_code == 302
    school_admin = app.test_client()
    login(make_user(school, "admin"), on=school_admin)
    assert school_admin.post(f"/admin/staff/{teacher.id}/sso/district").status_code == 403
    login(district_admin)
    assert "Remove the link" in client.get(f"/admin/staff/{teacher.id}").get_data(as_text=True)
    assert client.post(f"/admin/staff/{teacher.id}/sso/district").status_code == 302
    assert client.post(f"/admin/staff/{teacher.id}/sso/district").status_code == 404
    assert "sso.unlink" in audit_actions(db, target_id=teacher.id)
    # The person's new provider account now signs in, and is the linked one.
    assert sso_sign_in(app.test_client(), "district", "personal")[0].status_code == 302
    assert db.session.scalar(select(SsoIdentity.subject)) == "personal"


def test_google_hosted_domain_is_checked(client, db, school, make_user, add_provider):
    make_user(school, "teacher", email="teacher@district.test")
    add_provider("google", kind="google")
    response, _ = sso_sign_in(client, "google", "personal")  # no hd claim
    assert response.status_code == 403
    assert refusals(db)[-1]["reason"] == "hosted domain (hd) not allowed"
    assert sso_sign_in(client, "google", "teacher")[0].status_code == 302


def test_microsoft_tenant_is_checked(app, client, db, school, make_user, add_provider):
    make_user(school, "teacher", email="teacher@district.test")
    add_provider("entra", kind="microsoft", tenant_id=TENANT)
    response, _ = sso_sign_in(client, "entra", "other-tenant")
    assert response.status_code == 403
    assert refusals(db)[-1]["reason"] == "tenant (tid) not allowed"
    assert sso_sign_in(app.test_client(), "entra", "teacher")[0].status_code == 302


def test_self_registration_makes_an_account_without_a_role(client, db, add_provider):
    add_provider(
        "selfreg", domains="district.test, join.test", self_registration_domains="join.test"
    )
    response, _ = sso_sign_in(client, "selfreg", "newbie")
    assert response.status_code == 302
    user = db.session.scalar(select(User).where(User.email == "newbie@join.test"))
    assert user.password_hash is None and user.memberships == []
    assert sso_providers.waiting_accounts() == [user]
    assert "sso.registered" in audit_actions(db, target_id=user.id)
    assert client.get("/hallpass/").status_code == 403  # no role: nothing opens
    # Another domain of the same provider is not open to self-registration.
    response, _ = sso_sign_in(client, "selfreg", "stranger")
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("wrong-audience", "Invalid claim: 'aud'"),
        ("wrong-issuer", "Invalid claim: 'iss'"),
        ("expired", "ExpiredTokenError"),
        ("bad-signature", "BadSignatureError"),
        ("wrong-nonce", "Invalid claim: 'nonce'"),
        ("no-id-token", "no ID token"),
    ],
)
def test_untrustworthy_id_tokens_are_refused(
    client, db, school, make_user, add_provider, oidc, mode, reason
):
    make_user(school, "teacher", email="teacher@district.test")
    add_provider(f"rogue-{mode}", issuer=oidc.rogue(mode))
    response, _ = sso_sign_in(client, f"rogue-{mode}", "teacher")
    assert response.status_code == 403, response.get_data(as_text=True)[:500]
    assert "could not be trusted" in response.get_data(as_text=True) or mode == "no-id-token"
    assert reason in refusals(db)[-1]["reason"]
    assert db.session.scalar(select(SsoIdentity)) is None
    assert client.get("/dashboard").status_code == 302


def test_a_provider_that_re_signs_honestly_is_accepted(
    client, school, make_user, add_provider, oidc
):
    """The control for the rogue providers: their machinery alone refuses nothing."""
    make_user(school, "teacher", email="teacher@district.test")
    add_provider("rogue-tampered", issuer=oidc.rogue("tampered"))
    assert sso_sign_in(client, "rogue-tampered", "teacher")[0].status_code == 302


def test_rotated_signing_keys_are_fetched_again(app, client, school, make_user, add_provider, oidc):
    make_user(school, "teacher", email="teacher@district.test")
    add_provider("rogue-rotated", issuer=oidc.rogue("rotated"))
    assert sso_sign_in(client, "rogue-rotated", "teacher")[0].status_code == 302
    oidc.rotate_keys()  # the next token is signed with a key this process has not seen
    response, _ = sso_sign_in(app.test_client(), "rogue-rotated", "teacher")
    assert response.status_code == 302, response.get_data(as_text=True)[:500]


def test_a_replayed_callback_is_refused(app, client, db, school, make_user, add_provider):
    make_user(school, "teacher", email="teacher@district.test")
    add_provider()
    response, back = sso_sign_in(client, "district", "teacher")
    assert response.status_code == 302
    again = client.get(path_of(back))  # the state was used up
    assert again.status_code == 400
    assert "expired or was already used" in again.get_data(as_text=True)
    # Another browser (no state of its own) with the same answer: refused too.
    assert app.test_client().get(path_of(back)).status_code == 400
    assert [r["reason"] for r in refusals(db)] == [
        "state missing, replayed or not this browser's"
    ] * 2


def test_missing_or_forged_state_is_refused(client, db, add_provider):
    add_provider()
    start(client, "district")
    assert client.get("/sso/district/callback?code=abc").status_code == 400
    assert client.get("/sso/district/callback?code=abc&state=forged").status_code == 400
    assert len(refusals(db)) == 2


def test_provider_error_answer_is_a_clear_400(client, add_provider):
    add_provider()
    response = client.get("/sso/district/callback?error=access_denied&state=x")
    assert response.status_code == 400
    assert "did not sign you in" in response.get_data(as_text=True)


def test_provider_down_is_a_clear_message_within_seconds(app, client, db, add_provider):
    """Nothing listening, and a server that accepts but never answers: 502 in seconds."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        closed_port = closed.getsockname()[1]
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept_and_say_nothing():
        silent.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(silent.accept()[0])
            except TimeoutError:
                continue

    acceptor = threading.Thread(target=accept_and_say_nothing, daemon=True)
    acceptor.start()
    app.config["SSO_HTTP_TIMEOUT"] = 1.0
    try:
        add_provider("down", issuer=f"http://127.0.0.1:{closed_port}")
        add_provider("silent", issuer=f"http://127.0.0.1:{silent.getsockname()[1]}")
        for key in ("down", "silent"):
            began = time.monotonic()
            response = client.get(f"/sso/{key}/start")
            took = time.monotonic() - began
            assert response.status_code == 502
            assert "is not answering right now" in response.get_data(as_text=True)
            assert took < 3, took
        assert [r["reason"] for r in refusals(db)] == ["provider unavailable"] * 2
    finally:
        app.config["SSO_HTTP_TIMEOUT"] = 5.0
        stop.set()
        acceptor.join(5)  # before the socket closes under its accept()
        silent.close()
        for connection in held:
            connection.close()


def test_provider_down_at_the_token_exchange(app, client, school, make_user, add_provider, oidc):
    """The provider answered the start, then went away before the code was exchanged."""
    make_user(school, "teacher", email="teacher@district.test")
    add_provider()
    app.config["SSO_HTTP_TIMEOUT"] = 1.0
    try:
        authorize = start(client, "district")  # discovery done, kept by this process
        back = sign_in_at_provider(authorize, "teacher", "provider-pw", APP_ORIGIN)
        oidc.process.send_signal(signal.SIGSTOP)  # accepts connections, answers nothing
        try:
            began = time.monotonic()
            response = client.get(path_of(back))
            took = time.monotonic() - began
        finally:
            oidc.process.send_signal(signal.SIGCONT)
        assert response.status_code == 502
        assert "is not answering right now" in response.get_data(as_text=True)
        assert took < 4, took
    finally:
        app.config["SSO_HTTP_TIMEOUT"] = 5.0
        sso.forget_client("district")


def test_a_secret_sealed_under_another_secret_key_says_so(app, client, add_provider, monkeypatch):
    add_provider()
    monkeypatch.setitem(app.config, "SECRET_KEY", "a-new-secret-key")
    response = client.get("/sso/district/start")
    assert response.status_code == 502
    assert "client secret cannot be read" in response.get_data(as_text=True)


def test_password_sign_in_can_be_closed_for_the_providers_domains(
    client, db, school, make_user, add_provider, district_admin
):
    teacher = make_user(school, "teacher", email="teacher@district.test")
    add_provider(password_sign_in="")
    response = client.post("/login", data={"email": teacher.email, "password": PASSWORD})
    assert response.status_code == 403
    assert "signs you in with" in response.get_data(as_text=True)
    # A district admin of the same domain keeps the password: the break-glass way in.
    response = client.post("/login", data={"email": district_admin.email, "password": PASSWORD})
    assert response.status_code == 302


def test_the_sign_in_page_has_one_button_per_provider(client, add_provider):
    assert "Sign in with" not in client.get("/login").get_data(as_text=True)
    add_provider(label="District Google")
    add_provider("entra", kind="microsoft", tenant_id=TENANT, label="District Microsoft")
    page = client.get("/login").get_data(as_text=True)
    assert page.count('class="button big sso-button"') == 2
    assert "Sign in with District Google" in page and "Sign in with District Microsoft" in page
    assert 'name="password"' in page  # the password form stays


def test_callbacks_are_throttled_per_address(app, client, db, add_provider):
    add_provider()
    app.config["LOGIN_FAILURES_PER_ADDRESS"] = 3
    try:
        statuses = [
            client.get("/sso/district/callback?code=x&state=y").status_code for _ in range(4)
        ]
    finally:
        app.config["LOGIN_FAILURES_PER_ADDRESS"] = 50
    assert statuses == [400, 400, 400, 429]
    assert refusals(db)[-1]["reason"] == "throttled"


@pytest.mark.parametrize("limiter", ["database", "redis"])
def test_successful_callbacks_give_their_place_back(
    app, db, school, make_user, add_provider, monkeypatch, tmp_path, limiter
):
    """A school behind one address is not held up by its own teachers signing in."""
    if limiter == "redis" and REDIS_SERVER is None:
        pytest.skip("no redis-server installed")
    make_user(school, "teacher", email="teacher@district.test")
    add_provider()
    monkeypatch.setitem(app.config, "LOGIN_FAILURES_PER_ADDRESS", 2)
    with contextlib.ExitStack() as stack:
        if limiter == "redis":
            server = stack.enter_context(own_redis(tmp_path))
            monkeypatch.setitem(app.config, "REDIS_URL", server.url)
        app.extensions.pop("passline_limiter", None)
        stack.callback(app.extensions.pop, "passline_limiter", None)
        for _ in range(3):
            assert sso_sign_in(app.test_client(), "district", "teacher")[0].status_code == 302
        client = app.test_client()
        statuses = [client.get("/sso/district/callback?code=x&state=y").status_code for _ in "abc"]
        assert statuses == [400, 400, 429]
        kind = type(throttle.limiter()).__name__
        assert kind == ("RedisLimiter" if limiter == "redis" else "DatabaseLimiter")


def test_unknown_provider_is_404(client):
    assert client.get("/sso/nobody/start").status_code == 404
    assert client.get("/sso/nobody/callback?code=x&state=y").status_code == 404


# ------------------------------------------------------------------ the admin page


def test_district_admin_adds_changes_and_removes_a_provider(
    client, db, school, district_admin, login, oidc, caplog
):
    caplog.set_level(logging.DEBUG)
    login(district_admin)
    form = {
        "key": "district",
        "kind": "oidc",
        "label": "District SSO",
        "issuer": oidc.issuer,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "domains": "district.test, staff.district.test",
        "password_sign_in": "on",
    }
    assert client.post("/admin/sign-in", data=form).status_code == 302
    page = client.get("/admin/sign-in").get_data(as_text=True)
    assert "Sign in with District SSO" in page
    assert "http://passline.test/sso/district/callback" in page
    edit = client.get("/admin/sign-in/district").get_data(as_text=True)
    assert CLIENT_SECRET not in page + edit
    # A blank secret keeps the stored one.
    changed = {**form, "client_secret": "", "label": "District", "password_sign_in": ""}
    assert client.post("/admin/sign-in/district", data=changed).status_code == 302
    stored = db.session.scalar(select(SsoProvider))
    assert (stored.label, stored.password_sign_in) == ("District", False)
    assert sso_providers.unseal(stored.client_secret_sealed) == CLIENT_SECRET
    assert CLIENT_SECRET not in stored.client_secret_sealed
    update = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "sso.provider_update"))
    assert update.detail["changed"]["label"] == {"before": "District SSO", "after": "District"}
    assert update.detail["secret_replaced"] is False
    assert client.post("/admin/sign-in/district", data={"action": "delete"}).status_code == 302
    assert db.session.scalar(select(SsoProvider)) is None
    assert audit_actions(db, action="sso.provider_add") == ["sso.provider_add"]
    assert audit_actions(db, action="sso.provider_delete") == ["sso.provider_delete"]
    every_detail = " ".join(str(e.detail) for e in db.session.scalars(select(AuditEvent)))
    assert CLIENT_SECRET not in every_detail
    assert CLIENT_SECRET not in caplog.text


def test_the_secret_stays_out_of_the_logs_during_a_sign_in(
    client, school, make_user, add_provider, caplog
):
    caplog.set_level(logging.DEBUG)
    make_user(school, "teacher", email="teacher@district.test")
    add_provider()
    assert sso_sign_in(client, "district", "teacher")[0].status_code == 302
    assert CLIENT_SECRET not in caplog.text


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"key": "Bad Key"}, "Key"),
        ({"kind": "facebook"}, "Kind"),
        ({"issuer": "http://sso.example.org"}, "Issuer URL"),
        ({"kind": "microsoft", "tenant_id": "contoso"}, "Tenant ID"),
        ({"client_id": ""}, "Client ID"),
        ({"client_secret": ""}, "Client secret"),
        ({"domains": ""}, "Email domains"),
        ({"domains": "not a domain!"}, "Email domains"),
        ({"self_registration_domains": "other.test"}, "Self-registration"),
    ],
)
def test_bad_provider_settings_are_a_400_naming_the_field(
    client, db, district_admin, login, oidc, change, field
):
    login(district_admin)
    form = {
        "key": "district",
        "kind": "oidc",
        "issuer": oidc.issuer,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "domains": "district.test",
        **change,
    }
    response = client.post("/admin/sign-in", data=form)
    assert response.status_code == 400
    assert field in response.get_data(as_text=True)
    assert db.session.scalar(select(SsoProvider)) is None
    assert audit_actions(db, action="sso.provider_add") == []


def test_only_district_admins_manage_providers(client, school, make_user, login, add_provider):
    add_provider()
    login(make_user(school, "admin"))
    assert client.get("/admin/sign-in").status_code == 403
    assert client.post("/admin/sign-in/district", data={"action": "delete"}).status_code == 403
    assert "Sign-in providers" not in client.get("/admin/").get_data(as_text=True)


def test_providers_from_the_environment(app, oidc):
    environ = {
        "SSO_PROVIDERS": "google, district-sso",
        "SSO_GOOGLE_KIND": "google",
        "SSO_GOOGLE_CLIENT_ID": "id.apps.googleusercontent.com",
        "SSO_GOOGLE_CLIENT_SECRET": "env-secret",
        "SSO_GOOGLE_DOMAINS": "district.org",
        "SSO_GOOGLE_PASSWORD_SIGN_IN": "no",
        "SSO_DISTRICT_SSO_KIND": "oidc",
        "SSO_DISTRICT_SSO_ISSUER": oidc.issuer,
        "SSO_DISTRICT_SSO_CLIENT_ID": CLIENT_ID,
        "SSO_DISTRICT_SSO_CLIENT_SECRET": CLIENT_SECRET,
        "SSO_DISTRICT_SSO_DOMAINS": "district.test",
        "SSO_DISTRICT_SSO_SELF_REGISTRATION": "district.test",
    }
    found = sso_providers.parse_environment(environ)
    google, district = found["google"], found["district-sso"]
    assert (google.issuer, google.label, google.password_sign_in) == (
        "https://accounts.google.com",
        "Google",
        False,
    )
    assert district.self_registration_domains == ("district.test",)
    assert CLIENT_SECRET not in repr(district)
    with pytest.raises(RuntimeError, match="SSO_GOOGLE_DOMAINS"):
        sso_providers.parse_environment({**environ, "SSO_GOOGLE_DOMAINS": ""})


def test_a_mistake_in_the_environment_stops_the_app_at_start(monkeypatch, tmp_path):
    from shared import create_app

    monkeypatch.setenv("SSO_PROVIDERS", "entra")
    monkeypatch.setenv("SSO_ENTRA_KIND", "microsoft")
    monkeypatch.setenv("SSO_ENTRA_CLIENT_ID", "id")
    monkeypatch.setenv("SSO_ENTRA_CLIENT_SECRET", "secret")
    monkeypatch.setenv("SSO_ENTRA_DOMAINS", "district.org")
    monkeypatch.setenv("SSO_ENTRA_TENANT_ID", "contoso.onmicrosoft.com")
    database = f"sqlite:///{tmp_path / 'start.sqlite3'}"
    with pytest.raises(RuntimeError, match="SSO_ENTRA_TENANT_ID"):
        create_app({"SQLALCHEMY_DATABASE_URI": database, "SECRET_KEY": "x"})


def test_a_provider_from_the_environment_signs_in(app, db, school, make_user, oidc):
    make_user(school, "teacher", email="teacher@district.test")
    env_key = "district"
    app.extensions[sso_providers.ENVIRONMENT_KEY] = sso_providers.parse_environment(
        {
            "SSO_PROVIDERS": env_key,
            "SSO_DISTRICT_KIND": "oidc",
            "SSO_DISTRICT_ISSUER": oidc.issuer,
            "SSO_DISTRICT_CLIENT_ID": CLIENT_ID,
            "SSO_DISTRICT_CLIENT_SECRET": CLIENT_SECRET,
            "SSO_DISTRICT_DOMAINS": "district.test",
        }
    )
    try:
        client = app.test_client()
        assert "Sign in with" in client.get("/login").get_data(as_text=True)
        assert sso_sign_in(client, env_key, "teacher")[0].status_code == 302
    finally:
        app.extensions[sso_providers.ENVIRONMENT_KEY] = {}

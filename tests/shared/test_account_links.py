"""Invitations and password resets by email, against a real SMTP server (aiosmtpd).

The app sends through its outbox and background sender exactly as in production; the
tests read each message as it arrives at the server, follow its link with the test
client, and check what is stored (no token, no link once sent) and what is refused.
"""

import difflib
import logging
import re
import socket
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from shared import mail
from shared.account_links import LIFETIME
from shared.housekeeping import CORE_JOBS, run_jobs
from shared.models import AccountLink, AuditEvent, LinkPurpose, Membership, OutboxMail, User
from shared.passwords import verify_password
from shared.timeutil import utcnow
from tests.helpers import PASSWORD, audit_actions
from tests.smtp_server import OPENSSL, OwnSMTP, self_signed_certificate

PUBLIC_URL = "https://passline.example.org"
NEW_PASSWORD = "a brand new password"
LINK = re.compile(re.escape(PUBLIC_URL) + r"(/account/link/[A-Za-z0-9_-]{43})")


@pytest.fixture
def smtp():
    server = OwnSMTP()
    server.start()
    yield server
    server.stop()


def _configure(app, smtp: OwnSMTP | None, **more):
    settings = {
        "SMTP_HOST": "127.0.0.1" if smtp else "",
        "SMTP_PORT": smtp.port if smtp else 587,
        "SMTP_SECURITY": "none",
        "SMTP_USER": "",
        "SMTP_PASSWORD": "",
        "SMTP_TIMEOUT_SECONDS": 5.0,
        "MAIL_FROM": "passline@example.org",
        "PUBLIC_URL": PUBLIC_URL,
        **more,
    }
    saved = {key: app.config.get(key) for key in settings}
    app.config.update(settings)
    if smtp is not None:
        smtp.settle = mail.sender(app).wait_idle
    return saved


@pytest.fixture
def mail_on(app, smtp):
    """The app sends mail to the test's SMTP server."""
    saved = _configure(app, smtp)
    yield smtp
    mail.sender(app).stop()
    app.config.update(saved)


def _no_password(db, school, make_user, **fields):
    user = make_user(school, "teacher", **fields)
    user.password_hash = None
    db.session.commit()
    return user


def _link_path(message) -> str:
    match = LINK.search(message.get_content())
    assert match, message.get_content()
    return match.group(1)


def _first_attempt(db, timeout: float = 10.0) -> OutboxMail:
    """The outbox's first mail once the background sender's attempt has an outcome."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        db.session.rollback()  # a fresh snapshot each time
        outbox = db.session.scalar(select(OutboxMail))
        if outbox.last_error or outbox.sent_at:  # the attempt's outcome, not its lease
            return outbox
        time.sleep(0.05)
    raise AssertionError("the background sender made no attempt")


def _due_now(db):
    """Time passes: every waiting mail is due again."""
    db.session.execute(update(OutboxMail).values(next_attempt_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()


def test_an_invited_teacher_sets_a_password_from_the_email(
    app, client, db, school, make_user, login, mail_on
):
    admin = make_user(school, "admin")
    teacher = _no_password(db, school, make_user, name="Ada Byron")
    login(admin)
    response = client.post(f"/admin/staff/{teacher.id}/invite")
    assert response.status_code == 302
    # Sent by the background sender, after the request's commit.
    (message,) = mail_on.wait_for(1)
    assert message["To"] == teacher.email
    assert message["From"] == "passline@example.org"
    assert "Ada Byron" in message.get_content() and "7 days" in message.get_content()
    path = _link_path(message)
    token = path.rsplit("/", 1)[1]
    # Neither the token nor the link is stored: the link is built when the mail is sent.
    outbox = _first_attempt(db)
    link = db.session.scalar(select(AccountLink))
    assert link.nonce is None and token not in link.token_hash
    assert token not in outbox.body and "{link}" in outbox.body
    assert outbox.sent_at is not None and outbox.attempts == 1
    assert b"sent" in client.get("/admin/staff").data

    visitor = app.test_client()
    page = visitor.get(path)
    assert page.status_code == 200 and teacher.email.encode() in page.data
    assert page.headers["Referrer-Policy"] == "no-referrer"
    done = visitor.post(path, data={"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD})
    assert done.status_code == 302 and done.headers["Location"].endswith("/login")
    signed_in = visitor.post("/login", data={"email": teacher.email, "password": NEW_PASSWORD})
    assert signed_in.status_code == 302
    assert visitor.get("/dashboard").status_code == 200
    # Used once: the same link is refused now.
    again = app.test_client().post(
        path, data={"new_password": "x" * 12, "confirm_password": "x" * 12}
    )
    assert again.status_code == 410 and b"already used or has expired" in again.data
    assert "staff.invite_link" in audit_actions(db)
    assert "auth.password_set" in audit_actions(db)
    refused = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "auth.link_refused"))
    assert refused.target_id == teacher.id and refused.school_id == school.id
    assert refused.detail == {"reason": "used or replaced", "purpose": "invite"}
    assert token not in str(refused.detail)


def test_forgot_password_resets_by_email_and_ends_other_sessions(
    app, client, db, school, make_user, login, mail_on
):
    user = make_user(school, "teacher")
    other = app.test_client()
    login(user, on=other)
    assert other.get("/dashboard").status_code == 200
    response = client.post("/login/forgot", data={"email": user.email.upper()})
    assert response.status_code == 200
    (message,) = mail_on.wait_for(1)
    assert message["To"] == user.email and "1 hour" in message.get_content()
    path = _link_path(message)
    answer = client.post(
        path, data={"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}
    )
    assert answer.status_code == 302
    db.session.rollback()
    assert verify_password(db.session.get(User, user.id).password_hash, NEW_PASSWORD)
    assert other.get("/dashboard").status_code == 302  # the other session ended
    assert (
        client.post("/login", data={"email": user.email, "password": PASSWORD}).status_code == 401
    )


def _answer(response) -> str:
    """The page without what differs between any two requests (the CSRF token)."""
    html = re.sub(r'name="csrf_token" value="[^"]*"', "", response.get_data(as_text=True))
    return re.sub(r'"X-CSRFToken": "[^"]*"', "", html)


def test_the_answer_never_says_whether_an_address_has_an_account(
    app, db, school, make_user, mail_on
):
    known = make_user(school, "teacher")
    gone = make_user(school, "teacher", active=False)
    answers = []
    for address in (known.email, "nobody@example.org", gone.email):
        response = app.test_client().post("/login/forgot", data={"email": address})
        answers.append((response.status_code, _answer(response)))
    assert answers[0] == answers[1] == answers[2], "\n".join(
        difflib.unified_diff(answers[0][1].splitlines(), answers[1][1].splitlines(), lineterm="")
    )
    assert answers[0][0] == 200
    (message,) = mail_on.wait_for(1)
    time.sleep(0.5)  # nothing else arrives
    assert len(mail_on.messages) == 1 and message["To"] == known.email
    # The audit log does not keep the address typed for an unknown account.
    details = [e.detail for e in db.session.scalars(select(AuditEvent))]
    assert "nobody@example.org" not in str(details)


def test_reset_requests_are_throttled_per_address_whether_it_exists_or_not(
    app, db, school, make_user, mail_on
):
    known = make_user(school, "teacher")
    for address in (known.email, "nobody@example.org"):
        client = app.test_client()
        codes = [
            client.post("/login/forgot", data={"email": address}).status_code for _ in range(4)
        ]
        assert codes == [200, 200, 200, 429], address
        refused = client.post("/login/forgot", data={"email": address})
        assert int(refused.headers["Retry-After"]) > 0
        assert b"Too many requests" in refused.data
    # Three mails queued for the known address (each link replacing the one before), none
    # for the unknown one, none for a refused request.
    queued = db.session.scalars(select(OutboxMail.to_address)).all()
    assert queued == [known.email] * 3
    assert "auth.reset_throttled" in audit_actions(db)


def test_an_expired_link_is_refused_and_changes_nothing(
    app, client, db, school, make_user, mail_on
):
    user = make_user(school, "teacher")
    client.post("/login/forgot", data={"email": user.email})
    path = _link_path(mail_on.wait_for(1)[0])
    db.session.execute(update(AccountLink).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert client.get(path).status_code == 410
    answer = client.post(
        path, data={"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}
    )
    assert answer.status_code == 410 and b"expired" in answer.data
    db.session.rollback()
    assert verify_password(db.session.get(User, user.id).password_hash, PASSWORD)
    assert "auth.password_set" not in audit_actions(db)
    refused = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "auth.link_refused"))
    assert refused.detail == {"reason": "expired", "purpose": "reset"}


def test_link_lifetimes_are_a_week_for_invitations_and_an_hour_for_resets():
    assert LIFETIME[LinkPurpose.INVITE] == timedelta(days=7)
    assert LIFETIME[LinkPurpose.RESET] == timedelta(hours=1)


def test_a_newer_link_replaces_the_older_one(app, client, db, school, make_user, mail_on):
    user = make_user(school, "teacher")
    client.post("/login/forgot", data={"email": user.email})
    first = _link_path(mail_on.wait_for(1)[0])
    client.post("/login/forgot", data={"email": user.email})
    second = _link_path(mail_on.wait_for(2)[1])
    assert first != second
    assert client.get(first).status_code == 410
    assert client.get(second).status_code == 200


def test_bad_input_on_the_link_page_is_a_clear_400_and_keeps_the_link(
    app, client, db, school, make_user, mail_on
):
    user = make_user(school, "teacher")
    client.post("/login/forgot", data={"email": user.email})
    path = _link_path(mail_on.wait_for(1)[0])
    short = client.post(path, data={"new_password": "short", "confirm_password": "short"})
    assert short.status_code == 400 and b"at least 10 characters" in short.data
    differ = client.post(path, data={"new_password": NEW_PASSWORD, "confirm_password": "other"})
    assert differ.status_code == 400 and b"not the same" in differ.data
    assert client.get(path).status_code == 200  # still unused
    assert client.get("/account/link/not-a-token-at-all-0123456789").status_code == 404
    assert client.post("/account/link/not-a-token-at-all-0123456789").status_code == 404
    assert audit_actions(db).count("auth.link_refused") == 1  # the attempt, not the look
    bad = client.post("/login/forgot", data={"email": "not an address"})
    assert bad.status_code == 400 and b"valid email" in bad.data


def test_smtp_down_loses_nothing_and_the_mail_goes_out_once_it_is_back(
    app, client, db, school, make_user, login, mail_on, caplog, monkeypatch
):
    # The housekeeping runs below are this test's own: /healthz's record of them is too
    # (kept per app, in app.extensions).
    monkeypatch.delitem(app.extensions, "passline_housekeeping", raising=False)
    admin = make_user(school, "admin")
    teacher = _no_password(db, school, make_user)
    login(admin)
    mail_on.stop()
    caplog.set_level(logging.WARNING, logger="shared.mail")
    response = client.post(f"/admin/staff/{teacher.id}/invite")
    assert response.status_code == 302  # acknowledged, never a 500
    outbox = _first_attempt(db)  # the background sender tried and failed
    assert outbox.attempts == 1 and outbox.sent_at is None and outbox.failed_at is None
    assert outbox.next_attempt_at > utcnow() + timedelta(seconds=50)  # retried in a minute
    assert "ConnectionRefusedError" in outbox.last_error
    page = client.get("/admin/staff").get_data(as_text=True)
    assert "waiting" in page and "ConnectionRefusedError" in page
    # Nothing about the person or the link is logged.
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert f"mail {outbox.id} not sent" in logged
    assert teacher.email not in logged and "/account/link/" not in logged
    _due_now(db)
    assert run_jobs(app, CORE_JOBS) == {"mail.deliver": 0}  # still down: tried, waiting
    mail_on.start()
    _due_now(db)
    assert run_jobs(app, CORE_JOBS) == {"mail.deliver": 1}
    (message,) = mail_on.wait_for(1)
    assert message["To"] == teacher.email
    _due_now(db)
    assert run_jobs(app, CORE_JOBS) == {"mail.deliver": 0}  # sent once, not again
    assert len(mail_on.messages) == 1
    assert app.test_client().get(_link_path(message)).status_code == 200


def test_a_mail_that_keeps_failing_is_given_up_and_shown_to_the_admin(
    app, client, db, school, make_user, login, mail_on
):
    admin = make_user(school, "admin")
    teacher = _no_password(db, school, make_user)
    login(admin)
    mail_on.stop()
    client.post(f"/admin/staff/{teacher.id}/invite")
    # The background sender's own first attempt ends before the test's, or the two race
    # for the mail's lease and some of the test's attempts find it taken.
    assert mail.sender(app).wait_idle()
    for _ in range(mail.MAX_ATTEMPTS):
        _due_now(db)
        mail.deliver_due(app)
    db.session.rollback()
    outbox = db.session.scalar(select(OutboxMail))
    assert outbox.failed_at is not None and outbox.attempts == mail.MAX_ATTEMPTS
    page = client.get("/admin/staff").get_data(as_text=True)
    assert "not sent" in page and "could not be sent after several tries" in page


def test_smtp_waits_are_bounded_by_the_timeout(app, db, school, make_user, login, client):
    """A server that accepts the connection and never answers: the attempt ends at the
    timeout, and the mail waits for its retry."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(5)
    port = silent.getsockname()[1]
    saved = _configure(app, None, SMTP_HOST="127.0.0.1", SMTP_PORT=port, SMTP_TIMEOUT_SECONDS=1.0)
    try:
        admin = make_user(school, "admin")
        teacher = _no_password(db, school, make_user)
        login(admin)
        mail.sender(app).stop()  # time the attempt here, not in the background
        db.session.add(
            OutboxMail(
                kind="test",
                user_id=teacher.id,
                to_address=teacher.email,
                subject="s",
                body="b",
                school_id=school.id,
            )
        )
        db.session.commit()
        started = time.monotonic()
        assert mail.deliver_due(app) == 0
        took = time.monotonic() - started
        assert took < 3.0, took
        db.session.rollback()
        assert db.session.scalar(select(OutboxMail)).last_error.startswith(
            ("TimeoutError", "SMTPServerDisconnected")
        )
    finally:
        mail.sender(app).stop()
        app.config.update(saved)
        silent.close()


def test_smtp_user_and_password_are_used(app, client, db, school, make_user):
    server = OwnSMTP(user="relay", password="relay-secret")
    server.start()
    saved = _configure(app, server, SMTP_USER="relay", SMTP_PASSWORD="wrong")
    try:
        user = make_user(school, "teacher")
        client.post("/login/forgot", data={"email": user.email})
        outbox = _first_attempt(db)
        assert outbox.sent_at is None and "SMTPAuthenticationError" in outbox.last_error
        app.config["SMTP_PASSWORD"] = "relay-secret"
        _due_now(db)
        assert mail.deliver_due(app) == 1
        assert server.wait_for(1)[0]["To"] == user.email
    finally:
        mail.sender(app).stop()
        app.config.update(saved)
        server.stop()


def test_invite_everyone_without_a_password_once(
    app, client, db, school, make_user, make_school, login, mail_on
):
    admin = make_user(school, "admin")
    imported = [_no_password(db, school, make_user) for _ in range(3)]
    make_user(school, "teacher")  # has a password
    _no_password(db, school, make_user, active=False)
    elsewhere = _no_password(db, school, make_user)  # also works at another school
    db.session.add(Membership(user_id=elsewhere.id, school_id=make_school().id, role="teacher"))
    db.session.commit()
    login(admin)
    assert b"Invite everyone without a password (3)" in client.get("/admin/staff").data
    assert client.post("/admin/staff/invite-all").status_code == 302
    messages = mail_on.wait_for(3)
    assert sorted(m["To"] for m in messages) == sorted(u.email for u in imported)
    # A second click invites nobody again: their invitations still work.
    assert client.post("/admin/staff/invite-all").status_code == 302
    time.sleep(0.5)
    assert len(mail_on.messages) == 3
    assert audit_actions(db).count("staff.invite_link") == 3
    # A school admin may not invite an account that also works at another school.
    assert client.post(f"/admin/staff/{elsewhere.id}/invite").status_code == 403


def test_without_smtp_the_admin_sees_the_link_once_to_hand_over(
    app, client, db, school, make_user, login
):
    assert not app.config["SMTP_HOST"]
    admin = make_user(school, "admin")
    teacher = _no_password(db, school, make_user)
    login(admin)
    page = client.post(f"/admin/staff/{teacher.id}/invite")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "hand each link over in person" in html
    path = re.search(r"http://passline\.test(/account/link/[A-Za-z0-9_-]{43})", html).group(1)
    assert db.session.scalar(select(OutboxMail)) is None
    assert db.session.scalar(select(AccountLink)).nonce is None  # cannot be shown again
    assert path not in client.get("/admin/staff").get_data(as_text=True)
    assert "hand over in person" in client.get("/admin/staff").get_data(as_text=True)
    answer = app.test_client().post(
        path, data={"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}
    )
    assert answer.status_code == 302
    # Without SMTP, "forgot password" says to ask the admin, whatever the address.
    forgot = client.post("/login/forgot", data={"email": teacher.email})
    assert forgot.status_code == 200 and b"does not send email" in forgot.data
    assert db.session.scalar(select(OutboxMail)) is None


def test_two_requests_using_one_link_at_once_set_one_password(app, db, school, make_user, mail_on):
    user = make_user(school, "teacher")
    app.test_client().post("/login/forgot", data={"email": user.email})
    path = _link_path(mail_on.wait_for(1)[0])
    codes = []

    def use(password):
        response = app.test_client().post(
            path, data={"new_password": password, "confirm_password": password}
        )
        codes.append(response.status_code)

    threads = [threading.Thread(target=use, args=(f"password number {n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(codes) == [302, 410, 410, 410]
    assert audit_actions(db).count("auth.password_set") == 1
    assert audit_actions(db).count("auth.link_refused") == 3


@pytest.mark.skipif(OPENSSL is None, reason="no openssl to make a test certificate")
@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_mail_goes_over_starttls_or_tls_with_the_certificate_checked(
    app, client, db, school, make_user, tmp_path, security
):
    cert, key = self_signed_certificate(tmp_path)
    server = OwnSMTP(tls=(cert, key), implicit_tls=security == "tls")
    server.start()
    user = make_user(school, "teacher")
    # Without the district's CA the certificate is refused: nothing is sent in clear.
    saved = _configure(app, server, SMTP_HOST="localhost", SMTP_SECURITY=security)
    try:
        client.post("/login/forgot", data={"email": user.email})
        assert "SSLCertVerificationError" in _first_attempt(db).last_error
        assert server.messages == []
        app.config["SMTP_CA_FILE"] = cert
        _due_now(db)
        assert mail.deliver_due(app) == 1
        assert server.wait_for(1)[0]["To"] == user.email
    finally:
        mail.sender(app).stop()
        app.config.update(saved)
        app.config["SMTP_CA_FILE"] = ""
        server.stop()


def test_invitations_know_the_districts_sign_in_provider(
    client, db, school, make_user, login, mail_on
):
    """An invitation offers the district's provider; invite-all leaves out people who
    already sign in through it, and people whose provider has closed password sign-in."""
    from shared import sso_providers
    from shared.models import SsoIdentity, SsoProvider

    for key, label, domain, passwords in (
        ("district", "Lincoln Unified", "district.test", True),
        ("closed", "Closed District", "closed.test", False),
    ):
        db.session.add(
            SsoProvider(
                key=key,
                kind="oidc",
                label=label,
                issuer=f"https://{domain}",
                client_id="passline",
                client_secret_sealed=sso_providers.seal("secret"),
                domains=[domain],
                self_registration_domains=[],
                password_sign_in=passwords,
            )
        )
    admin = make_user(school, "admin")
    offered = _no_password(db, school, make_user, email="ana@district.test")
    linked = _no_password(db, school, make_user, email="bo@district.test")
    db.session.add(SsoIdentity(user_id=linked.id, provider_key="district", subject="bo-sub"))
    _no_password(db, school, make_user, email="cy@closed.test")
    plain = _no_password(db, school, make_user, email="di@example.org")
    db.session.commit()
    login(admin)
    assert b"Invite everyone without a password (2)" in client.get("/admin/staff").data
    assert client.post("/admin/staff/invite-all").status_code == 302
    messages = {m["To"]: m.get_content() for m in mail_on.wait_for(2)}
    assert sorted(messages) == sorted([offered.email, plain.email])
    assert (
        'Or sign in with your district account: on the sign-in page, choose "Lincoln'
        in (messages[offered.email])
    )
    assert "sign in with your district account" not in messages[plain.email]


def test_an_invitation_is_written_in_the_language_of_the_person_invited(
    app, client, db, school, make_user, login, mail_on
):
    admin = make_user(school, "admin")  # reads English
    teacher = _no_password(db, school, make_user, name="Ada Byron")
    teacher.language = "es"
    db.session.commit()
    login(admin)
    response = client.post(f"/admin/staff/{teacher.id}/invite", follow_redirects=True)
    # The admin's own answer stays in the admin's language.
    assert "An invitation to " in response.get_data(as_text=True)
    (message,) = mail_on.wait_for(1)
    assert message["Subject"] == "Establezca su contraseña de passline"
    body = message.get_content()
    assert body.startswith("Hola, Ada Byron:")
    assert "vence en 7 días" in body and "expires" not in body
    assert _link_path(message)


def test_a_reset_mail_follows_the_school_language_when_the_person_chose_none(
    app, client, db, school, make_user, mail_on
):
    school.language = "es"
    user = make_user(school, "teacher", name="Ada Byron")
    db.session.commit()
    assert client.post("/login/forgot", data={"email": user.email}).status_code == 200
    (message,) = mail_on.wait_for(1)
    assert message["Subject"] == "Restablezca su contraseña de passline"
    assert "dentro de 1 hora" in message.get_content()


def test_the_sender_is_idle_only_once_every_delivery_asked_for_has_ended(app):
    """Tests wait for it before they write to SQLite (tests/smtp_server.py's `settle`): the
    sender marks a mail sent just after the SMTP server took it."""
    delivering, release = threading.Event(), threading.Event()

    def deliver(_app):
        delivering.set()
        release.wait(10)
        return 1

    sender = mail.Sender(app, deliver)
    assert sender.wait_idle(0)  # nothing asked for yet
    sender.wake()
    assert delivering.wait(10) and not sender.wait_idle(0.2)  # mid-delivery
    sender.wake()  # asked again meanwhile: still busy after the first delivery ends
    release.set()
    assert sender.wait_idle(10)
    sender.stop()

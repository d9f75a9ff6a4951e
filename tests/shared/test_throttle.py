"""The sign-in throttle under fire: Redis going away and coming back, and racing attempts.

A limit of N failures must mean at most N password checks, however many attempts
arrive at once and in however many processes: the attempt is counted (reserved) in
one atomic step before the password is checked. Redis is an optimisation: when it
does not answer, sign-in falls back to the database limiter within a short timeout,
and goes back to Redis once it answers again.
"""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from shared import throttle
from shared.models import AuditEvent, LoginThrottle
from tests.gunicorn_server import Browser, running_gunicorn
from tests.helpers import PASSWORD
from tests.redis_server import needs_redis_server, own_redis

ATTEMPTS = 30


@pytest.fixture
def redis_server(tmp_path):
    with own_redis(tmp_path) as server:
        yield server


@pytest.fixture
def redis_limiter(app, monkeypatch, redis_server):
    """The app's limiter on the test's own Redis (a fresh limiter, so the URL applies)."""
    monkeypatch.setitem(app.config, "REDIS_URL", redis_server.url)
    monkeypatch.setitem(app.config, "REDIS_RETRY_SECONDS", 0.2)
    app.extensions.pop("passline_limiter", None)
    yield redis_server
    app.extensions.pop("passline_limiter", None)


def sign_in(client, email: str, password: str):
    started = time.monotonic()
    response = client.post("/login", data={"email": email, "password": password})
    return response.status_code, time.monotonic() - started


def redis_keys(server) -> list[str]:
    import redis

    return [key.decode() for key in redis.Redis.from_url(server.url).keys("passline:login:*")]


@needs_redis_server
def test_redis_down_falls_back_to_the_database_and_comes_back(
    app, db, client, school, make_user, redis_limiter
):
    server = redis_limiter
    user, other = make_user(school, "teacher"), make_user(school, "teacher")
    assert sign_in(client, user.email, "wrong password")[0] == 401
    assert redis_keys(server)  # counted in Redis while it answers
    assert db.session.scalar(select(func.count()).select_from(LoginThrottle)) == 0

    server.stop()
    answers = [sign_in(client, other.email, PASSWORD)]
    client.post("/logout")
    answers += [sign_in(client, user.email, "wrong password") for _ in range(5)]
    answers.append(sign_in(client, user.email, PASSWORD))
    assert [status for status, _ in answers] == [302] + [401] * 5 + [429], answers
    assert max(seconds for _, seconds in answers) < 2, answers
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(LoginThrottle)) > 0
    assert throttle.redis_available() is False

    server.start()
    time.sleep(0.3)  # longer than REDIS_RETRY_SECONDS: the next attempt tries Redis again
    third = make_user(school, "teacher")
    assert sign_in(client, third.email, "wrong password")[0] == 401
    assert len(redis_keys(server)) >= 1
    assert throttle.redis_available() is True


def test_redis_available_is_none_without_redis(app, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", "")
    app.extensions.pop("passline_limiter", None)
    try:
        assert throttle.redis_available() is None
    finally:
        app.extensions.pop("passline_limiter", None)


def race_wrong_passwords(server_url: str, email: str) -> list[int]:
    """ATTEMPTS browsers send a wrong password for one account at the same moment."""
    browsers = [Browser(server_url) for _ in range(ATTEMPTS)]
    tokens = [browser.csrf_token("/login") for browser in browsers]
    barrier = threading.Barrier(ATTEMPTS)

    def one(index: int) -> int:
        barrier.wait(timeout=30)
        status, _headers, _body = browsers[index].post(
            "/login", {"email": email, "password": "wrong password", "csrf_token": tokens[index]}
        )
        return status

    with ThreadPoolExecutor(max_workers=ATTEMPTS) as pool:
        return list(pool.map(one, range(ATTEMPTS)))


def password_checks(db) -> int:
    """Failed sign-ins that got as far as a password check (each one is audited)."""
    db.session.rollback()
    return db.session.scalar(
        select(func.count(AuditEvent.id)).where(AuditEvent.action == "auth.login_failed")
    )


def test_racing_wrong_passwords_get_five_checks_with_the_database_limiter(
    app, db, school, make_user, tmp_path
):
    user = make_user(school, "teacher")
    with running_gunicorn(
        app.config["SQLALCHEMY_DATABASE_URI"], tmp_path, workers=3, threads=4, REDIS_URL=""
    ) as server:
        statuses = race_wrong_passwords(server.url, user.email)
        log = server.log()
    assert sorted(set(statuses)) == [401, 429], statuses
    assert statuses.count(401) == 5, statuses
    assert password_checks(db) == 5
    assert "Traceback" not in log


@needs_redis_server
def test_racing_wrong_passwords_get_five_checks_with_the_redis_limiter(
    app, db, school, make_user, tmp_path, redis_server
):
    user = make_user(school, "teacher")
    with running_gunicorn(
        app.config["SQLALCHEMY_DATABASE_URI"],
        tmp_path,
        workers=3,
        threads=4,
        REDIS_URL=redis_server.url,
    ) as server:
        statuses = race_wrong_passwords(server.url, user.email)
        log = server.log()
    assert sorted(set(statuses)) == [401, 429], statuses
    assert statuses.count(401) == 5, statuses
    assert password_checks(db) == 5
    assert redis_keys(redis_server)  # counted in Redis, not in the database
    assert db.session.scalar(select(func.count()).select_from(LoginThrottle)) == 0
    assert "Traceback" not in log


@needs_redis_server
def test_every_sign_in_answers_through_gunicorn_while_redis_is_down(
    app, db, school, make_user, tmp_path, redis_server
):
    """Redis killed under a running server: sign-ins get answers, never a 500.

    One worker, warmed up by a sign-in while Redis answers, so the times measured are
    those of the outage, not of a worker's first request.
    """
    users = [make_user(school, "teacher") for _ in range(5)]

    def sign_in_over_http(server, user, password) -> tuple[int, float]:
        browser = Browser(server.url)
        token = browser.csrf_token("/login")
        started = time.monotonic()
        status, _headers, _body = browser.post(
            "/login", {"email": user.email, "password": password, "csrf_token": token}
        )
        return status, time.monotonic() - started

    with running_gunicorn(
        app.config["SQLALCHEMY_DATABASE_URI"],
        tmp_path,
        workers=1,
        threads=4,
        REDIS_URL=redis_server.url,
    ) as server:
        assert sign_in_over_http(server, users[0], PASSWORD)[0] == 302
        redis_server.stop()
        answers = [
            sign_in_over_http(server, user, password)
            for user in users[1:]
            for password in ("wrong password", PASSWORD)
        ]
        log = server.log()
    assert [status for status, _ in answers] == [401, 302] * 4, answers
    assert max(seconds for _, seconds in answers) < 2, answers
    assert "Traceback" not in log


def _lock_out(client, user) -> None:
    for _ in range(5):
        assert sign_in(client, user.email, "wrong password")[0] == 401
    assert sign_in(client, user.email, PASSWORD)[0] == 429


def test_flask_user_unlock_lets_a_throttled_account_sign_in_again(
    app, db, client, school, make_user
):
    """Before: no way to unlock but to wait out the window (or edit the database)."""
    user = make_user(school, "teacher")
    _lock_out(client, user)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["user", "unlock", user.email.upper()])
    assert result.exit_code == 0 and "is unlocked" in result.output
    assert sign_in(client, user.email, PASSWORD)[0] == 302
    again = runner.invoke(args=["user", "unlock", user.email])
    assert again.exit_code == 0 and "was not locked" in again.output
    unknown = runner.invoke(args=["user", "unlock", "nobody@example.org"])
    assert unknown.exit_code == 1 and "No account" in unknown.output
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "staff.unlock").order_by(AuditEvent.id)
    ).all()
    assert [(e.actor_label, e.detail["was_locked"]) for e in events] == [
        ("system", True),
        ("system", False),
    ]


def test_an_admin_unlocks_a_throttled_staff_member(app, db, client, school, make_user, login):
    teacher = make_user(school, "teacher")
    _lock_out(app.test_client(), teacher)
    admin = login(make_user(school, "admin"))
    page = admin.get(f"/admin/staff/{teacher.id}").get_data(as_text=True)
    assert "locked after failed sign-ins" in page and "Unlock sign-in" in page
    assert admin.post(f"/admin/staff/{teacher.id}", data={"action": "unlock"}).status_code == 302
    assert "Unlock sign-in" not in admin.get(f"/admin/staff/{teacher.id}").get_data(as_text=True)
    assert sign_in(app.test_client(), teacher.email, PASSWORD)[0] == 302
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "staff.unlock"))
    assert event.school_id == school.id and event.target_id == teacher.id
    # An account that also works elsewhere is a district admin's to unlock.
    from shared.models import Membership

    shared_teacher = make_user(school, "teacher")
    db.session.add(
        Membership(user_id=shared_teacher.id, school_id=make_school_id(db), role="teacher")
    )
    db.session.commit()
    refused = admin.post(f"/admin/staff/{shared_teacher.id}", data={"action": "unlock"})
    assert refused.status_code == 403


def make_school_id(db) -> int:
    from shared.models import School

    other = School(name="Other", code="OTH", timezone="America/Chicago", settings={})
    db.session.add(other)
    db.session.flush()
    return other.id


@needs_redis_server
def test_unlock_clears_the_redis_count_too(app, db, client, school, make_user, redis_limiter):
    user = make_user(school, "teacher")
    _lock_out(client, user)
    assert any(key.startswith("passline:login:account:") for key in redis_keys(redis_limiter))
    assert throttle.account_locked_for(user.email) > 0
    assert throttle.unlock_account(user.email) is True
    assert throttle.account_locked_for(user.email) is None
    assert not any(key.startswith("passline:login:account:") for key in redis_keys(redis_limiter))
    assert sign_in(client, user.email, PASSWORD)[0] == 302

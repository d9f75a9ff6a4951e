"""Revoking a device or signing out refuses every later poll, in every gunicorn worker.

Screens poll their live region through several gunicorn worker processes (a new
connection for each request, so the kernel spreads them over the workers' listening
sockets), most of them answered by the poll shortcut from a decision made moments
before. Once the revoke's (or the sign-out's) answer has arrived, no poll sent after
that moment may get a 2xx with that cookie, whichever worker answers it. Runs on the
test database: SQLite, or PostgreSQL with TEST_DATABASE_URL.
"""

import http.client
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest

from shared import live
from shared.access import DEVICE_COOKIE, secret_digest
from shared.models import Device
from shared.timeutil import utcnow
from tests.gunicorn_server import Browser, running_gunicorn
from tests.helpers import PASSWORD

pytestmark = pytest.mark.slow

POLLERS = 8
#: Each test revokes (or signs out) this many times, each time with its own cookie: one
#: round may by chance have its answer arrive only after every worker looked again.
ROUNDS = 3
REGION = "/hallpass/hallway/list?v=1"
#: Polls before the revoke (every worker admits the screen and reuses that) and after.
BEFORE_SECONDS, AFTER_SECONDS = 1.5, 1.0


@pytest.fixture
def server(app, tmp_path):
    with running_gunicorn(
        app.config["SQLALCHEMY_DATABASE_URI"], tmp_path, workers=3, threads=2
    ) as running:
        yield running


def _poll_status(url: str, cookie: str) -> int:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request("GET", REGION, headers={"Cookie": cookie, "HX-Request": "true"})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def _polls_around(server, cookie: str, act: Callable[[], None]) -> tuple[list, list]:
    """POLLERS screens poll with `cookie` while `act` runs; the (status) of every poll
    sent before `act` began, and of every poll sent after its answer arrived."""
    stop = threading.Event()
    polls: list[tuple[float, float, int]] = []

    def poller():
        while not stop.is_set():
            sent = time.monotonic()
            status = _poll_status(server.url, cookie)
            polls.append((sent, time.monotonic(), status))

    threads = [threading.Thread(target=poller) for _ in range(POLLERS)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(BEFORE_SECONDS)
        began = time.monotonic()
        act()
        acknowledged = time.monotonic()
        time.sleep(AFTER_SECONDS)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    before = [status for sent, answered, status in polls if answered < began]
    after = [status for sent, _answered, status in polls if sent > acknowledged]
    return before, after


def _served(statuses: list[int]) -> int:
    return sum(1 for status in statuses if 200 <= status < 300)


def _signed_in(server, user) -> Browser:
    browser = Browser(server.url)
    token = browser.csrf_token("/login")
    status, _, _ = browser.post(
        "/login", {"email": user.email, "password": PASSWORD, "csrf_token": token}
    )
    assert status == 302
    return browser


def _assert_refused_after(rounds: list[tuple[list[int], list[int]]]) -> None:
    """Every round: its screens were answered before, and nothing after."""
    for before, _after in rounds:
        assert len(before) > 20 and set(before) == {204}
    after = [status for _before, after in rounds for status in after]
    assert len(after) > 20 * len(rounds)
    assert _served(after) == 0, f"{_served(after)} of {len(after)} polls served afterwards"
    assert set(after) == {401}


def test_a_revoked_screen_gets_no_poll_answered_after_the_revoke(db, server, school, make_user):
    secrets = [f"revoked-tv-{n}" for n in range(ROUNDS)]
    devices = [
        Device(
            school_id=school.id,
            kind="display",
            purpose="hallway",
            label=f"Hallway TV {secret}",
            secret_hash=secret_digest(secret),
            last_seen_at=utcnow(),
        )
        for secret in secrets
    ]
    db.session.add_all(devices)
    live.bump(school.id, "hallway")
    db.session.commit()
    admin = _signed_in(server, make_user(school, "admin"))
    token = admin.csrf_token("/devices")
    rounds = []
    for device, secret in zip(devices, secrets, strict=True):

        def revoke(device_id=device.id):
            status, _, _ = admin.post(f"/devices/{device_id}/revoke", {"csrf_token": token})
            assert status == 302

        rounds.append(_polls_around(server, f"{DEVICE_COOKIE}={secret}", revoke))
    _assert_refused_after(rounds)


def test_a_signed_out_session_gets_no_poll_answered_after_the_sign_out(
    db, server, school, make_user
):
    live.bump(school.id, "hallway")
    db.session.commit()
    user = make_user(school, "office")
    rounds = []
    for _round in range(ROUNDS):
        office = _signed_in(server, user)
        cookie = "; ".join(f"{name}={value}" for name, value in office.cookies.items())
        token = office.csrf_token("/hallpass/")

        def sign_out(office=office, token=token):
            status, _, _ = office.post("/logout", {"csrf_token": token})
            assert status == 302

        rounds.append(_polls_around(server, cookie, sign_out))
    _assert_refused_after(rounds)

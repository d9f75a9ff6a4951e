"""Failing well: a stopped, frozen or locked database, black-box through gunicorn.

The app runs under gunicorn (two workers) on a PostgreSQL cluster of the test's own
(tests/pg_cluster.py), which the test stops (as a crash would) or freezes (SIGSTOP: the
kernel still accepts connections, nothing ever answers), then starts or thaws again.
During the outage every request that needs the database must get a 503 with
Retry-After quickly (a styled page, or the short message for htmx), never a 500; pages
that need no data keep answering; no request waits more than 10 s; /healthz says 503
within 3 s; afterwards the app serves again within 5 s without a restart. A curb phone
keeps entering cars throughout, resending what was not acknowledged with the same key,
as its outbox does: every car is in the queue exactly once.

The SQLite case: another process holds the write lock far longer than the busy timeout;
writes get a 503 after the busy timeout, never a 500.

The PostgreSQL cases run in the SQLite pass of `.ci/run` only: they use their own
cluster whatever TEST_DATABASE_URL says, so running them in the PostgreSQL pass as well
would only repeat them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from carline.models import QueueEntry
from shared import create_app
from shared.extensions import db as _db
from shared.models import Family, Membership, School, Student, User
from tests.gunicorn_server import Browser, running_gunicorn
from tests.helpers import PASSWORD, PASSWORD_HASH
from tests.pg_cluster import needs_initdb, own_postgres

pytestmark = pytest.mark.slow

CARS = 120
HX = {"HX-Request": "true"}
OUTAGE_TEXT = "No connection to the school&#39;s server, trying again"
_CODE = re.compile(r'class="pairing-code"[^>]*>([^<]+)<')
_VERSION = re.compile(r"[?&]v=(\d+)")

#: The app's own defaults for every database wait (an empty value means the default).
DEFAULT_WAITS = {"DATABASE_LOCK_TIMEOUT": "", "DATABASE_STATEMENT_TIMEOUT": ""}

only_once = pytest.mark.skipif(
    bool(os.environ.get("TEST_DATABASE_URL")),
    reason="own PostgreSQL cluster: runs in the SQLite pass of .ci/run only (not twice)",
)


# --- set-up ------------------------------------------------------------------------------


def seed(url: str, instance) -> str:
    """Tables, one school with CARS families and an office user; returns the user's email."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "test-secret-key"})
    with app.app_context():
        _db.create_all()
        school = School(name="Outage School", code="OUT", timezone="America/Chicago", settings={})
        _db.session.add(school)
        _db.session.flush()
        user = User(email="office@example.org", name="Office", password_hash=PASSWORD_HASH)
        _db.session.add(user)
        _db.session.flush()
        _db.session.add_all(
            [Membership(user_id=user.id, school_id=school.id, role=r) for r in ("admin", "office")]
        )
        for n in range(1, CARS + 1):
            family = Family(school_id=school.id, tag_number=n)
            family.students.append(
                Student(
                    school_id=school.id, student_number=f"{n}", first_name=f"S{n}", last_name="K"
                )
            )
            _db.session.add(family)
        _db.session.commit()
        _db.session.remove()
        _db.engine.dispose()
    return "office@example.org"


def queued_tags(url: str) -> Counter:
    """How many queue entries each tag number has (read on a fresh engine)."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "test-secret-key"})
    with app.app_context():
        rows = _db.session.execute(
            select(Family.tag_number).join(QueueEntry, QueueEntry.family_id == Family.id)
        ).scalars()
        counts = Counter(rows)
        _db.session.remove()
        _db.engine.dispose()
    return counts


def signed_in(url: str, email: str) -> Browser:
    browser = Browser(url)
    token = browser.csrf_token("/login")
    status, _, _ = browser.post(
        "/login", {"email": email, "password": PASSWORD, "csrf_token": token}
    )
    assert status == 302
    browser.token = browser.csrf_token("/dashboard")
    return browser


def start_dismissal(office: Browser) -> None:
    status, _, _ = office.post(
        "/carline/dismissal/start",
        {"lanes": "1", "spots_per_lane": "3", "csrf_token": office.token},
    )
    assert status == 302


def paired_tv(url: str, office: Browser) -> Browser:
    _, _, page = office.post(
        "/devices/new",
        {"kind": "display", "purpose": "dismissal", "label": "TV", "csrf_token": office.token},
    )
    code = _CODE.search(page).group(1).strip()
    tv = Browser(url)
    token = tv.csrf_token("/pair")
    status, _, _ = tv.post("/pair", {"code": code, "csrf_token": token})
    assert status == 302 and "passline_device" in tv.cookies
    return tv


# --- what a dismissal sends, and what it got ---------------------------------------------


@dataclass
class Answer:
    kind: str
    status: int  # 0: no answer (connection refused or reset)
    seconds: float
    headers: dict
    body: str


class Traffic:
    """Threads sending the requests of a dismissal in a loop, each answer recorded."""

    def __init__(self, url: str, office: Browser, tv: Browser):
        self.url, self.office, self.tv = url, office, tv
        self.answers: list[Answer] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.tv_version = 0

    def kinds(self):
        office, tv = self.office, self.tv
        return {
            "page": lambda: office.get("/dashboard"),
            "curb page": lambda: office.get("/carline/curb"),
            "curb list poll": lambda: office.get("/carline/curb/list?v=1", headers=HX),
            "tv poll": lambda: tv.get(f"/carline/tv/calls?v={self.tv_version}", headers=HX),
            "sign-in page": lambda: Browser(self.url).get("/login"),
            "static": lambda: Browser(self.url).get("/static/css/app.css"),
            "healthz": lambda: Browser(self.url).get("/healthz"),
        }

    def one(self, kind: str, call) -> Answer:
        started = time.monotonic()
        try:
            status, headers, body = call()
        except OSError:
            status, headers, body = 0, {}, ""
        answer = Answer(kind, status, time.monotonic() - started, headers, body)
        with self.lock:
            self.answers.append(answer)
        return answer

    def _loop(self, offset: int) -> None:
        kinds = list(self.kinds().items())
        n = offset
        while not self.stop.is_set():
            kind, call = kinds[n % len(kinds)]
            self.one(kind, call)
            n += 1
            time.sleep(0.05)

    def start(self, threads: int = 4) -> None:
        self.threads = [threading.Thread(target=self._loop, args=(i,)) for i in range(threads)]
        for thread in self.threads:
            thread.start()

    def finish(self) -> list[Answer]:
        self.stop.set()
        for thread in self.threads:
            thread.join(30)
        return self.answers


class CurbPhone:
    """Enters cars one after another, as curb.js's outbox does: an entry keeps its key and
    is sent again until it is acknowledged (200); every third acknowledged entry is sent a
    second time with its key, as a phone that missed the answer would."""

    def __init__(self, office: Browser, tags: range):
        self.office, self.tags = office, tags
        self.acknowledged: list[int] = []
        self.statuses: Counter = Counter()
        #: the longest wait for an answer other than 200 (a 503 or no answer)
        self.slowest_refusal = 0.0
        self.thread = threading.Thread(target=self._run)

    def send(self, tag: int, key: str) -> int:
        started = time.monotonic()
        try:
            status, _, _ = self.office.post(
                "/carline/curb/entries",
                {"entry": str(tag), "key": key, "csrf_token": self.office.token},
                headers=HX,
            )
        except OSError:
            status = 0
        self.statuses[status] += 1
        if status != 200:
            self.slowest_refusal = max(self.slowest_refusal, time.monotonic() - started)
        return status

    def _run(self) -> None:
        deadline = time.monotonic() + 90
        for tag in self.tags:
            key = uuid.uuid4().hex
            while self.send(tag, key) != 200:
                assert time.monotonic() < deadline, "the curb never got through"
                time.sleep(0.2)
            self.acknowledged.append(tag)
            while tag % 3 == 0 and self.send(tag, key) != 200:
                assert time.monotonic() < deadline, "the curb never got through"
                time.sleep(0.2)
            time.sleep(0.05)


def wait_for(condition, seconds: float) -> float:
    """Seconds until `condition()` is true (fails after `seconds`)."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < seconds, "not within the time allowed"
        time.sleep(0.1)
    return time.monotonic() - started


def serves(office: Browser) -> bool:
    try:
        return office.get("/dashboard")[0] == 200
    except OSError:
        return False


def check_outage_answers(answers: list[Answer]) -> None:
    """Every answer during an outage: 503 + Retry-After (data) or 200 (no data), no 500."""
    assert answers
    statuses = Counter(a.status for a in answers)
    assert not [a for a in answers if a.status >= 500 and a.status != 503], statuses
    for answer in answers:
        assert "Traceback" not in answer.body and "Internal Server Error" not in answer.body
        if answer.kind in ("sign-in page", "static"):
            assert answer.status == 200, (answer.kind, answer.status)
            continue
        if answer.kind == "tv poll" and answer.status in (200, 204):
            continue  # answered from what the worker had read before the outage
        assert answer.status == 503, (answer.kind, answer.status)
        assert answer.headers.get("Retry-After", "").isdigit(), answer.kind
        if answer.kind == "healthz":
            assert '"database":"unreachable"' in answer.body.replace(" ", "")
        elif answer.kind in ("page", "curb page"):
            assert "<html" in answer.body and "css/app.css" in answer.body
            assert "cannot reach its database" in answer.body
            assert "Sign out" not in answer.body  # rendered as for nobody, without the data
        else:
            assert "<html" not in answer.body and OUTAGE_TEXT in answer.body


def figures(answers: list[Answer]) -> str:
    by_status = Counter(a.status for a in answers)
    slowest = max(a.seconds for a in answers)
    health = max((a.seconds for a in answers if a.kind == "healthz"), default=0)
    sign_in = max((a.seconds for a in answers if a.kind == "sign-in page"), default=0)
    return (
        f"{len(answers)} answers {dict(by_status)}; slowest {slowest:.2f} s; "
        f"/healthz slowest {health:.2f} s; sign-in page slowest {sign_in:.2f} s"
    )


# --- PostgreSQL --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster():
    with own_postgres() as own:
        yield own


@pytest.fixture
def dismissal(cluster, tmp_path):
    """gunicorn on a freshly seeded database, dismissal started, office signed in, a TV paired."""
    url = cluster.new_database()
    email = seed(url, tmp_path)
    with running_gunicorn(url, tmp_path, workers=2, threads=4, **DEFAULT_WAITS) as server:
        office = signed_in(server.url, email)
        start_dismissal(office)
        tv = paired_tv(server.url, office)
        traffic = Traffic(server.url, office, tv)
        for kind, call in traffic.kinds().items():
            assert traffic.one(kind, call).status in (200, 204), kind
        traffic.answers.clear()
        yield url, server, office, traffic


@needs_initdb
@only_once
def test_a_stopped_database_gets_503_within_2_s_and_the_app_recovers(cluster, dismissal):
    url, _server, office, traffic = dismissal
    phone = CurbPhone(office, range(1, 41))
    phone.thread.start()
    wait_for(lambda: len(phone.acknowledged) >= 10, 30)
    cluster.stop()
    stopped = time.monotonic()
    traffic.start()
    time.sleep(6)
    answers = traffic.finish()
    cluster.start()
    recovered = wait_for(lambda: serves(office), 5)
    phone.thread.join(60)
    print(
        f"stopped database: {figures(answers)}; served again {recovered:.1f} s after restart; "
        f"curb {dict(phone.statuses)}, slowest refusal {phone.slowest_refusal:.2f} s"
    )

    check_outage_answers(answers)
    slow = [(a.kind, round(a.seconds, 2)) for a in answers if a.seconds > 2]
    assert not slow, slow
    assert sum(a.status == 503 for a in answers) >= 20
    assert time.monotonic() - stopped > 6
    assert phone.acknowledged == list(range(1, 41))
    assert phone.statuses[503] > 0, "the outage should fall among the curb's entries"
    assert phone.slowest_refusal < 2
    assert queued_tags(url) == Counter(range(1, 41)), "a car was lost or doubled"


@needs_initdb
@only_once
def test_a_frozen_database_keeps_every_request_under_10_s(cluster, dismissal):
    url, _server, office, traffic = dismissal
    phone = CurbPhone(office, range(1, 41))
    phone.thread.start()
    wait_for(lambda: len(phone.acknowledged) >= 10, 30)
    cluster.freeze()
    try:
        traffic.start()
        time.sleep(12)
        answers = traffic.finish()
    finally:
        cluster.thaw()
    recovered = wait_for(lambda: serves(office), 5)
    phone.thread.join(60)
    print(
        f"frozen database: {figures(answers)}; served again {recovered:.1f} s after SIGCONT; "
        f"curb {dict(phone.statuses)}, slowest refusal {phone.slowest_refusal:.2f} s"
    )

    slow = [(a.kind, round(a.seconds, 2)) for a in answers if a.seconds > 10]
    assert not slow, slow
    health = [a for a in answers if a.kind == "healthz"]
    assert health and all(a.status == 503 and a.seconds < 3 for a in health), health
    check_outage_answers(answers)
    assert phone.statuses[503] > 0 and phone.slowest_refusal < 10
    assert phone.acknowledged == list(range(1, 41))
    assert queued_tags(url) == Counter(range(1, 41)), "a car was lost or doubled"


@needs_initdb
@only_once
def test_healthz_reports_redis_as_degraded_and_stays_200(cluster, tmp_path):
    url = cluster.new_database()
    seed(url, tmp_path)
    # Nothing listens on this port: Redis is down from the start.
    from tests.gunicorn_server import free_port

    redis_url = f"redis://127.0.0.1:{free_port()}/0"
    with running_gunicorn(
        url, tmp_path, workers=1, threads=2, REDIS_URL=redis_url, **DEFAULT_WAITS
    ) as server:
        started = time.monotonic()
        status, _, body = Browser(server.url).get("/healthz")
        assert time.monotonic() - started < 3
    assert status == 200
    compact = body.replace(" ", "")
    assert '"redis":"degraded"' in compact and '"status":"degraded"' in compact
    assert '"database":"ok"' in compact


# --- SQLite ------------------------------------------------------------------------------

HOLD_LOCK = """
import sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
connection.execute("ROLLBACK")
"""


@only_once
def test_sqlite_write_lock_held_elsewhere_gets_503_never_500(tmp_path):
    path = tmp_path / "locked.sqlite3"
    url = f"sqlite:///{path}"
    email = seed(url, tmp_path)
    with running_gunicorn(url, tmp_path, workers=2, threads=4, **DEFAULT_WAITS) as server:
        office = signed_in(server.url, email)
        start_dismissal(office)
        tv = paired_tv(server.url, office)
        traffic = Traffic(server.url, office, tv)
        holder = subprocess.Popen(  # noqa: S603 (this Python, a fixed script)
            [sys.executable, "-c", HOLD_LOCK, str(path), "12"], stdout=subprocess.PIPE, text=True
        )
        try:
            assert holder.stdout.readline().strip() == "locked"
            locked_at = time.monotonic()
            phone = CurbPhone(office, range(1, 21))
            phone.thread.start()
            traffic.start()
            time.sleep(10)
            during = dict(phone.statuses)
            answers = traffic.finish()
        finally:
            holder.wait(30)
            holder.stdout.close()
        released = time.monotonic() - locked_at
        phone.thread.join(60)
    print(
        f"SQLite locked {released:.0f} s: {figures(answers)}; curb during the lock {during}, "
        f"slowest refusal {phone.slowest_refusal:.2f} s"
    )

    assert not [a for a in answers if a.status >= 500 and a.status != 503]
    assert phone.statuses[500] == 0 and during.get(503, 0) >= 1 and not during.get(200)
    assert phone.slowest_refusal < 7  # the busy timeout (5 s) and a little
    for answer in answers:
        assert "Traceback" not in answer.body
        if answer.status == 503:
            assert answer.headers.get("Retry-After", "").isdigit()
            assert answer.seconds < 7  # the busy timeout (5 s) and a little
    assert phone.acknowledged == list(range(1, 21))
    assert queued_tags(url) == Counter(range(1, 21))

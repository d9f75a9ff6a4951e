"""Live push (shared/live_push.py, /live/stream): announced when committed, never when
rolled back, across processes, and ended at once when access ends.

On PostgreSQL every announcement goes through NOTIFY and this process's LISTEN
connection (a real one); on SQLite the committing process announces its own, and a
short version poll carries other processes'.
"""

import json
import queue
import threading

import pytest
from sqlalchemy import text

from shared import live, live_push
from shared.access import DEVICE_COOKIE, secret_digest
from shared.models import Device
from shared.timeutil import utcnow

SECRET = "push-tv-secret"
#: How long a test waits for something that should come at once (a loaded machine).
WAIT = 10.0


@pytest.fixture(autouse=True)
def fresh_hub(app):
    live_push.hub.reset()
    yield
    live_push.hub.reset()


class Reader:
    """A stream's events as a browser reads them, parsed, from a thread of its own."""

    def __init__(self, response):
        self.response = response
        self.events: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        buffer = ""
        try:
            for chunk in self.response.response:
                buffer += chunk.decode() if isinstance(chunk, bytes) else chunk
                while "\n\n" in buffer:
                    block, buffer = buffer.split("\n\n", 1)
                    self.events.put(_parse(block))
        finally:
            self.events.put(("closed", None))

    def next(self, seconds: float = WAIT):
        """The next event (comments and the retry line skipped)."""
        while True:
            name, data = self.events.get(timeout=seconds)
            if name is not None:
                return name, data

    def nothing_for(self, seconds: float) -> bool:
        try:
            self.unexpected = self.next(seconds)
        except queue.Empty:
            return True
        return False


def _parse(block: str):
    name, data = None, []
    for line in block.split("\n"):
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            data.append(line[6:])
    payload = "\n".join(data)
    if name == "version":
        payload = json.loads(payload)
        return name, (payload["topic"], payload["v"])
    return name, payload


def _screen(app, db, school, secret=SECRET):
    device = Device(
        school_id=school.id,
        kind="display",
        purpose="dismissal",
        label=secret,
        secret_hash=secret_digest(secret),
        last_seen_at=utcnow(),
    )
    db.session.add(device)
    db.session.commit()
    browser = app.test_client()
    browser.set_cookie(DEVICE_COOKIE, secret, domain="passline.test")
    return device, browser


def _open(browser, topics="dismissal,hallway") -> Reader:
    response = browser.get(f"/live/stream?topics={topics}", buffered=False)
    assert response.status_code == 200, response.status_code
    assert response.mimetype == "text/event-stream"
    assert response.headers["X-Accel-Buffering"] == "no"
    return Reader(response)


def _bump(db, school_id, *topics):
    live.bump(school_id, *topics)
    db.session.commit()


def test_a_stream_starts_with_each_topics_version_then_announces_each_commit(app, db, school):
    _bump(db, school.id, "dismissal")
    _bump(db, school.id, "dismissal")
    _device, tv = _screen(app, db, school)
    reader = _open(tv)
    assert reader.next() == ("version", ("dismissal", 2))
    assert reader.next() == ("version", ("hallway", 0))
    _bump(db, school.id, "dismissal")
    assert reader.next() == ("version", ("dismissal", 3))
    _bump(db, school.id, "room:4")  # a topic the page does not show: nothing
    _bump(db, school.id, "hallway")
    assert reader.next() == ("version", ("hallway", 1))


def test_another_schools_changes_are_not_sent(app, db, school, make_school):
    other = make_school()
    _device, tv = _screen(app, db, school)
    reader = _open(tv, "dismissal")
    assert reader.next() == ("version", ("dismissal", 0))
    _bump(db, other.id, "dismissal")
    _bump(db, school.id, "dismissal")
    assert reader.next() == ("version", ("dismissal", 1))


def test_a_rolled_back_change_announces_nothing(app, db, school):
    _device, tv = _screen(app, db, school)
    reader = _open(tv)
    reader.next(), reader.next()
    live.bump(school.id, "dismissal")
    db.session.rollback()
    _bump(db, school.id, "hallway")
    assert reader.next() == ("version", ("hallway", 1))  # and not the dismissal's
    assert reader.nothing_for(0.7), reader.unexpected


def test_a_change_made_by_another_process_reaches_the_stream(app, db, school):
    """Not through this process's session: on PostgreSQL the NOTIFY of the upsert itself
    (sent by whoever commits), on SQLite the version poll."""
    _device, tv = _screen(app, db, school)
    reader = _open(tv, "dismissal")
    assert reader.next() == ("version", ("dismissal", 0))
    upsert = live._upsert(db.engine.dialect.name)
    with db.engine.begin() as elsewhere:
        elsewhere.execute(upsert, [{"school_id": school.id, "topic": "dismissal"}])
    assert reader.next() == ("version", ("dismissal", 1))


def test_revoking_the_device_ends_its_stream_at_once(app, db, school, make_user, login, client):
    device, tv = _screen(app, db, school)
    _other, other_tv = _screen(app, db, school, "another-tv")
    reader, other_reader = _open(tv, "dismissal"), _open(other_tv, "dismissal")
    reader.next(), other_reader.next()
    login(make_user(school, "admin"))
    assert client.post(f"/devices/{device.id}/revoke").status_code == 302
    assert reader.next(2.0) == ("end", "access")
    assert reader.next(2.0) == ("closed", None)
    # The other screen keeps its stream and hears the next change; the revoked one can
    # open no new stream.
    _bump(db, school.id, "dismissal")
    assert other_reader.next() == ("version", ("dismissal", 1))
    assert tv.get("/live/stream?topics=dismissal", buffered=False).status_code in (302, 401)


def test_signing_out_ends_the_staff_members_stream(app, db, school, make_user, login, client):
    login(make_user(school, "office"))
    reader = _open(client, "dismissal")
    reader.next()
    assert client.post("/logout").status_code == 302
    assert reader.next(2.0) == ("end", "access")


def test_a_stream_names_only_valid_topics(app, db, school):
    _device, tv = _screen(app, db, school)
    too_many = ",".join(f"t{n}" for n in "abcdefghijklmnopq")
    for topics in ("", "access", "Dismissal", "dismissal;drop", too_many, "a:b:c:4", "room:x:"):
        assert tv.get(f"/live/stream?topics={topics}").status_code == 400, topics


def test_a_stream_may_name_a_kind_of_record_and_its_id(app, db, school):
    """The late arrivals of one class are topic "tardies:class:N" (hallpass/tardies.py)."""
    _device, tv = _screen(app, db, school)
    reader = _open(tv, "tardies:class:3")
    assert reader.next() == ("version", ("tardies:class:3", 0))
    _bump(db, school.id, "tardies:class:3")
    assert reader.next() == ("version", ("tardies:class:3", 1))


def test_a_process_that_takes_no_more_streams_answers_503(app, db, school):
    _device, tv = _screen(app, db, school)
    before = app.config["LIVE_STREAMS"]
    app.config["LIVE_STREAMS"] = 0
    try:
        response = tv.get("/live/stream?topics=dismissal")
    finally:
        app.config["LIVE_STREAMS"] = before
    assert response.status_code == 503 and response.headers["Retry-After"]


def test_a_shutdown_ends_every_stream(app, db, school):
    _device, tv = _screen(app, db, school)
    reader = _open(tv, "dismissal")
    reader.next()
    live_push.hub.shutdown()
    assert reader.next(2.0) == ("end", "shutdown")
    assert tv.get("/live/stream?topics=dismissal").status_code == 503


def test_a_lost_listener_ends_the_streams_and_connects_again_by_itself(app, db, school):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's LISTEN connection")
    _device, tv = _screen(app, db, school)
    reader = _open(tv, "dismissal")
    reader.next()
    with db.engine.begin() as admin:
        killed = admin.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE query LIKE 'LISTEN passline_live%' AND datname = current_database()"
            )
        ).all()
    assert killed
    assert reader.next() == ("end", "down")  # the screen polls meanwhile
    reader = None
    for _ in range(100):  # the listener is back within its first retry
        response = tv.get("/live/stream?topics=dismissal", buffered=False)
        if response.status_code == 200:
            reader = Reader(response)
            break
        threading.Event().wait(0.1)
    assert reader is not None
    assert reader.next() == ("version", ("dismissal", 0))
    _bump(db, school.id, "dismissal")
    assert reader.next() == ("version", ("dismissal", 1))


def test_stream_opens_take_turns_at_the_database(app, db, school):
    """At most as many opens at once as the pool keeps connections (StreamGate): one that
    finds every turn taken waits for one instead of for a pool connection's timeout."""
    _device, tv = _screen(app, db, school)
    turns = live_push.database_turn(app.config["DATABASE_POOL_SIZE"])
    taken = [turns.acquire(timeout=5) for _ in range(app.config["DATABASE_POOL_SIZE"])]
    assert all(taken)
    answered = queue.Queue()
    opener = threading.Thread(
        target=lambda: answered.put(tv.get("/live/stream?topics=dismissal", buffered=False))
    )
    opener.start()
    try:
        with pytest.raises(queue.Empty):
            answered.get(timeout=0.5)  # waiting for a turn
    finally:
        for _ in taken:
            turns.release()
    response = answered.get(timeout=WAIT)
    assert response.status_code == 200
    response.close()
    opener.join(WAIT)

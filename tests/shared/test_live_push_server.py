"""Live push streams under real gunicorn (shared/gunicorn_conf.py): the threaded worker keeps
none on its default two threads (the screens poll), a gevent worker keeps many, hears a
change committed by another process (this one), and ends every stream at once when it is
told to stop rather than at the graceful timeout.
"""

import http.client
import signal
import time
from urllib.parse import urlsplit

from shared import live
from shared.access import DEVICE_COOKIE, secret_digest
from shared.models import Device
from shared.timeutil import utcnow
from tests.gunicorn_server import running_gunicorn

SECRET = "gunicorn-push-tv"


def _device(db, school):
    db.session.add(
        Device(
            school_id=school.id,
            kind="display",
            purpose="dismissal",
            label="TV",
            secret_hash=secret_digest(SECRET),
            last_seen_at=utcnow(),
        )
    )
    db.session.commit()


def _open(url: str):
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=15)
    connection.request(
        "GET", "/live/stream?topics=dismissal", headers={"Cookie": f"{DEVICE_COOKIE}={SECRET}"}
    )
    return connection, connection.getresponse()


def _next_event(stream) -> tuple[str, str]:
    name = data = None
    while True:
        line = stream.readline().decode().rstrip("\n")
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            data = line[6:]
        elif not line and name is not None:
            return name, data


def test_the_threaded_worker_keeps_no_stream_on_its_default_threads(app, db, school, tmp_path):
    _device(db, school)
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    with running_gunicorn(url, tmp_path, workers=1, threads=2) as server:
        connection, answer = _open(server.url)
        assert answer.status == 503  # the page polls
        connection.close()


def test_a_gevent_worker_streams_changes_and_ends_its_streams_on_stop(app, db, school, tmp_path):
    _device(db, school)
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    with running_gunicorn(
        url, tmp_path, workers=1, PASSLINE_WORKER_CLASS="gevent", PASSLINE_GRACEFUL_TIMEOUT="20"
    ) as server:
        streams = [_open(server.url) for _ in range(20)]
        for _connection, answer in streams:
            assert answer.status == 200
            assert _next_event(answer) == ("version", '{"topic":"dismissal","v":0}')
        live.bump(school.id, "dismissal")  # in this process: another one than the server's
        db.session.commit()
        for _connection, answer in streams:
            assert _next_event(answer) == ("version", '{"topic":"dismissal","v":1}')
        asked = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        for _connection, answer in streams:
            assert _next_event(answer) == ("end", "shutdown")
        server.process.wait(timeout=15)
        assert time.monotonic() - asked < 10  # not the 20 s graceful timeout
        for connection, _answer in streams:
            connection.close()

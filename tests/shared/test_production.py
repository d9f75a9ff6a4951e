"""Production serving: /healthz, security headers, redacted access logs, housekeeping, gunicorn."""

import threading
import time

import pytest

from shared import create_app
from shared.headers import CONTENT_SECURITY_POLICY
from shared.housekeeping import Job, run_jobs, start_thread
from shared.logredact import redact_query, redact_uri
from tests.gunicorn_server import free_port, http_get, running_gunicorn


def test_healthz_answers_ok_without_signing_in(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {
        "status": "ok",
        "database": "ok",
        "redis": "off",  # no REDIS_URL in the tests
        "housekeeping": "off",  # TESTING: no background thread
    }


def test_healthz_answers_503_when_the_database_fails(app):
    """A PostgreSQL address where nothing listens: a real refused connection, quickly."""
    unreachable = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret-key",
            "SQLALCHEMY_DATABASE_URI": f"postgresql://postgres@127.0.0.1:{free_port()}/none",
        }
    )
    started = time.monotonic()
    response = unreachable.test_client().get("/healthz")
    assert time.monotonic() - started < 3
    assert response.status_code == 503
    assert response.get_json()["database"] == "unreachable"
    assert response.headers["Retry-After"]


def test_every_response_has_a_strict_content_security_policy(client):
    policy = client.get("/login").headers["Content-Security-Policy"]
    assert policy == CONTENT_SECURITY_POLICY
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "frame-ancestors 'none'" in policy
    assert "script-src 'self'" in policy and "style-src 'self'" in policy


def test_hsts_only_over_https(app):
    plain = app.test_client().get("/login")
    assert "Strict-Transport-Security" not in plain.headers
    secure = app.test_client().get("/login", base_url="https://passline.test")
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=31536000")


@pytest.mark.parametrize(
    "uri, expected",
    [
        ("/hallpass/p/Zk3_x9QmT0aL-7uBvY2cRw", "/hallpass/p/[redacted]"),
        ("/hallpass/r/eyJyIjoxfQ.Zk3x9Q.abcDEF123_-xyz/", "/hallpass/r/[redacted]/"),
        ("/hallpass/rooms/12/passes?v=41", "/hallpass/rooms/12/passes?v=41"),
        ("/reports?from=2026-11-01&q=Maria+Lopez", "/reports?from=2026-11-01&q=[redacted]"),
        ("/carline/curb", "/carline/curb"),
    ],
)
def test_access_log_redaction(uri, expected):
    assert redact_uri(uri) == expected


def test_redaction_keeps_empty_values():
    assert redact_query("v=&x=1") == "v=&x=1"


def test_housekeeping_runs_each_job_and_survives_a_failing_one(app, caplog):
    calls = []

    def failing() -> int:
        raise RuntimeError("boom")

    def working() -> int:
        calls.append(1)
        return 3

    done = run_jobs(app, [Job("fails", failing, 30), Job("works", working, 30)])
    assert done == {"works": 3}
    assert calls == [1]
    assert "housekeeping job fails failed" in caplog.text


def test_housekeeping_thread_runs_registered_jobs(app):
    ran = threading.Event()

    def job() -> int:
        ran.set()
        return 0

    stop = threading.Event()
    thread = start_thread(app, stop, [Job("tick", job, 1)])
    try:
        assert ran.wait(5), "the housekeeping thread never ran its job"
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()


def test_gunicorn_serves_with_several_workers_and_redacted_access_log(app, tmp_path):
    database_url = app.config["SQLALCHEMY_DATABASE_URI"]
    with running_gunicorn(database_url, tmp_path, workers=2) as server:
        status, headers, _body = http_get(server.url + "/healthz")
        assert status == 200
        assert "Content-Security-Policy" in headers
        http_get(server.url + "/hallpass/p/Zk3_x9QmT0aL-7uBvY2cRwAA")
    log = server.log()
    assert '"GET /healthz HTTP/1.1" 200' in log
    assert "Zk3_x9QmT0aL" not in log
    assert "/hallpass/p/[redacted]" in log
    assert "Booting worker" in log and log.count("Booting worker") >= 2


def _hallway_display(db, school, secret: str) -> None:
    from shared import live
    from shared.access import secret_digest
    from shared.models import Device
    from shared.timeutil import utcnow

    db.session.add(
        Device(
            school_id=school.id,
            kind="display",
            purpose="hallway",
            label="Hallway TV",
            secret_hash=secret_digest(secret),
            last_seen_at=utcnow(),
        )
    )
    live.bump(school.id, "hallway")
    db.session.commit()


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_unchanged_polls_are_counted_not_logged_one_by_one(app, db, school, tmp_path, log_format):
    import json
    import re

    from shared import live
    from shared.access import DEVICE_COOKIE
    from tests.gunicorn_server import Browser

    _hallway_display(db, school, "hallway-tv-secret")
    shown = live.current(school.id, "hallway")
    with running_gunicorn(
        app.config["SQLALCHEMY_DATABASE_URI"],
        tmp_path,
        workers=1,
        PASSLINE_POLL_COUNT_SECONDS="1",
        PASSLINE_LOG_FORMAT=log_format,
    ) as server:
        screen = Browser(server.url)
        screen.cookies[DEVICE_COOKIE] = "hallway-tv-secret"
        for _ in range(5):
            status, _, _ = screen.get(f"/hallpass/hallway/list?v={shown}")
            assert status == 204
        assert screen.get("/hallpass/hallway/list?v=0")[0] == 200  # a change: logged
        time.sleep(1.2)
        assert http_get(server.url + "/healthz")[0] == 200
    log = server.log()  # once stopped: a line is written after its answer is sent
    assert f"hallway/list?v={shown}" not in log
    if log_format == "text":
        counted = re.findall(r"^live polls unchanged: (\d+) in \d+ s$", log, re.MULTILINE)
        assert sum(map(int, counted)) == 5, log
        line = next(line for line in log.splitlines() if "GET /healthz" in line)
        # A timestamp first: [04/Dec/2026:18:50:01 +0000]
        assert re.match(r"\[\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\] ", line), line
        assert '"GET /hallpass/hallway/list?v=0 HTTP/1.1" 200' in log
    else:
        lines = [json.loads(line) for line in log.splitlines() if line.startswith('{"time"')]
        assert sum(line.get("live_polls_unchanged", 0) for line in lines) == 5, log
        health = next(line for line in lines if line.get("path") == "/healthz")
        assert health["status"] == 200 and health["method"] == "GET"
        assert any(line.get("query") == "v=0" and line["status"] == 200 for line in lines)

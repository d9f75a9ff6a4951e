"""/metrics (shared/metrics.py): who may read it, what it counts, and that gunicorn's
worker processes are added up (multiprocess mode, set up by shared/gunicorn_conf.py)."""

from __future__ import annotations

import http.client
import re
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from carline.curb import curb_entry
from carline.dismissal import start_dismissal
from hallpass import passes
from hallpass.models import Destination
from shared import create_app
from shared.audit import SYSTEM, Actor
from shared.database import write_intent
from shared.extensions import db as database
from shared.models import Room
from shared.schedule import school_today
from tests.gunicorn_server import running_gunicorn

OUTSIDE = {"REMOTE_ADDR": "10.20.30.40"}


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """Each sample of a scrape: (name, sorted labels) -> value."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(client, **options) -> dict:
    response = client.get("/metrics", **options)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/plain"
    return samples(response.get_data(as_text=True))


def requests_of(scraped: dict, group: str, status: str) -> float:
    key = ("passline_http_requests_total", (("group", group), ("status", status)))
    return scraped.get(key, 0.0)


def test_only_allowed_addresses_or_the_token_may_read_the_metrics(app, client):
    assert client.get("/metrics").status_code == 200  # the test client is 127.0.0.1
    refused = client.get("/metrics", environ_base=OUTSIDE)
    assert refused.status_code == 403
    assert "METRICS_ALLOW" in refused.get_data(as_text=True)
    app.config["METRICS_TOKEN"] = "s3cret-scraper-token"
    try:
        with_token = {"Authorization": "Bearer s3cret-scraper-token"}
        assert client.get("/metrics", environ_base=OUTSIDE, headers=with_token).status_code == 200
        wrong = {"Authorization": "Bearer guess"}
        assert client.get("/metrics", environ_base=OUTSIDE, headers=wrong).status_code == 403
        # A wrong token is refused even from an allowed address: it was meant for Prometheus.
        assert client.get("/metrics", headers=wrong).status_code == 403
    finally:
        app.config["METRICS_TOKEN"] = ""


def test_requests_are_counted_by_path_group_and_status(client):
    before = scrape(client)
    client.get("/login")
    client.get("/login")
    client.get("/hallpass/")  # not signed in: a redirect to sign-in
    client.get("/no/such/page/abc123token")
    after = scrape(client)
    assert requests_of(after, "login", "200") - requests_of(before, "login", "200") == 2
    assert requests_of(after, "hallpass", "302") - requests_of(before, "hallpass", "302") == 1
    assert requests_of(after, "other", "404") - requests_of(before, "other", "404") == 1
    # No label holds a path's free text: unknown paths are "other".
    assert not any("abc123token" in str(key) for key in after)
    timed = ("passline_http_request_duration_seconds_count", (("group", "login"),))
    assert after[timed] - before.get(timed, 0) == 2


def test_passes_out_and_curb_entries_are_read_from_the_database(
    db, client, school, make_student, make_user, make_family
):
    room = Room(school_id=school.id, name="101", kind="classroom")
    db.session.add(room)
    db.session.flush()
    destination = Destination(school_id=school.id, name="Library", time_limit_minutes=10)
    db.session.add(destination)
    db.session.commit()
    students = [make_student(school) for _ in range(3)]
    make_family(school, 7, students[2])
    office = make_user(school, "office")
    scraped = scrape(client)
    assert scraped[("passline_passes_out", (("school", "LMS"),))] == 0
    assert scraped[("passline_curb_entries_today", (("school", "LMS"),))] == 0
    assert scraped[("passline_database_up", ())] == 1
    with write_intent():
        for student in students[:2]:
            passes.start_pass(
                school,
                Actor(user=office),
                student_id=student.id,
                destination_id=destination.id,
                from_room_id=room.id,
                source="teacher",
            )
        db.session.commit()
        dismissal = start_dismissal(school, SYSTEM, 2, 5, school_today(school))
        curb_entry(school, dismissal, tag_number=7, actor=SYSTEM)
        db.session.commit()
    scraped = scrape(client)
    assert scraped[("passline_passes_out", (("school", "LMS"),))] == 2
    assert scraped[("passline_curb_entries_today", (("school", "LMS"),))] == 1


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=30) as answer:  # noqa: S310  (our own server)
        return answer.status, answer.read().decode()


def test_gunicorn_workers_are_added_up(app, tmp_path):
    """Two workers: the pools' size is both pools, and every request is counted once,
    whichever worker answered it and whichever answers the scrape."""
    with running_gunicorn(
        app.config["SQLALCHEMY_DATABASE_URI"], tmp_path, workers=2, threads=2
    ) as server:
        for _ in range(40):
            # A new connection each time, so the kernel hands them to both workers.
            connection = http.client.HTTPConnection(server.url.removeprefix("http://"), timeout=30)
            connection.request("GET", "/login")
            assert connection.getresponse().status == 200
            connection.close()
        status, text = _get(f"{server.url}/metrics")
        assert status == 200
        scraped = samples(text)
        assert requests_of(scraped, "login", "200") == 40
        pool_size = scraped[("passline_db_pool_size", ())]
        one_pool = database.engine.pool.size()
        assert pool_size == 2 * one_pool, text
        assert re.search(r"^passline_live_polls_shortcut_total ", text, re.MULTILINE)


def test_a_bad_allow_list_stops_the_start(app):
    config = {**app.config, "METRICS_ALLOW": "127.0.0.1, the office"}
    with pytest.raises(RuntimeError, match="METRICS_ALLOW"):
        create_app(config)


def test_a_multiprocess_folder_named_after_start_changes_nothing(client, monkeypatch, tmp_path):
    """Importing the gunicorn settings names a folder in the environment; this process
    counts in its memory since it started without one, and goes on serving that."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    before = scrape(client)
    client.get("/login")
    after = scrape(client)
    assert requests_of(after, "login", "200") - requests_of(before, "login", "200") == 1

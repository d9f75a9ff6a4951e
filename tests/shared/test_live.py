"""Live-update versions: atomic bumps, committed with the change, 204 while unchanged.

Every test runs twice, with the poll shortcut on and off (LIVE_POLL_SHORTCUT), so a poll
gets the same answer either way; the tests marked `shortcut_only` are about the
shortcut itself and run with it on.
"""

import contextlib
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from flask import request_started
from sqlalchemy import update

from shared import live, poll_shortcut
from shared.access import DEVICE_COOKIE, secret_digest
from shared.database import (
    clear_request_write_intent,
    set_request_write_intent,
    write_intent,
)
from shared.models import Device, LiveVersion
from shared.timeutil import utcnow
from tests.helpers import StatementCounter, statements

shortcut_only = pytest.mark.shortcut_only


def pytest_generate_tests(metafunc):
    both = metafunc.definition.get_closest_marker("shortcut_only") is None
    metafunc.parametrize(
        "poll_shortcut_switch",
        [True, False] if both else [True],
        ids=["shortcut", "full-path"] if both else ["shortcut"],
        indirect=True,
    )


@pytest.fixture(autouse=True)
def poll_shortcut_switch(request, app):
    """LIVE_POLL_SHORTCUT for this test, set back afterwards."""
    before = app.config["LIVE_POLL_SHORTCUT"]
    app.config["LIVE_POLL_SHORTCUT"] = request.param
    yield request.param
    app.config["LIVE_POLL_SHORTCUT"] = before


def test_versions_start_at_zero_and_count_changes(db, make_school):
    school, other = make_school(), make_school()
    assert live.current(school.id, "hallway") == 0
    live.bump(school.id, "hallway")
    live.bump(school.id, "hallway")
    live.bump(other.id, "hallway")
    db.session.commit()
    assert live.current(school.id, "hallway") == 2
    assert live.current(other.id, "hallway") == 1
    assert live.current(school.id, "dismissal") == 0


def test_a_rolled_back_change_announces_nothing(db, school):
    live.bump(school.id, "hallway")
    db.session.rollback()
    assert live.current(school.id, "hallway") == 0


def test_concurrent_bumps_are_never_lost(app, db, school):
    school_id = school.id

    def bump_many(_):
        with app.app_context(), write_intent():
            for _ in range(25):
                live.bump(school_id, "dismissal")
                db.session.commit()

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(bump_many, range(8)))
    db.session.rollback()
    assert live.current(school_id, "dismissal") == 200


def test_poll_is_204_without_rendering_while_unchanged(app, db, school):
    live.bump(school.id, "hallway")
    db.session.commit()
    rendered = []

    def render(version):
        rendered.append(version)
        return f"<div data-live-version='{version}'></div>"

    with app.test_request_context("/?v=1"):
        assert live.poll(school.id, "hallway", render).status_code == 204
    with app.test_request_context("/?v=0"):
        assert live.poll(school.id, "hallway", render) == "<div data-live-version='1'></div>"
    with app.test_request_context("/?v=garbage"):
        live.poll(school.id, "hallway", render)
    assert rendered == [1, 1]


def test_an_unchanged_poll_costs_two_queries_for_a_device(app, db, school, client):
    """Who is asking (device and school in one query) and the version: nothing else."""
    secret = "hallway-screen-secret"
    db.session.add(
        Device(
            school_id=school.id,
            kind="display",
            purpose="hallway",
            label="Office TV",
            secret_hash=secret_digest(secret),
            last_seen_at=utcnow(),
        )
    )
    live.bump(school.id, "hallway")
    db.session.commit()
    client.set_cookie(DEVICE_COOKIE, secret, domain="passline.test")
    with StatementCounter(db.engine) as counter:
        response = client.get("/hallpass/hallway/list?v=1")
    assert response.status_code == 204
    queries = [s for s in counter.statements if s.lstrip().upper().startswith("SELECT")]
    assert len(queries) == 2, counter.statements


def test_an_unchanged_poll_costs_three_queries_for_staff(app, db, school, make_user, login, client):
    """The user, their schools and roles (one query), and the version."""
    login(make_user(school, "office"))
    live.bump(school.id, "hallway")
    db.session.commit()
    with StatementCounter(db.engine) as counter:
        response = client.get("/hallpass/hallway/list?v=1")
    assert response.status_code == 204
    queries = [s for s in counter.statements if s.lstrip().upper().startswith("SELECT")]
    assert len(queries) == 3, counter.statements


def test_a_shared_region_is_rendered_once_per_version_for_every_screen(app, db, school):
    live.bump(school.id, "dismissal")
    db.session.commit()
    rendered = []

    def render(version):
        rendered.append(version)
        return f"<ol data-v='{version}'></ol>"

    for _screen in range(5):
        with app.test_request_context("/?v=0"):
            assert live.poll(school.id, "dismissal", render, share="tv") == "<ol data-v='1'></ol>"
    assert rendered == [1]
    live.bump(school.id, "dismissal")
    db.session.commit()
    with app.test_request_context("/?v=1"):
        assert live.poll(school.id, "dismissal", render, share="tv") == "<ol data-v='2'></ol>"
    with app.test_request_context("/?v=1"):
        live.poll(school.id, "dismissal", render)  # not shared: rendered every time
    assert rendered == [1, 2, 2]


def test_polls_of_one_school_share_a_version_read_for_a_moment(app, db, school):
    """Within RECENT_SECONDS a process answers polls without reading the version again,
    unless the screen already shows a newer one (it must never go back)."""
    school_id = school.id
    live.bump(school_id, "hallway")
    db.session.commit()
    with StatementCounter(db.engine) as counter:
        for _screen in range(5):
            with app.test_request_context("/?v=1"):
                assert live.poll(school_id, "hallway", str).status_code == 204
    version_reads = [s for s in counter.statements if "FROM live_versions" in s]
    assert len(version_reads) == 1
    live.bump(school_id, "hallway")  # a change made in this process is seen at once
    db.session.commit()
    with app.test_request_context("/?v=1"):
        assert live.poll(school_id, "hallway", lambda v: f"v{v}") == "v2"


def test_a_refresh_the_stream_asked_for_reads_the_versions_afresh(app, db, school):
    """Another process changed the region and its stream told the screen: the versions this
    process remembers from a moment before must not answer that refresh "unchanged"."""
    school_id = school.id
    live.bump(school_id, "hallway")
    db.session.commit()
    with db.engine.begin() as other_process:  # its bump, which this process never saw
        other_process.execute(
            update(LiveVersion)
            .where(LiveVersion.school_id == school_id, LiveVersion.topic == "hallway")
            .values(version=2)
        )
    # What this process read a moment ago (the test sets the moment: a slow machine must
    # not let the quarter second pass before the polls).
    live._recent[school_id] = ({"hallway": 1}, time.monotonic())
    with app.test_request_context("/?v=1"):  # a timed poll may wait a quarter second
        assert live.poll(school_id, "hallway", lambda v: f"v{v}").status_code == 204
    live._recent[school_id] = ({"hallway": 1}, time.monotonic())
    announced = {live.ANNOUNCED_HEADER: "2"}
    with app.test_request_context("/?v=1", headers=announced):
        assert live.poll(school_id, "hallway", lambda v: f"v{v}") == "v2"
    for nonsense in ("", "-3", "two", "\u00b2", "9" * 40):  # ignored, never an error
        with app.test_request_context("/?v=2", headers={live.ANNOUNCED_HEADER: nonsense}):
            assert live.poll(school_id, "hallway", str).status_code == 204


# The shortcut for unchanged polls (poll_shortcut.unchanged_poll)

HX = {"HX-Request": "true"}  # a live region's poll: refused with 401, not sent to sign in


TV_SECRET = "hallway-tv-secret"


def _paired_screens(db, school, topic: str, *secrets: str) -> list[Device]:
    """Displays paired to show `topic` ("hallway" or "dismissal"), and its first change."""
    devices = [
        Device(
            school_id=school.id,
            kind="display",
            purpose=topic,
            label=secret,
            secret_hash=secret_digest(secret),
            last_seen_at=utcnow(),
        )
        for secret in secrets
    ]
    db.session.add_all(devices)
    live.bump(school.id, topic)
    db.session.commit()
    return devices


def _hallway_screen(db, school) -> Device:
    return _paired_screens(db, school, "hallway", TV_SECRET)[0]


def _screen_browser(app, secret: str):
    """A paired screen's browser, with its device cookie."""
    screen = app.test_client()
    screen.set_cookie(DEVICE_COOKIE, secret, domain="passline.test")
    return screen


def _opened_screen(app, secret: str, url: str):
    """A paired screen's browser that has polled `url` once (the full path admits it)."""
    screen = _screen_browser(app, secret)
    assert screen.get(url).status_code == 204
    return screen


@contextlib.contextmanager
def _requests_started_in_flask(app):
    """The requests Flask itself started meanwhile (its `request_started` signal)."""
    started = []

    def receiver(sender, **_extra):
        started.append(sender)

    with request_started.connected_to(receiver, app):
        yield started


def _tables_read(statements: list[str]) -> set[str]:
    return {
        word
        for statement in statements
        for word in ("devices", "users", "user_sessions", "memberships", "live_versions")
        if f"FROM {word}" in statement or f"JOIN {word}" in statement
    }


def _reader(app) -> poll_shortcut.VersionReader:
    """The shortcut's version reader of this app (inside the metrics' layer)."""
    layer = app.wsgi_app
    while not isinstance(layer, poll_shortcut.PollShortcut):
        layer = layer.wsgi_app
    return layer.reader


@shortcut_only
def test_a_device_admitted_moments_ago_polls_with_one_read_and_nothing_else(
    app, db, school, client
):
    """No session, no user, no view: one read of the school's versions per poll."""
    _hallway_screen(db, school)
    client.set_cookie(DEVICE_COOKIE, TV_SECRET, domain="passline.test")
    assert client.get("/hallpass/hallway/list?v=1").status_code == 204  # the full path
    # Until the shortcut has answered once: its reader may first replace a connection an
    # earlier test left closed (then that poll takes the full path, as it should).
    for _warm_up in range(3):
        reads = _reader(app).reads
        assert client.get("/hallpass/hallway/list?v=1").status_code == 204
        if _reader(app).reads == reads + 1:
            break
    reads = _reader(app).reads
    with StatementCounter(db.engine) as counter:
        for _poll in range(5):
            response = client.get("/hallpass/hallway/list?v=1")
            assert response.status_code == 204
            assert response.headers["Cache-Control"] == "no-store"
    assert counter.statements == []  # nothing through SQLAlchemy
    assert _reader(app).reads == reads + 5


def test_the_shortcut_only_answers_unchanged_polls_of_the_same_url(app, db, school, client):
    _hallway_screen(db, school)
    client.set_cookie(DEVICE_COOKIE, TV_SECRET, domain="passline.test")
    client.get("/hallpass/hallway/list?v=1")
    with StatementCounter(db.engine) as counter:
        changed = client.get("/hallpass/hallway/list?v=0")  # shows an older version
    assert changed.status_code == 200 and "devices" in _tables_read(counter.statements)
    with StatementCounter(db.engine) as counter:
        other_url = client.get("/carline/tv/calls?v=0")  # never admitted: full path, refused
    assert other_url.status_code == 403 and "devices" in _tables_read(counter.statements)


def test_revoking_a_device_ends_its_shortcut_at_once(app, db, school, make_user, login, client):
    device = _hallway_screen(db, school)
    tv = app.test_client()
    tv.set_cookie(DEVICE_COOKIE, TV_SECRET, domain="passline.test")
    assert tv.get("/hallpass/hallway/list?v=1").status_code == 204
    assert tv.get("/hallpass/hallway/list?v=1").status_code == 204
    login(make_user(school, "admin"))
    assert client.post(f"/devices/{device.id}/revoke").status_code == 302
    assert tv.get("/hallpass/hallway/list?v=1", headers=HX).status_code == 401


def test_access_ended_by_another_process_ends_the_shortcut_at_once(app, db, school, client):
    """Another process revokes the device: it changes the rows and bumps ACCESS_TOPIC,
    which this process reads from the database on the very next poll."""
    device = _hallway_screen(db, school)
    client.set_cookie(DEVICE_COOKIE, TV_SECRET, domain="passline.test")
    assert client.get("/hallpass/hallway/list?v=1").status_code == 204
    with db.engine.begin() as elsewhere:  # not through live.bump: this process is not told
        elsewhere.execute(
            Device.__table__.update().where(Device.id == device.id).values(revoked_at=utcnow())
        )
        elsewhere.execute(
            LiveVersion.__table__.insert().values(
                school_id=school.id, topic=live.ACCESS_TOPIC, version=1
            )
        )
    assert client.get("/hallpass/hallway/list?v=1", headers=HX).status_code == 401


@shortcut_only
def test_an_admission_is_reused_for_reuse_seconds_only(app, db, school, client, monkeypatch):
    _hallway_screen(db, school)
    client.set_cookie(DEVICE_COOKIE, TV_SECRET, domain="passline.test")
    client.get("/hallpass/hallway/list?v=1")
    monkeypatch.setattr(poll_shortcut, "REUSE_SECONDS", 0.0)
    with StatementCounter(db.engine) as counter:
        assert client.get("/hallpass/hallway/list?v=1").status_code == 204
    assert "devices" in _tables_read(counter.statements)


def test_a_copied_staff_cookie_gets_nothing_after_sign_out(
    app, db, school, make_user, login, poll_shortcut_switch
):
    office = login(make_user(school, "office"), on=app.test_client())
    live.bump(school.id, "hallway")
    db.session.commit()
    copy = app.test_client()
    for cookie in office._cookies.values():
        copy.set_cookie(cookie.key, cookie.value, domain=cookie.domain)
    assert copy.get("/hallpass/hallway/list?v=1").status_code == 204
    with StatementCounter(db.engine) as counter:
        assert copy.get("/hallpass/hallway/list?v=1").status_code == 204
    # The shortcut reuses the session's admission; the full path checks it each time.
    checked = bool(_tables_read(counter.statements) & {"users", "user_sessions"})
    assert checked is not poll_shortcut_switch
    office.post("/logout")
    assert copy.get("/hallpass/hallway/list?v=1", headers=HX).status_code == 401


def test_removing_a_role_ends_the_shortcut(app, db, school, make_user, login, client):
    staff = make_user(school, "office")
    watcher = login(staff, on=app.test_client())
    live.bump(school.id, "hallway")
    db.session.commit()
    assert watcher.get("/hallpass/hallway/list?v=1").status_code == 204
    assert watcher.get("/hallpass/hallway/list?v=1").status_code == 204
    login(make_user(school, "admin"))
    answer = client.post(f"/admin/staff/{staff.id}", data={"action": "roles", "roles": ["teacher"]})
    assert answer.status_code in (200, 302), answer.get_data(as_text=True)[:300]
    assert watcher.get("/hallpass/hallway/list?v=1").status_code == 403


@shortcut_only
def test_a_shared_region_reaches_admitted_screens_without_a_query(app, db, school, client):
    """The dismissal TV: one screen's poll renders the new version; the others get it
    through the shortcut, without their access checked again (it was, moments ago)."""
    secrets = [f"dismissal-tv-{n}" for n in range(3)]
    _paired_screens(db, school, "dismissal", *secrets)
    screens = [_opened_screen(app, secret, "/carline/tv/calls?v=1") for secret in secrets]
    live.bump(school.id, "dismissal")
    db.session.commit()
    first = screens[0].get("/carline/tv/calls?v=1")
    assert first.status_code == 200
    with StatementCounter(db.engine) as counter:
        others = [screen.get("/carline/tv/calls?v=1") for screen in screens[1:]]
    assert [o.get_data() for o in others] == [first.get_data()] * 2
    assert counter.statements == []
    assert all(o.headers["Cache-Control"] == "no-store" for o in others)


def test_anonymous_polls_are_never_remembered(app, db, school):
    live.bump(school.id, "hallway")
    db.session.commit()
    with app.test_request_context("/?v=1") as anonymous:
        live.poll(school.id, "hallway", str)
    assert live.ADMISSION not in anonymous.request.environ
    assert poll_shortcut._admitted == {}


def test_a_render_is_labelled_with_the_version_its_own_snapshot_saw(app, db, school, client):
    """Versions remembered from another thread's newer read must not label older data:
    the screen would keep old content under a new version until the next change."""
    _paired_screens(db, school, "dismissal", "tv-a", "tv-b")
    client.set_cookie(DEVICE_COOKIE, "tv-a", domain="passline.test")
    assert client.get("/carline/tv/calls?v=1", headers=HX).status_code == 204
    # Another thread read version 2 in its own, newer snapshot; this request's data is
    # still at version 1.
    live._recent[school.id] = ({"dismissal": 2}, time.monotonic())
    answer = client.get("/carline/tv/calls?v=0", headers=HX)
    assert answer.status_code == 200
    assert b"v=1" in answer.get_data() and b"v=2" not in answer.get_data()
    assert client.get("/carline/tv/calls?v=1", headers=HX).status_code == 204


def test_one_bump_announces_several_topics_in_one_statement(db, school):
    live.bump(school.id, "hallway")
    with StatementCounter(db.engine) as counter:
        live.bump(school.id, "room:2", "hallway", "room:2")  # a topic named twice counts once
    assert len(statements(counter)) == 1
    assert live.current(school.id, "hallway") == 2 and live.current(school.id, "room:2") == 1


def test_a_transaction_knows_the_versions_it_bumped_without_asking(db, school):
    """A write that renders its own live region reads no version: the upsert returned it."""
    school_id = school.id
    live.bump(school_id, "hallway")
    db.session.commit()
    live.bump(school_id, "hallway", "room:7")
    db.session.add(LiveVersion(school_id=school_id, topic="other", version=1))
    db.session.flush()  # a flush ends only its own subtransaction
    with StatementCounter(db.engine) as counter:
        assert live.current(school_id, "hallway") == 2
        assert live.current(school_id, "room:7") == 1
    assert counter.statements == []
    db.session.rollback()
    with StatementCounter(db.engine) as counter:
        assert live.current(school_id, "hallway") == 1  # the rolled back bump is forgotten
    assert len(statements(counter)) == 1


@shortcut_only
def test_an_admission_keeps_the_access_version_read_with_its_caller(
    app, db, school, make_user, login
):
    """A version read after the caller (here: one another thread remembered, newer) may
    postdate a revoke the decision did not see: the admission keeps the caller's own."""
    _hallway_screen(db, school)
    for _change in range(3):
        live.access_changed([school.id])
    db.session.commit()
    office = login(make_user(school, "office"), on=app.test_client())
    for screen in (_screen_browser(app, TV_SECRET), office):
        live._recent[school.id] = ({"hallway": 1, live.ACCESS_TOPIC: 7}, time.monotonic())
        assert screen.get("/hallpass/hallway/list?v=1").status_code == 204
    kept = {access for (_school, _topic, _share, access, _at) in poll_shortcut._admitted.values()}
    assert kept == {3}


@shortcut_only
def test_screens_admitted_together_take_the_full_path_again_at_different_moments(app, db, school):
    """Every TV opens at the start of dismissal: their reused decisions must not all end in
    the same second, or every screen takes the full path at once every REUSE_SECONDS."""
    secrets = [f"tv-{n}" for n in range(20)]
    _paired_screens(db, school, "hallway", *secrets)
    for secret in secrets:
        _opened_screen(app, secret, "/hallpass/hallway/list?v=1")
    admitted = [
        _admitted_at
        for (_caller, path), (*_rest, _admitted_at) in poll_shortcut._admitted.items()
        if path == "/hallpass/hallway/list"
    ]
    assert len(admitted) == 20
    assert max(admitted) - min(admitted) > poll_shortcut.REUSE_JITTER_SECONDS / 4
    assert all(time.monotonic() - at <= poll_shortcut.REUSE_JITTER_SECONDS + 5 for at in admitted)


def test_the_switch_sends_every_poll_through_flask_when_off(
    app, db, school, client, poll_shortcut_switch
):
    """LIVE_POLL_SHORTCUT: on, an admitted screen's unchanged polls never reach Flask; off,
    every poll does, and nothing is remembered for a shortcut."""
    _hallway_screen(db, school)
    client.set_cookie(DEVICE_COOKIE, TV_SECRET, domain="passline.test")
    with _requests_started_in_flask(app) as started:
        answers = [client.get("/hallpass/hallway/list?v=1").status_code for _poll in range(3)]
    assert answers == [204, 204, 204]
    assert len(started) == (1 if poll_shortcut_switch else 3)
    assert bool(poll_shortcut._admitted) is poll_shortcut_switch


@shortcut_only
def test_the_shortcut_answers_before_flask_with_the_full_paths_headers(app, db, school, client):
    """An unchanged poll of an admitted screen is answered by the WSGI layer: Flask does
    not even start a request, and the answer carries what Flask's would have."""
    _hallway_screen(db, school)
    client.set_cookie(DEVICE_COOKIE, TV_SECRET, domain="passline.test")
    url = "/hallpass/hallway/list?v=1"
    with _requests_started_in_flask(app) as started:
        full = client.get(url, base_url="https://passline.test")
        short = client.get(url, base_url="https://passline.test")
    assert len(started) == 1  # the first poll only
    assert (full.status_code, short.status_code) == (204, 204)
    assert "Content-Length" not in short.headers and "Content-Type" not in short.headers
    assert short.headers["Strict-Transport-Security"].startswith("max-age=")
    assert {k: v for k, v in short.headers if k != "Content-Type"} == {
        k: v for k, v in full.headers if k != "Content-Type"
    }


def test_a_revoked_device_cookie_alone_gets_nothing_from_a_staff_admission(
    app, db, school, make_user, login
):
    """A browser signed in as staff that also sends a revoked device's cookie is admitted
    as the staff member; that admission belongs to both cookies, not to the device's."""
    device = _hallway_screen(db, school)
    device.revoked_at = utcnow()
    db.session.commit()
    office = login(make_user(school, "office"), on=app.test_client())
    office.set_cookie(DEVICE_COOKIE, TV_SECRET, domain="passline.test")
    assert office.get("/hallpass/hallway/list?v=1").status_code == 204
    stolen = app.test_client()
    stolen.set_cookie(DEVICE_COOKIE, TV_SECRET, domain="passline.test")
    assert stolen.get("/hallpass/hallway/list?v=1", headers=HX).status_code == 401


@shortcut_only
def test_a_database_error_in_the_shortcut_leaves_the_poll_to_the_full_path(app, db, school, client):
    """The shortcut's connection breaks (closed under it, as a restarted server would):
    that poll takes the full path, and the next read runs on a new connection."""
    _hallway_screen(db, school)
    client.set_cookie(DEVICE_COOKIE, TV_SECRET, domain="passline.test")
    reader = _reader(app)
    # The first poll takes the full path and admits the screen; the shortcut's read after
    # it keeps its connection. The admission can take more than one poll to be remembered
    # (seen once in a full PostgreSQL run): poll until the shortcut has read, three at most.
    for _ in range(3):
        assert client.get("/hallpass/hallway/list?v=1").status_code == 204
        if reader._idle:
            break
    (kept,) = reader._idle
    kept.driver_connection.close()
    with StatementCounter(db.engine) as counter:
        assert client.get("/hallpass/hallway/list?v=1").status_code == 204
    assert "devices" in _tables_read(counter.statements)
    reads = reader.reads
    with StatementCounter(db.engine) as counter:
        assert client.get("/hallpass/hallway/list?v=1").status_code == 204
    assert counter.statements == [] and reader.reads == reads + 1


def test_screens_polling_during_a_shared_render_wait_for_it_instead_of_rendering_again(
    app, db, school
):
    school_id = school.id
    live.bump(school_id, "dismissal")
    db.session.commit()
    renders = []

    def slow_render(version):
        renders.append(version)
        time.sleep(0.3)
        return f"<div>{version}</div>"

    def screen_polls(_):
        with app.test_request_context("/carline/tv/calls?v=0"):
            set_request_write_intent("GET")  # a read, as in a real request
            try:
                return live.poll(school_id, "dismissal", slow_render, share="tv")
            finally:
                db.session.remove()
                clear_request_write_intent()

    with ThreadPoolExecutor(max_workers=3) as pool:
        answers = list(pool.map(screen_polls, range(3)))
    assert answers == ["<div>1</div>"] * 3
    assert renders == [1]
    assert live._rendering == {}


def test_a_bump_is_compiled_once_and_then_taken_from_the_statement_cache(db, school):
    """Every write bumps: its statement must not be compiled again each time."""
    from sqlalchemy import event
    from sqlalchemy.engine.interfaces import CacheStats

    cache_hits = []

    def seen(conn, cursor, statement, parameters, context, executemany):
        if "live_versions" in statement and statement.lstrip().upper().startswith("INSERT"):
            cache_hits.append(context.cache_hit is CacheStats.CACHE_HIT)

    live.bump(school.id, "hallway", "room:3")  # each shape compiled on its first use
    live.bump(school.id, "hallway")
    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        live.bump(school.id, "hallway", "room:3")
        live.bump(school.id, "hallway")
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert cache_hits == [True, True]
    db.session.commit()
    assert live.current(school.id, "hallway") == 4 and live.current(school.id, "room:3") == 2

"""Live-update versions: atomic bumps, committed with the change, 204 while unchanged."""

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import event

from shared import live
from shared.access import DEVICE_COOKIE, secret_digest
from shared.database import write_intent
from shared.models import Device
from shared.timeutil import utcnow


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


class StatementCounter:
    """Counts the SQL statements the app runs while it is active."""

    def __init__(self, engine):
        self.engine, self.statements = engine, []

    def _count(self, conn, cursor, statement, parameters, context, executemany):
        self.statements.append(statement)

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._count)


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

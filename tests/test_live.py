"""Live-update versions: atomic bumps, committed with the change, 204 while unchanged."""

from concurrent.futures import ThreadPoolExecutor

from shared import live
from shared.database import write_intent


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

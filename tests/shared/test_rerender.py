"""Roll back and re-render the form with the message: one helper for every view."""

from sqlalchemy import select

from shared.errors import Conflict, InvalidInput, rerender
from shared.extensions import db
from shared.models import Room


def test_rerender_rolls_back_and_shows_the_message_with_the_errors_status(app, school):
    with app.test_request_context("/devices/pair", method="POST"):
        db.session.add(Room(school_id=school.id, name="Half written", kind="classroom"))
        db.session.flush()
        html, status = rerender("devices/pair.html", Conflict("That code was used already."))
        assert status == 409 and "That code was used already." in html
        assert db.session.scalar(select(Room.id).where(Room.name == "Half written")) is None


def test_rerender_with_a_plain_message_or_another_status(app):
    with app.test_request_context("/devices/pair", method="POST"):
        assert rerender("devices/pair.html", "Try again.")[1] == 400
        html, status = rerender("devices/pair.html", InvalidInput("No."), status=422)
        assert status == 422 and "No." in html


def test_what_the_page_reloads_is_read_after_the_rollback(app, school):
    """`reload` runs after the rollback: the page never shows the refused write."""
    seen = []

    def rooms_named_half_written() -> dict:
        seen.append(db.session.scalar(select(Room.id).where(Room.name == "Half written")))
        return {}

    with app.test_request_context("/devices/pair", method="POST"):
        db.session.add(Room(school_id=school.id, name="Half written", kind="classroom"))
        db.session.flush()
        rerender("devices/pair.html", "No.", reload=rooms_named_half_written)
    assert seen == [None]

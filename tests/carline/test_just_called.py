"""The office's "Just called" list (bus calls and walker releases it may undo) is a live
region: a call made elsewhere appears without a reload, and an Undo goes away by itself
once its minute is over (issue 17): the region then asks for itself without a version, a
poll that the poll shortcut never answers 204."""

import re
from datetime import timedelta

from sqlalchemy import select

from carline.dismissal import call_bus
from carline.models import CalledStudent
from carline.plans import set_weekday_defaults
from shared.audit import SYSTEM, Actor
from tests.carline.test_views import HX, start, text, today, version_of


def _region(html: str) -> str:
    match = re.search(r'<section id="just-called".*?</section>', html, re.S)
    assert match, html
    return match.group(0)


def test_just_called_is_live_and_its_undo_runs_out(
    db, client, login, school, office_user, make_student
):
    kid = make_student(school, "Rider")
    set_weekday_defaults(school, SYSTEM, kid, [today(school)], "bus", "7")
    db.session.commit()
    dismissal = start(db, school, office_user)
    login(office_user)
    page = text(client.get("/carline/dismissal"))
    region = _region(page)
    assert " hidden" in region and "Undo" not in region
    shown = version_of(region)
    assert client.get(f"/carline/dismissal/just-called?v={shown}", headers=HX).status_code == 204

    # Another office computer calls bus 7: this page's region shows it on its next poll.
    call_bus(school, dismissal, "7", actor=Actor(user=office_user))
    db.session.commit()
    fresh = client.get(f"/carline/dismissal/just-called?v={shown}", headers=HX)
    assert fresh.status_code == 200 and "<html" not in text(fresh)
    region = text(fresh)
    assert "Just called" in region and "Bus 7: 1 student at" in region and "Undo" in region
    wait = int(re.search(r'hx-trigger="load delay:(\d+)s"', region).group(1))
    assert 55 <= wait <= 61  # asks again once the minute is over
    version = version_of(region)
    assert client.get(f"/carline/dismissal/just-called?v={version}", headers=HX).status_code == 204

    # A minute later nothing changed, yet the Undo that can no longer work goes away.
    for call in db.session.scalars(select(CalledStudent)):
        call.called_at = call.called_at - timedelta(minutes=2)
    db.session.commit()
    expired = client.get("/carline/dismissal/just-called", headers=HX)
    assert expired.status_code == 200
    assert "Undo" not in text(expired) and " hidden" in text(expired)

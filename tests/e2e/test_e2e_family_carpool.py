"""A carpool in the browser, at phone size: two families agree, and one's car calls the
other's child.

The test has a server of its own (the demo school on its own SQLite file). Two families
whose children ride home by car today each have a guardian signed in with a family code
on a 390x844 phone. The first proposes a carpool by the other's tag number; the other
sees the proposal on their family page and confirms it; the first then sends their
child home today "Car, with the family of tag B". Once the office starts dismissal, the
second family's page says one child of tag A rides with it (no name: a guardian sees
the other family only by its tag) and it presses "I'm here": the dismissal TV shows
the first family's child called with tag B's car, without a reload.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import _run
from tests.e2e.helpers import ACCOUNTS, PASSWORD
from tests.gunicorn_server import running_gunicorn


@pytest.fixture(scope="module")
def carpool_site(tmp_path_factory) -> Iterator[tuple[str, dict, list[dict]]]:
    instance = tmp_path_factory.mktemp("e2e-carpool")
    database_url = f"sqlite:///{instance / 'carpool.sqlite3'}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "PASSLINE_INSTANCE_PATH": str(instance),
        "SECRET_KEY": "test-secret-key",
        "FLASK_APP": "wsgi",
    }
    _run(["-m", "flask", "db", "upgrade"], env)
    _run(["-m", "flask", "demo"], env)
    tags = json.loads(_run(["-m", "tests.e2e.school"], env))["tags"][:2]
    numbers = [str(t["number"]) for t in tags]
    facts = json.loads(_run(["-m", "tests.e2e.carpool_school", "families", *numbers], env))
    with running_gunicorn(database_url, instance, workers=2, threads=4) as server:
        yield server.url, facts, tags


def _phone(open_page, url: str, code: str, tag: str) -> Page:
    """A guardian's phone signed in with the family code of a letter home."""
    phone = open_page("phone")
    phone.goto(f"{url}/family/code#{code}")
    phone.get_by_role("button", name="Sign in").click()
    expect(phone.get_by_role("heading", name=f"Tag {tag}")).to_be_visible()
    phone.on("dialog", lambda dialog: dialog.accept())
    return phone


def test_two_families_agree_and_one_car_takes_the_others_child(open_page, carpool_site):
    url, facts, tags = carpool_site
    open_page.allow_origin(url)
    a, b = (str(t["number"]) for t in tags)
    child = facts["child"]
    rosa = _phone(open_page, url, facts["codes"][a], a)
    omar = _phone(open_page, url, facts["codes"][b], b)

    # Rosa proposes a carpool to tag B by its number.
    carpools = rosa.locator("#carpools")
    carpools.get_by_text("Propose a carpool").click()
    carpools.get_by_label("The other family's tag number").fill(b)
    carpools.get_by_role("button", name="Propose").click()
    expect(rosa.locator(".flash-success")).to_contain_text(f"Proposal sent: a guardian of tag {b}")
    expect(rosa.locator("#carpools")).to_contain_text(f"Waiting for tag {b} to confirm.")

    # Omar's page shows the proposal, naming the other family by its tag only; he confirms.
    omar.reload()
    proposal = omar.locator(f"[data-carpool='{a}']")
    expect(proposal).to_contain_text(f"Tag {a} proposes to carpool with you.")
    expect(omar.locator("[data-carpool-notice]")).to_contain_text(f"Tag {a} proposes")
    expect(omar.locator("body")).not_to_contain_text("Rosa")
    proposal.get_by_role("button", name="Confirm").click()
    expect(omar.locator(".flash-success")).to_contain_text(f"You now carpool with tag {a}.")

    # Rosa sends her child home today with tag B.
    rosa.reload()
    expect(rosa.locator("#carpools")).to_contain_text(f"You carpool with tag {b}.")
    section = rosa.locator(f"section[data-child='{child['id']}']")
    section.locator("summary", has_text="goes home").click()
    section.get_by_label(f"Car, with the family of tag {b}").check()
    section.get_by_role("button", name="Save the change").click()
    expect(rosa.locator(".flash-success")).to_contain_text("Saved")
    expect(rosa.locator(f"section[data-child='{child['id']}'] [data-way]")).to_contain_text(
        f"Car, with the family of tag {b}"
    )

    # Dismissal starts; Omar's car says it is here: the TV calls Rosa's child with tag B.
    office = open_page("tv")
    office.goto(f"{url}/login")
    office.get_by_label("Email").fill(ACCOUNTS["office"])
    office.get_by_label("Password").fill(PASSWORD)
    office.get_by_role("button", name="Sign in", exact=True).click()
    expect(office.get_by_role("button", name="Sign out")).to_be_visible()
    office.goto(f"{url}/carline/dismissal")
    office.get_by_role("button", name="Start dismissal").click()
    expect(office.get_by_text("Dismissal started")).to_be_visible()
    office.goto(f"{url}/carline/tv")
    omar.reload()
    riding = omar.locator("[data-carpool-riders]")
    expect(riding).to_have_text(f"Riding home in your car today: 1 child of tag {a}.")
    omar.get_by_role("button", name="I'm here").click()
    expect(omar.locator("[data-here-answer]")).to_be_visible()
    row = office.locator("#tv-calls .tv-row", has_text=child["short"])
    expect(row).to_have_count(1)
    expect(row.locator(".tv-way")).to_contain_text(b)

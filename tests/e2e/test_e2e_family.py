"""The family page in the browser, at phone size: a guardian signs in from a mailed link.

The test has a server of its own (the demo school on its own SQLite file) that sends
mail to a real SMTP server started by the test (tests/smtp_server.py). The guardian
asks for a link on a 390x844 phone, opens it from the mail, changes today's plan before
the cutoff (the office's "today" page shows it live, with the guardian's name), is
refused after the cutoff with the office's number, reports an absence, and once the
office starts dismissal presses "I'm here" twice: one car in the line, shown on the
dismissal TV without a reload and marked as announced by the family.

A guardian without email gets a letter home instead: the office prints it (a PDF
download) from the family screen, the phone opens the letter's QR address (the code
after the `#`), finds the code filled in and signs in, and once the office revokes the
code the phone is signed out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import _run
from tests.e2e.helpers import (
    ACCOUNTS,
    AXE_FILE,
    AXE_PATH,
    PASSWORD,
    check_accessibility,
    read_qr,
    screenshot,
)
from tests.gunicorn_server import running_gunicorn
from tests.smtp_server import OwnSMTP

EMAIL = "rosa.guardian@example.net"
PUBLIC_URL = "https://passline.example.org"
LINK = re.compile(re.escape(PUBLIC_URL) + r"(/family/link/[A-Za-z0-9_-]{43})")


@dataclass
class FamilySite:
    url: str
    smtp: OwnSMTP
    env: dict
    family: dict
    #: The other hang tag riding home by car today (the pickup line sign's test).
    second_tag: int

    def run(self, *args: str) -> dict:
        return json.loads(_run(["-m", "tests.e2e.family_school", *args], self.env))


@pytest.fixture(scope="module")
def family_site(tmp_path_factory) -> Iterator[FamilySite]:
    import os

    instance = tmp_path_factory.mktemp("e2e-family")
    database_url = f"sqlite:///{instance / 'family.sqlite3'}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "PASSLINE_INSTANCE_PATH": str(instance),
        "SECRET_KEY": "test-secret-key",
        "FLASK_APP": "wsgi",
    }
    _run(["-m", "flask", "db", "upgrade"], env)
    _run(["-m", "flask", "demo"], env)
    facts = json.loads(_run(["-m", "tests.e2e.school"], env))
    tag = facts["tags"][0]["number"]
    family = json.loads(_run(["-m", "tests.e2e.family_school", "guardian", str(tag), EMAIL], env))
    smtp = OwnSMTP()
    smtp.start()
    mail = {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp.port),
        "SMTP_SECURITY": "none",
        "MAIL_FROM": "passline@example.org",
        "PUBLIC_URL": PUBLIC_URL,
    }
    try:
        with running_gunicorn(database_url, instance, workers=2, threads=4, **mail) as server:
            yield FamilySite(server.url, smtp, env, family, facts["tags"][1]["number"])
    finally:
        smtp.stop()


def _office(open_page, url: str) -> Page:
    page = open_page("desktop")
    page.goto(f"{url}/login")
    page.get_by_label("Email").fill(ACCOUNTS["office"])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    return page


def test_a_guardian_on_a_phone_from_the_mailed_link_to_im_here(open_page, family_site):
    url = family_site.url
    open_page.allow_origin(url)
    child = family_site.family["students"][0]
    first_name = child.split()[0]

    # The guardian asks for a link and opens it from the mail, on the phone.
    phone = open_page("phone")
    phone.context.route(  # axe-core for the accessibility check, on this server's origin
        f"{url}{AXE_PATH}",
        lambda route: route.fulfill(path=AXE_FILE, content_type="text/javascript; charset=utf-8"),
    )
    phone.goto(f"{url}/family/sign-in")
    phone.get_by_label("Email").fill(EMAIL)
    phone.get_by_role("button", name="Send me a sign-in link").click()
    expect(phone.get_by_role("heading", name="Check your mail")).to_be_visible()
    (message,) = family_site.smtp.wait_for(1)
    assert message["To"] == EMAIL and "15 minutes" in message.get_content()
    path = LINK.search(message.get_content()).group(1)
    phone.goto(f"{url}{path}")
    phone.get_by_role("button", name="Sign in").click()
    expect(phone.get_by_role("heading", name=f"Tag {family_site.family['tag']}")).to_be_visible()
    expect(phone.locator("#family-status")).to_contain_text("Dismissal has not started yet")
    check_accessibility(phone, "family page")

    # The office watches today's changes.
    office = _office(open_page, url)
    office.goto(f"{url}/carline/today")
    expect(office.locator("#today-lists")).to_be_visible()

    # Today's plan changes before the cutoff; the office sees it without a reload.
    section = phone.locator("section.family-child", has_text=child)
    section.get_by_text(f"Change how {first_name} goes home").click()
    section.get_by_label("Walker").check()
    section.get_by_role("button", name="Save the change").click()
    expect(phone.locator(".flash-success")).to_contain_text(f"Saved: {first_name}")
    section = phone.locator("section.family-child", has_text=child)
    expect(section.locator("[data-way]")).to_contain_text("Walker")
    expect(section.locator("[data-way]")).to_contain_text("changed for today")
    expect(office.locator("#today-lists")).to_contain_text("by Rosa Guardian (guardian)")
    # ... and back to the car, still before the cutoff.
    section.get_by_text(f"Change how {first_name} goes home").click()
    section.get_by_label("Car (with you)").check()
    section.get_by_role("button", name="Save the change").click()
    expect(phone.locator(".flash-success")).to_contain_text(f"Saved: {first_name}")

    # After the cutoff: refused, with the office's number, and nothing changes.
    family_site.run("cutoff", "00:00")
    phone.reload()
    expect(phone.locator("[data-after-cutoff]")).to_contain_text("555-0100")
    section = phone.locator("section.family-child", has_text=child)
    section.get_by_text(f"Change how {first_name} goes home").click()
    section.get_by_label("Walker").check()
    section.get_by_role("button", name="Save the change").click()
    expect(phone.locator("[data-family-error]")).to_contain_text(
        "please call the office at 555-0100"
    )
    phone.goto(f"{url}/carline/family")
    section = phone.locator("section.family-child", has_text=child)
    expect(section.locator("[data-way]")).to_contain_text("Car")
    screenshot(phone, "family-phone")

    # An absence for tomorrow (no cutoff for absences).
    section.get_by_text(f"Report {first_name} absent").click()
    tomorrow = phone.evaluate(
        "() => { const d = new Date(); d.setDate(d.getDate() + 1);"
        " return d.toLocaleDateString('en-CA'); }"
    )
    section.locator("form[action$='/absence'] input[name=day]").fill(tomorrow)
    section.get_by_label("Note to the office (optional)").last.fill("Dentist")
    section.get_by_role("button", name="Report absent").click()
    expect(phone.locator(".flash-success")).to_contain_text("Absence saved")

    # Dismissal starts: the button appears without a reload; two presses, one car.
    tv = open_page("tv")
    tv.goto(f"{url}/login")
    tv.get_by_label("Email").fill(ACCOUNTS["office"])
    tv.get_by_label("Password").fill(PASSWORD)
    tv.get_by_role("button", name="Sign in", exact=True).click()
    tv.goto(f"{url}/carline/tv")
    office.goto(f"{url}/carline/dismissal")
    office.get_by_role("button", name="Start dismissal").click()
    expect(office.get_by_text("Dismissal started")).to_be_visible()
    here = phone.get_by_role("button", name="I'm here")
    expect(here).to_be_visible()
    here.dblclick()
    expect(phone.locator("[data-here-answer]")).to_be_visible()
    expect(phone.get_by_role("button", name="I'm here")).to_have_count(0)
    assert family_site.run("entries", str(family_site.family["tag"])) == {"entries": 1}
    row = tv.locator("#tv-calls .tv-row", has_text=child.split()[0])
    expect(row).to_have_count(1)
    expect(row.locator("[data-announced]")).to_have_count(1)
    screenshot(phone, "family-phone-here")


def test_a_guardian_without_email_signs_in_with_the_letters_code(open_page, family_site):
    url = family_site.url
    open_page.allow_origin(url)
    tag = family_site.family["tag"]
    luis = family_site.run("nomail", str(tag))

    # The office prints Luis's letter from the family screen: a PDF download.
    office = _office(open_page, url)
    office.on("dialog", lambda dialog: dialog.accept())  # the data-confirm questions
    office.goto(f"{url}/carline/families/{luis['family_id']}")
    guardian = office.locator("details.guardian", has_text="Luis Carta")
    guardian.locator("summary").click()
    with office.expect_download() as download:
        guardian.get_by_role("button", name="Print a letter with a family code").click()
    assert download.value.suggested_filename == f"family-code-{tag}.pdf"
    with open(download.value.path(), "rb") as pdf:
        assert pdf.read(5) == b"%PDF-"

    # The phone opens the letter's QR: the code is filled in and off the address bar.
    code = family_site.run("code", str(luis["guardian_id"]))["code"]
    phone = open_page("phone")
    phone.goto(f"{url}/family/code#{code}")
    field = phone.get_by_label("Family code")
    expect(field).to_have_value(code)
    assert "#" not in phone.url
    phone.get_by_role("button", name="Sign in").click()
    # Luis reads Spanish: the family page is his family's, in his language.
    expect(phone.get_by_role("heading", name=f"Tarjeta {tag}")).to_be_visible()
    expect(phone.locator("section.family-child")).to_have_count(len(family_site.family["students"]))
    screenshot(phone, "family-phone-code")

    # The office revokes the code: the phone is signed out on its next page.
    office.reload()
    guardian = office.locator("details.guardian", has_text="Luis Carta")
    guardian.locator("summary").click()
    expect(guardian).to_contain_text("Last used")
    guardian.get_by_role("button", name="Revoke the code").click()
    expect(office.locator(".flash-success")).to_contain_text("1 phone signed out")
    phone.goto(f"{url}/carline/family")
    expect(phone).to_have_url(re.compile(r"/family/sign-in"))


def test_where_the_sign_is_required_im_here_waits_for_its_qr_code(open_page, family_site):
    """The school requires the pickup line sign: the guardian's "I'm here" is refused
    until the phone opens the QR code shown on the sign's display at the entrance; then
    the car is in line and on the dismissal TV. Runs after the first test (dismissal is
    running), with the other car tag."""
    url = family_site.url
    open_page.allow_origin(url)
    tag = family_site.second_tag
    sam = family_site.run("sign", str(tag))
    child = sam["students"][0]

    # The guardian signs in on the phone (a letter's code) and finds the button's hint.
    code = family_site.run("code", str(sam["guardian_id"]))["code"]
    phone = open_page("phone")
    phone.goto(f"{url}/family/code#{code}")
    phone.get_by_role("button", name="Sign in").click()
    expect(phone.get_by_role("heading", name=f"Tag {tag}")).to_be_visible()
    status = phone.locator("#family-status")
    expect(status.locator("[data-sign-needed]")).to_contain_text(
        "Scan the QR code on the pickup line sign first"
    )
    # From home: refused, and no car in line.
    phone.get_by_role("button", name="I'm here").click()
    expect(phone.locator("[data-family-error]")).to_contain_text(
        "Scan the QR code on the pickup line sign first"
    )
    assert family_site.run("entries", str(tag)) == {"entries": 0}

    # The office pairs the display at the entrance; it opens the sign.
    office = _office(open_page, url)
    office.goto(f"{url}/devices/new")
    office.get_by_role("radio", name="Office / hallway display", exact=True).check()
    office.get_by_label("Name shown in the device list").fill("Entrance sign")
    office.get_by_label("Display shows (office / hallway displays)").select_option(
        label="Dismissal"
    )
    office.get_by_role("button", name="Create code").click()
    pairing = office.locator(".pairing-code").inner_text().strip()
    sign = open_page("tv")
    sign.goto(f"{url}/pair")
    sign.get_by_label("Pairing code").fill(pairing)
    sign.get_by_role("button", name="Pair").click()
    sign.get_by_role("link", name="Open the pickup line sign").click()
    expect(sign.locator("#sign-qr svg")).to_be_visible()
    screenshot(sign, "pickup-sign-display")

    # The phone's camera opens the sign's QR code: the button works now.
    link = read_qr(sign, "#sign-qr")
    assert link.startswith(f"{url}/carline/family/sign/"), link
    phone.goto(link)
    expect(phone.locator(".flash-success")).to_contain_text("You scanned the pickup line sign")
    expect(status.locator("[data-sign-needed]")).to_have_count(0)
    tv = _office(open_page, url)
    tv.goto(f"{url}/carline/tv")
    phone.get_by_role("button", name="I'm here").click()
    expect(phone.locator("[data-here-answer]")).to_be_visible()
    assert family_site.run("entries", str(tag)) == {"entries": 1}
    row = tv.locator("#tv-calls .tv-row", has_text=child.split()[0])
    expect(row.first).to_be_visible()
    expect(row.first.locator("[data-announced]")).to_have_count(1)
    screenshot(phone, "family-phone-sign")

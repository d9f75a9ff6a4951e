"""An emergency drill in the browser: the office starts it, a teacher takes roll on a phone
whose network drops mid-roll (Playwright's offline mode), and the command view follows
every mark live. The drill is ended whatever happens, so the other browser tests find
hall passes working.
"""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.e2e.helpers import check_accessibility, pushes, screenshot, sign_in, stream_open


def end_drill(office: Page) -> None:
    office.goto("/emergency/")
    end = office.get_by_role("button", name=re.compile(r"^End "))
    if end.count():
        office.once("dialog", lambda dialog: dialog.accept())
        end.click()
        expect(office.get_by_text("This was a drill.")).to_be_visible()


def test_roll_on_a_phone_that_goes_offline_loses_nothing(open_page):
    office = sign_in(open_page("desktop"), "office")
    try:
        office.goto("/emergency/")
        office.get_by_label("Kind").select_option(label="Evacuation")
        office.get_by_label("Off-site assembly place (optional)").fill("Riverside Park")
        office.once("dialog", lambda dialog: dialog.accept())
        office.get_by_role("button", name="Start", exact=True).click()
        expect(office).to_have_url(re.compile(r"/emergency/command$"))
        board = office.locator("#command-board")
        expect(board.get_by_role("heading", name=re.compile("^Drill: Evacuation"))).to_be_visible()
        expect(office.locator(".emergency-banner")).to_contain_text("DRILL · Evacuation")
        check_accessibility(office, "command view")
        stream_open(office)  # the board updates by push (polling is the fallback)
        on_board = pushes(office, "command-board")

        phone = sign_in(open_page("phone"), "teacher")
        expect(phone.locator(".emergency-banner")).to_contain_text("Riverside Park")
        phone.get_by_role("link", name="Take roll").click()
        expect(phone.get_by_role("heading", name=re.compile(r"^Roll · "))).to_be_visible()
        rows = phone.locator("#roll-list .roll-row")
        expect(rows.first).to_be_visible()
        names = [rows.nth(n).get_attribute("data-name") for n in range(3)]
        check_accessibility(phone, "roll on a phone")

        def row(n: int):
            return phone.locator(f'#roll-list .roll-row[data-name="{names[n]}"]')

        row(0).get_by_role("button", name="Present", exact=True).click()
        expect(row(0).locator(".roll-state")).to_have_text("Present")
        expect(row(0).locator(".roll-pending")).to_be_hidden()

        # The network goes in the middle of the roll: the marks wait on the phone.
        phone.context.set_offline(True)
        row(1).get_by_role("button", name="Missing", exact=True).click()
        row(2).get_by_role("button", name="Injured", exact=True).click()
        banner = phone.locator("#outbox-banner")
        expect(banner).to_contain_text("Offline. 2 marks are kept on this phone")
        expect(row(1).locator(".roll-pending")).to_be_visible()
        expect(phone.locator("#outbox-list li")).to_have_count(2)
        screenshot(phone, "emergency-roll-offline")
        phone.wait_for_timeout(3000)  # a few polls fail meanwhile; nothing is lost
        expect(board.locator(".board-missing")).to_contain_text("Nobody is marked missing")

        phone.context.set_offline(False)
        expect(banner).to_be_hidden()
        expect(phone.locator("#outbox-box")).to_be_hidden()
        # The command view shows the missing student first, without a reload.
        expect(board.locator(".board-missing")).to_contain_text(names[1])
        expect(board.locator(".board-missing h2")).to_have_text("Missing: 1")
        assert pushes(office, "command-board") > on_board
        screenshot(office, "emergency-command")

        phone.reload()
        expect(row(1).locator(".roll-state")).to_have_text("Missing")
        expect(row(2).locator(".roll-state")).to_have_text("Injured")
        expect(row(0).locator(".roll-state")).to_have_text("Present")

        # The student turns up: marked present, the command view follows.
        row(1).get_by_role("button", name="Present", exact=True).click()
        expect(board.locator(".board-missing")).to_contain_text("Nobody is marked missing")
    finally:
        end_drill(office)
    expect(office.locator(".emergency-banner")).to_have_count(0)


def test_request_gate_override_and_a_release_made_offline(open_page, site):
    admin = sign_in(open_page("desktop"), "admin")
    student = site.student()
    try:
        admin.goto("/emergency/")
        admin.get_by_label("Kind").select_option(label="Early release (weather)")
        admin.once("dialog", lambda dialog: dialog.accept())
        admin.get_by_role("button", name="Start", exact=True).click()
        expect(admin).to_have_url(re.compile(r"/emergency/command$"))

        # The request gate: an adult who is not on the list, let through by an administrator.
        admin.goto("/emergency/gate")
        admin.get_by_label("Student's name or number, or the adult's name").fill(student["name"])
        admin.get_by_role("button", name="Find").click()
        admin.get_by_role("link", name=student["name"]).first.click()
        expect(admin.get_by_role("heading", name=f"May take {student['name']}")).to_be_visible()
        check_accessibility(admin, "request gate")
        admin.get_by_role("radio", name="Not on the list").check()
        admin.get_by_label("Name as on the ID").fill("Dana Example")
        admin.get_by_label("Relationship to the student").fill("Aunt")
        admin.get_by_label("ID checked").select_option(label="Passport")
        admin.get_by_label(re.compile("^Administrator's override")).fill("Aunt, mother phoned")
        siblings = admin.locator("input[name=sibling_id]")
        for n in range(siblings.count()):
            siblings.nth(n).uncheck()
        admin.get_by_role("button", name="Ask for the student").click()
        expect(admin.get_by_text("asked for: a runner brings them")).to_be_visible()

        # The release gate on a phone whose network is down.
        phone = sign_in(open_page("phone"), "office")
        phone.goto("/emergency/queue")
        row = phone.locator("#reunify-queue .roll-row", has_text=student["name"])
        expect(row).to_contain_text("override: Aunt, mother phoned")
        check_accessibility(phone, "release gate")
        phone.context.set_offline(True)
        phone.once("dialog", lambda dialog: dialog.accept())
        row.get_by_role("button", name="Released to Dana Example").click()
        expect(phone.locator("#outbox-banner")).to_contain_text("Offline. 1 release is kept")
        expect(row.locator(".roll-pending")).to_be_visible()
        phone.context.set_offline(False)
        expect(phone.locator("#gate-answers")).to_contain_text(
            f"Released: {student['name']} to Dana Example."
        )
        expect(phone.locator("#outbox-banner")).to_be_hidden()
        expect(row).to_have_count(0)  # the queue updated: nobody waits for this student

        admin.goto(f"/emergency/gate/{student['id']}")
        expect(admin.get_by_text(re.compile(r"^Released to Dana Example \(Aunt\)"))).to_be_visible()
    finally:
        end_drill(admin)
    report = admin.locator("main")
    expect(report).to_contain_text(f"{student['name']} released to Dana Example (Aunt, Passport)")
    expect(report).to_contain_text("Aunt, mother phoned")


def test_the_request_gate_keeps_an_id_check_made_offline_and_records_it_once(open_page, site):
    """A phone at the request gate loses the network as the adult is refused: the refusal
    waits on the phone (its buttons held, so a second tap adds nothing), is sent when the
    network is back, and the event's report has it once."""
    office = sign_in(open_page("desktop"), "office")
    student = site.student()
    try:
        office.goto("/emergency/")
        office.get_by_label("Kind").select_option(label="Evacuation")
        office.once("dialog", lambda dialog: dialog.accept())
        office.get_by_role("button", name="Start", exact=True).click()
        expect(office).to_have_url(re.compile(r"/emergency/command$"))

        phone = sign_in(open_page("phone"), "office")
        phone.goto(f"/emergency/gate/{student['id']}")
        expect(phone.get_by_role("heading", name=f"May take {student['name']}")).to_be_visible()
        phone.get_by_role("radio", name="Not on the list").check()
        phone.get_by_label("Name as on the ID").fill("Sam Example")
        phone.get_by_label("Relationship to the student").fill("Neighbor")
        phone.get_by_label("ID checked").select_option(label="Passport")
        siblings = phone.locator("input[name=sibling_id]")
        for n in range(siblings.count()):
            siblings.nth(n).uncheck()
        phone.get_by_label(re.compile("^Refuse: why")).fill("The ID does not match")

        phone.context.set_offline(True)
        refuse = phone.get_by_role("button", name="Refuse and record")
        refuse.click()
        banner = phone.locator("#outbox-banner")
        expect(banner).to_contain_text("Offline. 1 request is kept on this phone")
        expect(phone.locator("#outbox-list li")).to_have_text(
            f"Refuse {student['name']} to Sam Example"
        )
        expect(phone.locator("#request-pending")).to_be_visible()
        expect(refuse).to_be_disabled()  # a second tap cannot send it twice
        phone.wait_for_timeout(2000)

        phone.context.set_offline(False)
        expect(
            phone.get_by_text(re.compile(r"Refused:.*not released to Sam Example"))
        ).to_be_visible()
        expect(banner).to_be_hidden()
        expect(phone.locator("#outbox-box")).to_be_hidden()
        expect(phone.get_by_role("button", name="Refuse and record")).to_be_enabled()  # a new form
    finally:
        end_drill(office)
    refusals = office.locator("main li", has_text="Sam Example (Neighbor, Passport)")
    expect(refusals).to_have_count(1)
    expect(refusals).to_contain_text("The ID does not match")

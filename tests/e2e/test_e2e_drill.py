"""The issue's "Done when", walked in a browser on the demo school: the office starts a
drill, five teachers take roll on phones (one of them offline for a whole minute, mid
roll), the command view shows the missing student live, three students go through the
gates (one refused for the custody note's "do not release", one let through by an
administrator's override, and one to a listed adult), the drill ends, and its report
shows the times, printable and as CSV.

Separate from test_e2e_emergency.py (one teacher, one gate each) because it is long: the
offline minute is real, as on a field with no signal, so the outbox's back-off has grown
to its longest wait when the network comes back. The drill is ended whatever happens.
"""

from __future__ import annotations

import csv
import io
import re

from playwright.sync_api import Page, expect

from tests.e2e.helpers import PASSWORD, sign_in
from tests.e2e.test_e2e_emergency import end_drill

#: How long the fifth teacher's phone has no network (the issue says "for a minute").
OFFLINE_SECONDS = 60
TIME = re.compile(r"^\d{1,2}:\d{2}\s?[AP]M$")


def sign_in_as(page: Page, email: str) -> Page:
    """Sign a demo teacher in (every demo account has the demo password)."""
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    return page


def take_roll(phone: Page, *, missing: int | None = None, start: int = 0) -> int:
    """Tap every student of the phone's roll list from `start` (present; `missing`, the
    index of one to mark missing); how many were tapped."""
    rows = phone.locator("#roll-list .roll-row")
    names = [rows.nth(n).get_attribute("data-name") for n in range(rows.count())]
    for n, name in enumerate(names[start:], start):
        status = "Missing" if n == missing else "Present"
        row = phone.locator(f'#roll-list .roll-row[data-name="{name}"]')
        row.get_by_role("button", name=status, exact=True).click()
        expect(row.locator(".roll-state")).to_have_text(status)
    return len(names) - start


def all_sent(phone: Page) -> None:
    expect(phone.locator("#outbox-box")).to_be_hidden()
    expect(phone.locator("#outbox-banner")).to_be_hidden()


def ask(
    gate: Page, student: dict, *, listed: str | None, adult: str, relationship: str, id_check: str
):
    """Fill the request gate's form for `student` (the submit is the caller's)."""
    gate.goto(f"/emergency/gate/{student['id']}")
    expect(gate.get_by_role("heading", name=f"May take {student['name']}")).to_be_visible()
    gate.get_by_role("radio", name=listed or "Not on the list", exact=True).check()
    gate.get_by_label("Name as on the ID").fill(adult)
    gate.get_by_label("Relationship to the student").fill(relationship)
    gate.get_by_label("ID checked").select_option(label=id_check)


def release(runner: Page, student: dict, adult: str) -> None:
    row = runner.locator("#reunify-queue .roll-row", has_text=student["name"])
    runner.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name=f"Released to {adult}").click()
    expect(runner.locator("#gate-answers")).to_contain_text(
        f"Released: {student['name']} to {adult}."
    )
    expect(row).to_have_count(0)


def test_a_drill_in_the_demo_school_from_start_to_report(open_page, site):
    drill = site.facts["drill"]
    teachers, custody = drill["teachers"], drill["custody"]
    listed, override = drill["listed"], drill["override"]
    assert len(teachers) == 5
    office = sign_in(open_page("desktop"), "office")
    try:
        office.goto("/emergency/")
        office.get_by_label("Kind").select_option(label="Evacuation")
        office.once("dialog", lambda dialog: dialog.accept())
        office.get_by_role("button", name="Start", exact=True).click()
        expect(office).to_have_url(re.compile(r"/emergency/command$"))
        # The command view stays open on a laptop of its own while the office works a gate.
        command = sign_in(open_page("tv"), "office")
        command.goto("/emergency/command")
        board = command.locator("#command-board")
        expect(board.get_by_role("heading", name=re.compile("^Drill: Evacuation"))).to_be_visible()

        phones = []
        for teacher in teachers:
            phone = sign_in_as(open_page("phone"), teacher["email"])
            phone.goto("/emergency/roll")
            expect(phone.get_by_role("heading", name=f"Roll · {teacher['class']}")).to_be_visible()
            expect(phone.locator("#roll-list .roll-row").first).to_be_visible()
            phones.append(phone)

        # The fifth teacher's phone loses the network after three taps, for a minute.
        offline = phones[4]
        tapped = 0
        rows = offline.locator("#roll-list .roll-row")
        for n in range(3):
            rows.nth(n).get_by_role("button", name="Present", exact=True).click()
        all_sent(offline)
        offline.context.set_offline(True)
        offline_started = offline.evaluate("Date.now()")
        waiting = take_roll(offline, start=3)
        tapped += 3 + waiting
        expect(offline.locator("#outbox-banner")).to_contain_text(
            f"Offline. {waiting} marks are kept on this phone"
        )
        expect(offline.locator("#outbox-list li")).to_have_count(waiting)

        # Meanwhile the four others take their roll; the first has one student missing.
        tapped += take_roll(phones[0], missing=0)
        missing_name = phones[0].locator("#roll-list .roll-row").first.get_attribute("data-name")
        for phone in phones[1:4]:
            tapped += take_roll(phone)
        for phone in phones[:4]:
            all_sent(phone)

        # The command view shows the missing student first, without a reload.
        expect(board.locator(".board-missing h2")).to_have_text("Missing: 1")
        expect(board.locator(".board-missing")).to_contain_text(missing_name)

        # Still offline, a minute after the network went: nothing sent, nothing lost.
        elapsed_ms = offline.evaluate("Date.now()") - offline_started
        offline.wait_for_timeout(max(0, OFFLINE_SECONDS * 1000 - elapsed_ms))
        expect(offline.locator("#outbox-list li")).to_have_count(waiting)
        accounted = board.locator(".board-totals .stat").first
        expect(accounted).to_contain_text(f"{tapped - waiting - 1}of")
        offline.context.set_offline(False)
        all_sent(offline)
        expect(accounted).to_contain_text(f"{tapped - 1}of")
        offline.reload()
        states = offline.locator("#roll-list .roll-row .roll-state")
        expect(states).to_have_count(3 + waiting)
        for n in range(3 + waiting):
            expect(states.nth(n)).to_have_text("Present")

        # The request gate: a listed adult for one student.
        ask(
            office,
            listed["student"],
            listed=listed["adult"],
            adult=listed["adult"],
            relationship="Parent",
            id_check="Driver's licence",
        )
        office.get_by_role("button", name="Ask for the student").click()
        expect(office.get_by_text("asked for: a runner brings them")).to_be_visible()

        # The custody note is on screen before anything else: the adult it names is refused.
        barred = re.search(r"Do not release to (.+?) \(", custody["note"]).group(1)
        ask(
            office,
            custody["student"],
            listed=None,
            adult=barred,
            relationship="Father",
            id_check="Driver's licence",
        )
        notes = office.locator(".board-missing[role=alert]")
        expect(notes).to_contain_text(custody["note"])
        office.get_by_label(re.compile("^Refuse: why")).fill("Do not release note: court order")
        office.get_by_role("button", name="Refuse and record").click()
        # Siblings are asked for together, so they are refused together too.
        refused = office.get_by_role("alert").filter(has_text="Refused:")
        expect(refused.filter(has_text=custody["student"]["name"])).to_be_visible()
        expect(refused).to_have_count(1 + office.locator("input[name=sibling_id]").count())

        # An adult not on the list, let through by an administrator with a reason.
        admin = sign_in(open_page("desktop"), "admin")
        ask(
            admin,
            override["student"],
            listed=None,
            adult="Dana Example",
            relationship="Aunt",
            id_check="Passport",
        )
        admin.get_by_label(re.compile("^Administrator's override")).fill("Aunt, mother phoned")
        admin.get_by_role("button", name="Ask for the student").click()
        expect(admin.get_by_text("asked for: a runner brings them")).to_be_visible()

        # The release gate on a phone: the two asked for are released; the refused one
        # never reaches the queue.
        runner = sign_in(open_page("phone"), "staff")
        runner.goto("/emergency/queue")
        queue = runner.locator("#reunify-queue")
        expect(queue).to_contain_text(listed["student"]["name"])
        expect(queue).not_to_contain_text(custody["student"]["name"])
        release(runner, listed["student"], listed["adult"])
        release(runner, override["student"], "Dana Example")

        # Then the custody student's listed adult comes: the third release.
        ask(
            office,
            custody["student"],
            listed=custody["adult"],
            adult=custody["adult"],
            relationship="Grandmother",
            id_check="State ID card",
        )
        siblings = office.locator("input[name=sibling_id]")
        for n in range(siblings.count()):
            siblings.nth(n).uncheck()
        office.get_by_role("button", name="Ask for the student").click()
        expect(office.get_by_text("asked for: a runner brings them")).to_be_visible()
        release(runner, custody["student"], custody["adult"])
        expect(board.locator(".board-totals")).to_contain_text("3released")
    finally:
        end_drill(office)

    # The report: a drill, its times, every release and the refusal.
    report = office.locator("main")
    expect(report.get_by_role("heading", name=re.compile("^Drill: Evacuation"))).to_be_visible()
    times = report.locator("#timeline tbody tr td:first-child")
    assert times.count() >= 7  # start, first and last marks, 3 releases, a refusal, the end
    for n in range(times.count()):
        assert TIME.match(times.nth(n).inner_text()), times.nth(n).inner_text()
    timeline = report.locator("#timeline")
    # Every class meeting at the start is timed too; those whose roll was finished have
    # their minutes, the missing student's class is "never fully accounted for".
    group_times = report.locator("#group-times")
    expect(
        group_times.locator("tbody tr", has_text=re.compile(r"minutes \(")).first
    ).to_be_visible()
    expect(group_times).to_contain_text("never fully accounted for")
    expect(timeline).to_contain_text("First roll mark")
    expect(timeline).to_contain_text(re.compile(r"Last roll mark \(\d+ students marked\)"))
    expect(timeline).to_contain_text(
        f"{listed['student']['name']} released to {listed['adult']} (Parent, Driver's licence)"
    )
    expect(timeline).to_contain_text(
        f"{custody['student']['name']}: {barred} refused (Do not release note: court order)"
    )
    expect(timeline).to_contain_text(
        f"{override['student']['name']} released to Dana Example (Aunt, Passport)"
    )
    expect(report).to_contain_text("Released · 3")
    expect(report).to_contain_text("Aunt, mother phoned")
    expect(report.locator("dl")).to_contain_text("Time to full accounting")
    expect(report.get_by_text(f"{missing_name} (missing)")).to_be_visible()

    with office.expect_download() as download:
        office.get_by_role("link", name="Download CSV").click()
    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text("utf-8-sig"))))
    by_name = {row["Student"]: row for row in rows}
    assert by_name[missing_name]["Roll"] == "Missing" and by_name[missing_name]["Drill"] == "yes"
    assert by_name[override["student"]["name"]]["Override reason"] == "Aunt, mother phoned"
    assert by_name[custody["student"]["name"]]["Released to"] == custody["adult"]
    assert sum(row["Released at"] != "" for row in rows) == 3

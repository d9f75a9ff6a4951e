"""A call to the office in the browser: the office calls a student of the demo teacher's
class, the teacher's tablet shows the call live and sends the student in one tap, the
hallway marks them on the way, and the office sees them arrive."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.e2e.helpers import check_accessibility, sign_in


def test_a_call_to_the_office_is_sent_and_arrives(open_page, site):
    student = site.student()
    teacher = sign_in(open_page("tablet"), "teacher")
    teacher.goto("/hallpass/")
    expect(teacher.get_by_role("heading", name=re.compile(r"^Hall passes · "))).to_be_visible()

    office = sign_in(open_page("desktop"), "office")
    office.get_by_role("link", name="Call to the office").first.click()
    expect(office.get_by_role("heading", name="Call to the office", exact=True)).to_be_visible()
    # The search answers as the office types once htmx is running: a click's navigation
    # returns before the page's deferred scripts have run.
    office.wait_for_load_state("load")
    office.get_by_label("Student (name or student number)").fill(student["number"])
    office.get_by_label(re.compile(re.escape(student["name"]))).check()
    office.get_by_label(re.compile(r"^Note")).fill("Your mother is here")
    check_accessibility(office, "call to the office")
    office.get_by_role("button", name="Call to the office", exact=True).click()
    expect(office.locator(".flash")).to_contain_text(f"{student['name']} is called")
    row = office.locator("#office-calls tr", has_text=student["name"])
    expect(row).to_contain_text("waiting for the teacher")

    # The tablet's region follows the room topic: the call appears without a reload.
    call = teacher.locator("#room-calls .office-call-row", has_text=student["name"])
    expect(call).to_contain_text("Your mother is here")
    call.get_by_role("button", name="Send").click()
    expect(call).to_have_count(0)
    expect(teacher.locator("#room-passes")).to_contain_text(student["name"])

    expect(row).to_contain_text("On the way since")
    hallway = office.context.new_page()
    hallway.goto("/hallpass/hallway")
    expect(hallway.locator("#hallway tr", has_text=student["name"])).to_contain_text(
        "called to the office"
    )
    row.get_by_role("button", name=f"{student['name']} has arrived").click()
    expect(row).to_contain_text("Arrived")
    row.get_by_role("button", name="Back to class").click()
    expect(teacher.locator("#room-passes")).not_to_contain_text(student["name"])

"""Late arrivals in the browser: a late student checks in at the office's kiosk and the
class teacher's tablet shows it live; the office records another on its own screen with
the type-ahead search and prints the pass to class.

The demo school's "now" is in period 1 (tests/e2e/school.py), so both students go to the
demo teacher's period 1 class; each uses its own student (`site.student()`).
"""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.e2e.helpers import check_accessibility, pair, pushes, screenshot, sign_in, stream_open

KIOSK_LABEL = "Scan your student ID, or type your number"


def test_a_late_arrival_at_the_office_kiosk_appears_on_the_teachers_tablet(open_page, site):
    teacher = sign_in(open_page("tablet"), "teacher")
    teacher.goto("/hallpass/")
    tardies = teacher.locator("#class-tardies")
    expect(tardies).to_contain_text("No late arrivals in this class today.")
    stream_open(teacher)  # the tablet's list updates by push (polling: the fallback)
    on_tablet = pushes(teacher, "class-tardies")
    admin = sign_in(open_page("desktop"), "admin")
    kiosk = open_page("tablet")
    pair(admin, kiosk, "Hall pass kiosk (room)", "Office kiosk", room="Main office")
    kiosk.get_by_role("link", name="Open the hall pass kiosk").click()
    expect(kiosk.get_by_role("heading", name=re.compile(r"^Arriving late\?"))).to_be_visible()
    expect(kiosk.get_by_label(KIOSK_LABEL)).to_be_focused()
    student = site.student()
    kiosk.keyboard.type(student["number"])  # a USB scanner types and presses Enter
    kiosk.keyboard.press("Enter")
    expect(
        kiosk.get_by_role("heading", name=f"Hi {student['short']}, why are you late?")
    ).to_be_visible()
    check_accessibility(kiosk, "late kiosk reasons")
    kiosk.get_by_role("button", name="Late bus", exact=True).click()
    expect(kiosk.locator(".tardy-pass")).to_contain_text(student["short"])
    expect(kiosk.locator(".tardy-pass")).to_contain_text("Late bus")
    expect(kiosk.get_by_role("button", name="Print")).to_be_visible()
    check_accessibility(kiosk, "late kiosk pass")
    screenshot(kiosk, "late-kiosk-pass")
    # The teacher's tablet, without a reload.
    row = tardies.locator(".tardy-row", has_text=student["name"])
    expect(row).to_contain_text(re.compile(r"arrived late \d{1,2}:\d\d\s?[AP]M \(office\)"))
    assert pushes(teacher, "class-tardies") > on_tablet
    # The same student again at the kiosk: the first record, nothing new.
    kiosk.get_by_role("link", name="Done").click()
    kiosk.get_by_label(KIOSK_LABEL).fill(student["number"])
    kiosk.get_by_role("button", name="Next").click()
    expect(kiosk.get_by_text("You are already checked in late today.")).to_be_visible()
    expect(row).to_have_count(1)


def test_the_office_finds_a_late_student_as_it_types_and_prints_the_pass(open_page, site):
    office = sign_in(open_page("desktop"), "office")
    office.goto("/hallpass/late")
    check_accessibility(office, "late arrivals office screen")
    student = site.student()
    office.get_by_label("Find the student: name or student number").press_sequentially(
        student["number"], delay=30
    )
    choice = office.locator("#late-found").get_by_role("radio")
    expect(choice).to_have_count(1)
    expect(choice).to_be_checked()
    office.get_by_role("radio", name="Overslept / family").check()
    office.get_by_role("button", name="Record and show the pass to class").click()
    expect(office).to_have_url(re.compile(r"/hallpass/late/\d+/slip$"))
    expect(office.locator(".tardy-pass")).to_contain_text(student["name"])
    expect(office.get_by_role("button", name="Print")).to_be_visible()
    screenshot(office, "late-pass-slip")
    office.get_by_role("link", name="Next late student").click()
    expect(office.locator("table")).to_contain_text(student["name"])

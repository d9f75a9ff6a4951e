"""Appointments in the browser (the issue's test): the demo counselor schedules one for a
student of the demo teacher's period 1 class a few minutes from now, the teacher's tablet
shows it coming without a reload and releases it with one tap, the pass says where it came
from, and the counselor's list turns to "released" live. The pass is ended at the end, so
the other browser tests do not meet it.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from playwright.sync_api import expect

from tests.e2e.helpers import check_accessibility, pushes, sign_in, stream_open
from tests.e2e.test_e2e_hallpass import pass_row, teacher_tablet

#: The demo school's time zone (shared/demo.py).
ZONE = ZoneInfo("America/Chicago")


def test_a_counselor_schedules_and_the_tablet_releases_it_at_the_time(open_page, site):
    student = site.student()
    teacher = teacher_tablet(open_page)
    counselor = sign_in(open_page("desktop"), "counselor")
    counselor.goto("/hallpass/appointments")
    expect(counselor.get_by_role("heading", name="Schedule an appointment")).to_be_visible()
    for page in (teacher, counselor):  # both lists update by push (polling: the fallback)
        stream_open(page)
    on_tablet = pushes(teacher, "room-appointments")
    at = datetime.now(ZONE) + timedelta(minutes=3)
    counselor.get_by_label("Student (name or student number)").fill(student["number"])
    counselor.get_by_label("Destination").select_option(label="Counselor")
    counselor.get_by_label("Time (HH:MM)").fill(at.strftime("%H:%M"))
    counselor.get_by_label("Note for staff (never shown to the student)").fill("Check-in")
    counselor.get_by_role("button", name="Schedule", exact=True).click()
    expect(counselor.get_by_role("status")).to_contain_text("Scheduled.")
    mine = counselor.locator("#appointments-today .request-row", has_text=student["name"])
    expect(mine).to_contain_text("waiting")
    check_accessibility(counselor, "appointments page")
    # The tablet shows it coming, live, due now (from ten minutes before its time).
    coming = teacher.locator("#room-appointments .request-row", has_text=student["short"])
    expect(coming).to_contain_text(
        re.compile(rf"Counselor at .+ for {re.escape(student['short'])}")
    )
    expect(coming).to_contain_text("due now")
    assert pushes(teacher, "room-appointments") > on_tablet
    on_list = pushes(counselor, "appointments-today")
    check_accessibility(teacher, "tablet with an appointment")
    coming.get_by_role("button", name="Release").click()
    expect(coming).to_have_count(0)
    row = pass_row(teacher, student)
    expect(row).to_contain_text("Counselor")
    expect(row).to_contain_text("appointment")
    # The counselor's list follows without a reload.
    expect(mine).to_contain_text("released")
    assert pushes(counselor, "appointments-today") > on_list
    row.get_by_role("button", name="Back").click()
    expect(row).to_have_count(0)

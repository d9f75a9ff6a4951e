"""Live regions by push (shared/live_push.py, live.js) in the browser, and polling as the
fallback when the stream is blocked.

A region refreshes by push only when the stream announced a version newer than the one
it shows (`data-live-pushes` on the page counts those refreshes), so a count that grew
with the change means the stream, not a poll, told the screen first. While a stream is
open the regions' timed polls wait 30 seconds (the test sees none), so a change shown
sooner came by push.
"""

from __future__ import annotations

from playwright.sync_api import expect

from tests.e2e.helpers import pair, pushes, sign_in, stream_open
from tests.e2e.test_e2e_hallpass import ASK, GO_NOW, issue_pass, pass_row, teacher_tablet


def polls_for(page, path: str, seconds: float) -> int:
    """How many requests for `path` the page makes in the next `seconds`."""
    seen = []

    def note(request):
        if path in request.url:
            seen.append(request.url)

    page.on("request", note)
    page.wait_for_timeout(seconds * 1000)
    page.remove_listener("request", note)
    return len(seen)


def test_the_hallway_view_and_the_teacher_tablet_update_by_push(open_page, site):
    office = sign_in(open_page("desktop"), "office")
    tv = open_page("tv")
    pair(office, tv, "Office / hallway display", "Push hallway TV", purpose="Hallway")
    tv.get_by_role("link", name="Open the hallway screen").click()
    teacher = teacher_tablet(open_page)
    kiosk = open_page("tablet")
    pair(teacher, kiosk, "Hall pass kiosk (room)", "Push kiosk", room=site.room)
    kiosk.get_by_role("link", name="Open the hall pass kiosk").click()
    teacher.goto("/hallpass/")
    tv.reload()  # its stream opens now: no timed poll for the next 30 s
    stream_open(tv)
    stream_open(teacher)
    on_tv, on_tablet = pushes(tv), pushes(teacher)
    # While the stream is open the hallway view (every 3 s before) does not poll.
    assert polls_for(tv, "/hallpass/hallway/list", 5.0) == 0

    # A student asks at the kiosk: the request reaches the teacher's tablet by push.
    student = site.student()
    kiosk.get_by_label("Scan your student ID, or type your number").fill(student["number"])
    kiosk.keyboard.press("Enter")
    kiosk.get_by_role("button", name=ASK, exact=True).click()
    request = teacher.locator("#room-requests .request-row", has_text=student["name"])
    expect(request).to_be_visible()
    assert pushes(teacher) > on_tablet

    # The teacher approves: the hallway view shows the pass by push.
    request.get_by_role("button", name="Approve").click()
    row = tv.locator("#hallway tr", has_text=student["name"])
    expect(row).to_contain_text(ASK)
    assert pushes(tv) > on_tv
    on_tv = pushes(tv)
    pass_row(teacher, student).get_by_role("button", name="Back").click()
    expect(row).to_have_count(0)
    assert pushes(tv) > on_tv


def test_screens_poll_as_before_when_the_stream_is_blocked(open_page, site):
    office = sign_in(open_page("desktop"), "office")
    tv = open_page("tv")
    tv.context.route("**/live/stream*", lambda route: route.abort())
    pair(office, tv, "Office / hallway display", "Blocked hallway TV", purpose="Hallway")
    tv.get_by_role("link", name="Open the hallway screen").click()
    expect(tv.locator("html")).to_have_attribute("data-live-stream", "down")
    assert polls_for(tv, "/hallpass/hallway/list", 5.0) >= 1  # every 3 s, as before
    teacher = teacher_tablet(open_page)
    student = site.student()
    issue_pass(teacher, student)
    row = tv.locator("#hallway tr", has_text=student["name"])
    expect(row).to_contain_text(GO_NOW)
    assert pushes(tv) == 0  # polled, as before push
    pass_row(teacher, student).get_by_role("button", name="Back").click()
    expect(row).to_have_count(0)

"""Hall passes in the browser: the teacher's tablet, the kiosk, the room QR code on a
phone with live approval, the hallway overview and the emergency sweep.

Each test uses its own students of the demo teacher's period 1 class (Room 101), and
ends the passes it starts, so the tests do not depend on each other's order.
"""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.e2e.helpers import (
    ACCOUNTS,
    PASSWORD,
    check_accessibility,
    pair,
    read_qr,
    scanned_by_camera,
    screenshot,
    sign_in,
)

#: A destination students may go to without asking (demo: capacity and time limit set).
GO_NOW = "Water fountain"
#: A destination that needs the teacher's approval in the demo.
ASK = "Library"


def teacher_tablet(open_page) -> Page:
    page = sign_in(open_page("tablet"), "teacher")
    page.goto("/hallpass/")
    expect(page.get_by_role("heading", name=re.compile(r"^Hall passes · "))).to_be_visible()
    return page


def issue_pass(page: Page, student: dict, destination: str = GO_NOW) -> None:
    """The two taps: the student's tile, then the destination."""
    page.get_by_text(student["name"], exact=True).click()
    page.get_by_role("button", name=destination, exact=True).click()


def pass_row(page: Page, student: dict):
    return page.locator("#room-passes .pass-row", has_text=student["name"])


def test_teacher_issues_and_ends_a_pass_in_two_taps(open_page, site):
    page = teacher_tablet(open_page)
    student = site.student()
    expect(page.get_by_text(f"Room {site.room}", exact=False).first).to_be_visible()
    issue_pass(page, student)
    row = pass_row(page, student)
    expect(row).to_contain_text(GO_NOW)
    expect(page.locator("#room-passes h2")).to_contain_text("Out of Room")
    check_accessibility(page, "teacher tablet")
    screenshot(page, "teacher-tablet")
    row.get_by_role("button", name="Back").click()
    expect(row).to_have_count(0)


def test_kiosk_typed_number_then_scan_again_to_return(open_page, site):
    teacher = teacher_tablet(open_page)
    kiosk = open_page("tablet")
    pair(teacher, kiosk, "Hall pass kiosk (room)", "Room 101 kiosk", room=site.room)
    kiosk.get_by_role("link", name="Open the hall pass kiosk").click()
    teacher.goto("/hallpass/")
    number_field = kiosk.get_by_label("Scan your student ID, or type your number")
    expect(number_field).to_be_focused()
    check_accessibility(kiosk, "kiosk scan screen")
    screenshot(kiosk, "kiosk")
    student = site.student()
    # A USB scanner types the number and presses Enter into the focused field.
    kiosk.keyboard.type(student["number"])
    kiosk.keyboard.press("Enter")
    expect(
        kiosk.get_by_role("heading", name=f"Hi {student['short']}, where are you going?")
    ).to_be_visible()
    check_accessibility(kiosk, "kiosk destinations")
    screenshot(kiosk, "kiosk-destinations")
    kiosk.get_by_role("button", name=GO_NOW, exact=True).click()
    expect(kiosk.get_by_role("heading", name=f"Go ahead, {student['short']}")).to_be_visible()
    check_accessibility(kiosk, "kiosk pass")
    # The pass's QR code opens its check page: a hall monitor's phone sees it is valid.
    pass_url = read_qr(kiosk, ".pass-qr")
    assert re.fullmatch(rf"{re.escape(site.url)}/hallpass/p/[A-Za-z0-9_-]+", pass_url)
    monitor = sign_in(open_page("phone"), "staff")
    monitor.goto(pass_url)
    expect(monitor.locator("main")).to_contain_text(GO_NOW)
    expect(monitor.locator("main")).to_contain_text(student["name"])
    # The teacher's tablet shows the kiosk pass without a reload.
    expect(pass_row(teacher, student)).to_contain_text("kiosk")
    # Back in the room: the same number again ends the pass.
    kiosk.get_by_role("link", name="Done").click()
    kiosk.get_by_label("Scan your student ID, or type your number").fill(student["number"])
    kiosk.get_by_role("button", name="Next").click()
    expect(kiosk.get_by_role("heading", name=f"Welcome back, {student['short']}")).to_be_visible()
    expect(pass_row(teacher, student)).to_have_count(0)


def test_room_qr_request_approved_live_on_the_teacher_tablet(open_page, site):
    teacher = teacher_tablet(open_page)
    display = open_page("tv")
    pair(teacher, display, "Classroom display (room)", "Room 101 display", room=site.room)
    display.get_by_role("link", name="Open the room's pass QR code").click()
    expect(display.get_by_role("heading", name="Need a hall pass? Scan this code.")).to_be_visible()
    # Nobody scrolls a wall display: the code and its instructions fit on the screen
    # (measured once its stylesheets have loaded: on a busy machine the heading can show
    # before them, with the QR code at its own, much larger size).
    display.wait_for_load_state("load")
    assert display.evaluate("document.documentElement.scrollHeight") <= 1080
    check_accessibility(display, "classroom display QR")
    screenshot(display, "room-qr-display")
    teacher.goto("/hallpass/")
    # The student's phone reads the room's code off the classroom display.
    room_link = read_qr(display, "#room-qr")
    assert room_link.startswith(f"{site.url}/hallpass/r/"), room_link
    student = site.student()

    phone = open_page("phone")
    phone.goto(room_link)
    expect(phone.get_by_role("heading", name=f"Hall pass · Room {site.room}")).to_be_visible()
    check_accessibility(phone, "room QR page")
    screenshot(phone, "room-qr-phone")
    # The destination panel leaves most of the screen to the class list (390x844).
    panel = phone.locator(".destination-row").bounding_box()
    assert panel is not None and panel["height"] <= 844 / 3 + 1, panel
    shown = phone.evaluate(
        """top => [...document.querySelectorAll('.student-tile')]
            .filter(t => t.getBoundingClientRect().bottom <= top).length""",
        panel["y"],
    )
    assert shown >= min(15, phone.locator(".student-tile").count()), shown
    phone.get_by_text(student["short"], exact=True).click()
    phone.get_by_label(re.compile("last 4 digits of your student number")).fill(
        student["number"][-4:]
    )
    phone.get_by_role("button", name=f"{ASK} (ask)").click()
    status = phone.locator("#visit-status")
    expect(status).to_contain_text(ASK)
    check_accessibility(phone, "room QR request")

    # The request appears on the teacher's tablet by itself; the teacher approves it.
    request = teacher.locator("#room-requests .request-row", has_text=student["name"])
    expect(request).to_contain_text("phone")
    check_accessibility(teacher, "teacher tablet with a request")
    screenshot(teacher, "teacher-request-tablet")
    request.get_by_role("button", name="Approve").click()
    expect(request).to_have_count(0)
    expect(pass_row(teacher, student)).to_contain_text(ASK)

    # The phone shows the pass without a reload.
    expect(status.get_by_role("heading", name=f"Pass to {ASK}")).to_be_visible()
    check_accessibility(phone, "pass on the phone")
    screenshot(phone, "room-qr-pass-phone")

    # Back in the room, the student scans the code again and taps "I'm back".
    phone.goto(read_qr(display, "#room-qr"))
    expect(phone.get_by_role("heading", name=f"Back in Room {site.room}?")).to_be_visible()
    phone.get_by_role("button", name="I'm back").click()
    expect(phone.get_by_role("heading", name="Welcome back")).to_be_visible()
    expect(pass_row(teacher, student)).to_have_count(0)


def test_hallway_overview_updates_live(open_page, site):
    office = sign_in(open_page("desktop"), "office")
    tv = open_page("tv")
    pair(office, tv, "Office / hallway display", "Office hallway TV", purpose="Hallway")
    tv.get_by_role("link", name="Open the hallway screen").click()
    hallway = tv.locator("#hallway")
    expect(hallway).to_be_visible()
    student = site.student()
    row = hallway.locator("tr", has_text=student["name"])
    expect(row).to_have_count(0)

    teacher = teacher_tablet(open_page)
    issue_pass(teacher, student)
    expect(row).to_contain_text(GO_NOW)
    expect(row).to_contain_text(site.room)
    check_accessibility(tv, "hallway display")
    screenshot(tv, "hallway-tv")
    pass_row(teacher, student).get_by_role("button", name="Back").click()
    expect(row).to_have_count(0)


def test_emergency_sweep(open_page, site):
    teacher = teacher_tablet(open_page)
    student, other = site.student(), site.student()
    issue_pass(teacher, student)
    expect(pass_row(teacher, student)).to_be_visible()

    office = sign_in(open_page("tablet"), "office")
    office.on("dialog", lambda dialog: dialog.accept())
    office.goto("/hallpass/sweep")
    office.get_by_role("button", name="Start sweep").click()
    try:
        expect(office.get_by_text("Sweep in progress")).to_be_visible()
        row = office.locator("tr", has_text=student["name"])
        expect(row).to_contain_text(GO_NOW)
        check_accessibility(office, "sweep")
        screenshot(office, "sweep")

        # No new pass starts anywhere while the sweep runs.
        issue_pass(teacher, other)
        expect(teacher.locator("#pass-answer")).to_contain_text(re.compile("sweep", re.I))
        expect(pass_row(teacher, other)).to_have_count(0)

        row.get_by_role("button", name="Accounted for").click()
        expect(office.get_by_text(f"{student['name']} is accounted for.")).to_be_visible()
        expect(office.get_by_text("Every student is accounted for.")).to_be_visible()
    finally:
        office.goto("/hallpass/sweep")
        end = office.get_by_role("button", name="End sweep")
        if end.count():
            end.click()
    expect(office.get_by_text("Sweep ended: passes work again.")).to_be_visible()
    expect(pass_row(teacher, student)).to_have_count(0)


def test_a_refusal_shows_next_to_the_buttons_and_an_urgent_nurse_pass_goes(open_page, site):
    """The teacher looks at the destination bar: the answer to a refused tap is there, in
    view at 1024x768, takes the focus (read out as an alert) and stays until the next tap."""
    page = teacher_tablet(open_page)
    student, other = site.student(), site.student()
    issue_pass(page, student)
    expect(pass_row(page, student)).to_be_visible()
    # The tile says the student is out, and where.
    tile = page.locator(".student-tile", has_text=student["name"])
    expect(tile).to_contain_text(f"Out: {GO_NOW}")
    # A second pass for a student who is out (their name is in the pass list too).
    page.locator(".student-tile", has_text=student["name"]).click()
    page.get_by_role("button", name="Lockers", exact=True).click()
    answer = page.locator("#pass-answer")
    expect(answer).to_contain_text("already has an active pass")
    box = answer.bounding_box()
    assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= 768
    expect(answer).to_be_focused()
    expect(answer).to_have_attribute("role", "alert")
    expect(page.locator("#live-errors")).to_be_empty()
    # The next tap clears it; an urgent nurse pass is one extra tap.
    page.get_by_text(other["name"], exact=True).click()
    expect(answer).to_be_empty()
    page.get_by_label(re.compile("Urgent nurse pass")).check()
    page.get_by_role("button", name="Nurse", exact=True).click()
    expect(pass_row(page, other)).to_contain_text("Nurse")
    expect(answer).to_be_empty()
    check_accessibility(page, "teacher tablet with a refusal")
    for done in (student, other):
        pass_row(page, done).get_by_role("button", name="Back").click()
        expect(pass_row(page, done)).to_have_count(0)
    expect(tile).not_to_contain_text("Out:")


def test_a_student_cannot_unpair_the_kiosk_but_a_teacher_can(open_page, site):
    teacher = teacher_tablet(open_page)
    kiosk = open_page("tablet")
    pair(teacher, kiosk, "Hall pass kiosk (room)", "Unpair test kiosk", room=site.room)
    kiosk.goto("/device")
    # A student finds the staff section: without a staff sign-in nothing happens.
    kiosk.get_by_text("Staff: unpair this device").click()
    kiosk.get_by_label("Staff email").fill("student@example.org")
    kiosk.get_by_label("Password").fill("guess")
    kiosk.get_by_role("button", name="Unpair this device").click()
    expect(kiosk.get_by_role("alert")).to_contain_text("not the email and password of a staff")
    kiosk.goto("/device")
    expect(kiosk.get_by_role("heading", name="Unpair test kiosk")).to_be_visible()
    check_accessibility(kiosk, "paired device page")
    # The teacher confirms with their own sign-in: the kiosk is unpaired.
    kiosk.get_by_text("Staff: unpair this device").click()
    kiosk.get_by_label("Staff email").fill(ACCOUNTS["teacher"])
    kiosk.get_by_label("Password").fill(PASSWORD)
    kiosk.get_by_role("button", name="Unpair this device").click()
    expect(kiosk).to_have_url(re.compile(r"/pair$"))


def test_the_whole_class_and_every_destination_fit_the_tablet_without_scrolling(open_page, site):
    """Two taps means two taps with no scroll, for a class of 30 at 1024x768."""
    page = teacher_tablet(open_page)
    tiles = page.locator(".student-tile")
    buttons = page.locator(".destination-row .destination")
    assert tiles.count() >= 20 and buttons.count() >= 10
    # The demo class plus the rest of a class of 30 (copies of its tiles, as the page
    # would draw them), to measure the layout at that size.
    page.evaluate(
        """() => {
          const grid = document.querySelector('.student-grid');
          const tile = grid.querySelector('.student-tile');
          while (grid.querySelectorAll('.student-tile').length < 30) {
            grid.appendChild(tile.cloneNode(true));
          }
        }"""
    )
    assert page.evaluate("window.scrollY") == 0
    for locator in (tiles.last, buttons.last):
        box = locator.bounding_box()
        assert box is not None and box["y"] + box["height"] <= 768, box
    screenshot(page, "teacher-tablet-class-of-30")


#: Before the page's scripts: each camera opened is counted, what the scanner reads is
#: kept, and the form it submits stays on the page (the tests are of the scanner). SETUP
#: runs first; ON_OPEN runs with each `stream` the camera gives and its number `opened`.
CAMERA_SCRIPT = """
(() => {
  SETUP
  const media = navigator.mediaDevices;
  const open = media.getUserMedia.bind(media);
  let opened = 0;
  media.getUserMedia = async (constraints) => {
    const stream = await open(constraints);
    opened += 1;
    sessionStorage.setItem("cameras-opened", String(opened));
    ON_OPEN
    return stream;
  };
  document.addEventListener("scanner:result", (event) => {
    sessionStorage.setItem("scanned", event.detail.text);
  });
  document.addEventListener("submit", (event) => event.preventDefault(), true);
})();
"""


def camera_script(setup: str = "", on_open: str = "") -> str:
    return CAMERA_SCRIPT.replace("SETUP", setup).replace("ON_OPEN", on_open)


def kiosk_scanning(open_page, site, script: str, label: str) -> Page:
    """A room kiosk, newly paired, whose camera scanner is on, with `script` before it."""
    teacher = teacher_tablet(open_page)
    kiosk = open_page("tablet")
    pair(teacher, kiosk, "Hall pass kiosk (room)", label, room=site.room)
    kiosk.add_init_script(script)
    kiosk.get_by_role("link", name="Open the hall pass kiosk").click()
    # The button works once the page's deferred scripts have run (a click before them is
    # lost, as on a real kiosk whose page is still loading).
    expect(kiosk.get_by_role("heading", name=re.compile(r"^Hall pass"))).to_be_visible()
    kiosk.wait_for_load_state("load")
    kiosk.get_by_role("button", name="Scan with camera").click()
    expect(kiosk.get_by_role("button", name="Stop camera")).to_be_visible()
    return kiosk


#: The camera's first stream dies at once (a phone whose camera is taken by another app,
#: or that fails to start the video under load).
DYING_FIRST_CAMERA = camera_script(
    on_open="if (opened === 1) stream.getTracks().forEach((track) => track.stop());"
)


def test_the_camera_opens_again_by_itself_when_its_video_dies(open_page, site):
    kiosk = kiosk_scanning(open_page, site, DYING_FIRST_CAMERA, "Room 101 camera kiosk")
    expect(kiosk.locator("video.scanner-video")).to_be_visible()
    # The fake camera shows the second demo hang tag: what matters is that it is read.
    seen = scanned_by_camera(kiosk, timeout=90_000)
    assert seen == [site.facts["tags"][1]["token"], "2"]


#: The camera's picture reaches the video 8 s after it is given to it (a stream given
#: meanwhile replaces it; taking it away is at once).
SLOW_STARTING_CAMERA = camera_script(
    setup="""
  const source = Object.getOwnPropertyDescriptor(HTMLMediaElement.prototype, "srcObject");
  Object.defineProperty(HTMLMediaElement.prototype, "srcObject", {
    get() { return source.get.call(this); },
    set(stream) {
      this.wantedStream = stream;
      if (stream === null) {
        source.set.call(this, null);
      } else {
        setTimeout(() => this.wantedStream === stream && source.set.call(this, stream), 8000);
      }
    },
  });"""
)


def test_a_camera_slower_to_start_than_the_watchdog_is_given_longer_each_time(open_page, site):
    """Every video here takes 8 s to start, longer than the 5 s the watchdog first allows: it
    opens the camera again with twice the time, so a slow phone reads the tag in the end.
    (A machine so busy that the watchdog's first look comes after 8 s reads it at once.)"""
    kiosk = kiosk_scanning(open_page, site, SLOW_STARTING_CAMERA, "Room 101 slow kiosk")
    seen = scanned_by_camera(kiosk, timeout=90_000)
    assert seen[0] == site.facts["tags"][1]["token"], seen

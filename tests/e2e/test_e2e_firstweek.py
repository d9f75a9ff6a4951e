"""Browser tests of issue 17 ("the first week in a real school"): slow buttons say they are
working until the answer comes, the keyboard gets a skip link and a visible focus.

A slow answer is made by holding the request in a Playwright route until the test has
looked at the button, then letting it through to the real server.
"""

from __future__ import annotations

import json
import re
import time

from playwright.sync_api import expect

from tests.e2e.helpers import sign_in


def _held(page, pattern: str) -> list:
    """Hold every request whose URL matches `pattern`; the routes, to let through later."""
    held: list = []
    page.route(re.compile(pattern), lambda route: held.append(route))
    return held


def _wait_for(page, held: list) -> None:
    for _ in range(100):
        if held:
            return
        page.wait_for_timeout(100)
    raise AssertionError("the request never came")


def test_roster_apply_is_disabled_and_says_so_until_the_answer(open_page, tmp_path):
    admin = sign_in(open_page("desktop"), "admin")
    admin.goto("/admin/roster/")
    rooms = tmp_path / "rooms.csv"
    rooms.write_text("name,kind\nE2E Study Hall,classroom\n")
    admin.get_by_label("Roster file (.zip or .csv)").set_input_files(str(rooms))
    admin.get_by_role("button", name="Upload and preview").click()
    expect(admin.get_by_role("heading", name="Roster import preview")).to_be_visible()

    # The button's states are written to sessionStorage as they change: they outlive the
    # page, which the answer replaces. The server's answer is held back a second and a half.
    admin.evaluate(
        """() => { const b = document.querySelector("button[data-busy]");
            new MutationObserver(() => { const s = b.nextElementSibling;
                sessionStorage.setItem("busy", JSON.stringify([b.textContent, b.disabled,
                    b.getAttribute("aria-busy"), s && s.getAttribute("role"), s && s.textContent]));
            }).observe(b.parentNode, {subtree: true, childList: true, attributes: true,
                                      characterData: true}); }"""
    )

    def slow(route):
        time.sleep(1.5)  # the browser runs on meanwhile; only Playwright waits
        route.continue_()

    admin.route(re.compile(r"/admin/roster/apply/"), slow)
    admin.get_by_role("button", name="Apply").click()
    expect(admin.get_by_text("Roster imported.")).to_be_visible()
    state = json.loads(admin.evaluate("() => sessionStorage.getItem('busy')"))
    assert state == ["Importing…", True, "true", "status", "Importing…"], state


def test_the_pdf_of_all_tags_says_it_is_being_made_until_it_downloads(open_page):
    office = sign_in(open_page("desktop"), "office")
    office.goto("/carline/tags/print")
    held = _held(office, r"/carline/tags\.pdf")
    link = office.get_by_role("link", name="Download PDF")
    with office.expect_download() as download:
        link.click()
        _wait_for(office, held)
        making = office.get_by_role("link", name="Making the PDF…")
        expect(making).to_have_attribute("aria-disabled", "true")
        making.dispatch_event("click")  # a second tap while it works asks for nothing more
        assert len(held) == 1
        held[0].continue_()
    assert download.value.suggested_filename == "hang-tags.pdf"
    assert download.value.path().read_bytes()[:5] == b"%PDF-"
    expect(office.get_by_role("link", name="Download PDF")).not_to_have_attribute(
        "aria-disabled", "true"
    )


def test_a_skip_link_and_a_visible_focus_for_the_keyboard(open_page):
    teacher = sign_in(open_page("tablet"), "teacher")
    teacher.goto("/")
    teacher.keyboard.press("Tab")
    skip = teacher.get_by_role("link", name="Skip to the content")
    expect(skip).to_be_focused()
    box = skip.bounding_box()
    assert box is not None and box["y"] >= 0 and box["height"] > 20  # on the screen when focused
    teacher.keyboard.press("Enter")
    expect(teacher.locator("main#main")).to_be_focused()
    teacher.keyboard.press("Tab")
    outline = teacher.evaluate(
        "() => { const s = getComputedStyle(document.activeElement);"
        " return [s.outlineStyle, parseFloat(s.outlineWidth)]; }"
    )
    assert outline[0] != "none" and outline[1] >= 2, outline
    assert teacher.evaluate("() => document.activeElement.closest('main') !== null")

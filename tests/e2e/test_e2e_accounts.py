"""Sign in with every role on its device, and pair devices with a one-time code."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import check_accessibility, pair, screenshot, sign_in

#: Each role, the device it is used on, and a link its main navigation must offer.
ROLES = [
    ("admin", "desktop", "Admin"),
    ("office", "desktop", "Dismissal"),
    ("teacher", "tablet", "Hall passes"),
    ("staff", "phone", "Curb"),
]


def test_sign_in_page(open_page):
    page = open_page("tablet")
    page.goto("/login")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    check_accessibility(page, "sign-in")
    screenshot(page, "sign-in-tablet")


@pytest.mark.parametrize(("role", "size", "link"), ROLES)
def test_sign_in_each_role(open_page, role, size, link):
    page = sign_in(open_page(size), role)
    navigation = page.get_by_role("navigation", name="Main")
    expect(navigation.get_by_role("link", name=link, exact=True)).to_be_visible()
    check_accessibility(page, f"{role} home")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)


def test_wrong_password_is_refused(open_page):
    page = open_page("phone")
    page.goto("/login")
    page.get_by_label("Email").fill("staff@example.org")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/login"))


def test_forgot_password_answers_without_saying_whether_the_account_exists(open_page):
    page = open_page("phone")
    page.goto("/login")
    page.get_by_role("link", name="Forgot your password?").click()
    check_accessibility(page, "forgot password")
    page.get_by_label("Email").fill("teacher@example.org")
    page.get_by_role("button", name="Send the link").click()
    # The demo server sends no mail (no SMTP_HOST): staff are told to ask their admin.
    expect(page.get_by_role("status")).to_contain_text("Ask your school's admin")
    check_accessibility(page, "forgot password answer")


def test_pair_a_display_with_a_code(open_page, site):
    office = sign_in(open_page("desktop"), "office")
    tv = open_page("tv")
    code = pair(office, tv, "Office / hallway display", "Hall TV (pairing test)", purpose="Hallway")
    check_accessibility(tv, "paired device home")
    tv.get_by_role("link", name="Open the hallway screen").click()
    expect(tv.get_by_role("heading", name="Students out of class")).to_be_visible()
    # The paired browser holds no staff session: staff pages stay closed to it.
    response = tv.goto("/admin/")
    assert response is not None and response.status in (401, 403)
    # The code worked once: entering it again on a third browser fails.
    other = open_page("tablet")
    other.goto("/pair")
    other.get_by_label("Pairing code").fill(code)
    other.get_by_role("button", name="Pair").click()
    expect(other.get_by_role("alert")).to_be_visible()

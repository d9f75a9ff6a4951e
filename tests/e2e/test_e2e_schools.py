"""A district admin adds a school in the browser, picking its time zone from the list."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.e2e.helpers import check_accessibility, sign_in


def test_a_district_admin_adds_and_renames_a_school(open_page):
    page = sign_in(open_page("desktop"), "district")
    page.get_by_role("link", name="District schools").first.click()
    expect(page.locator("main h1")).to_have_text("Schools of the district")
    check_accessibility(page, "/schools/ (district admin)")
    page.get_by_label("Name").fill("Washington High School")
    page.get_by_label("Short code").fill("whs")
    page.get_by_label("Time zone").select_option("America/Denver")
    page.get_by_role("button", name="Add school").click()
    expect(page.get_by_text("Washington High School (WHS) is added.")).to_be_visible()
    row = page.locator("tr", has_text="Washington High School")
    expect(row).to_contain_text("America/Denver")
    row.get_by_role("link", name="Edit").click()
    check_accessibility(page, "/schools/<id> (district admin)")
    page.get_by_label("Name").fill("Washington High")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("tr", has_text="Washington High")).to_contain_text("WHS")
    expect(page.get_by_role("link", name="Source")).to_be_visible()

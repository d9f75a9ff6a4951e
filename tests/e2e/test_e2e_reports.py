"""Reports in the browser: hall pass and car line reports draw the demo's weeks of
history as charts, and their CSV exports download.
"""

from __future__ import annotations

import csv
import io

from playwright.sync_api import Page, expect

from tests.e2e.helpers import check_accessibility, screenshot, sign_in


def download_csv(page: Page, link) -> list[dict]:
    """Click a CSV link, wait for the download and read it."""
    with page.expect_download() as download:
        link.click()
    assert download.value.suggested_filename.endswith(".csv"), download.value.suggested_filename
    text = download.value.path().read_text(encoding="utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def test_hall_pass_reports_chart_the_history_and_export_csv(open_page):
    office = sign_in(open_page("desktop"), "office")
    office.goto("/hallpass/reports")
    expect(office.get_by_role("heading", name="Hall pass reports")).to_be_visible()
    charts = office.locator(".chart-card svg")
    expect(charts.first).to_be_visible()
    assert charts.count() >= 2
    # Weeks of demo passes: bars are drawn and the busiest students are listed.
    assert office.locator(".chart-card svg rect").count() > 5
    expect(office.locator(".report-table tbody tr").first).not_to_contain_text("No passes.")
    check_accessibility(office, "hall pass reports")
    screenshot(office, "hallpass-report", height=1300)

    rows = download_csv(office, office.get_by_role("link", name="Every pass (CSV)"))
    assert len(rows) > 100
    assert {"student", "destination"} <= {key.lower() for key in rows[0]}

    # One student's history, from the report's list.
    office.locator(".report-table tbody a").first.click()
    expect(office.locator("main h1")).to_be_visible()
    check_accessibility(office, "student pass history")


def test_car_line_reports_chart_a_day_and_export_csv(open_page):
    office = sign_in(open_page("desktop"), "office")
    office.goto("/carline/reports")
    expect(office.get_by_role("heading", name="Dismissal reports")).to_be_visible()
    days = office.locator("table.report-table tbody a")
    assert days.count() >= 10, "the demo has a few weeks of dismissals"
    check_accessibility(office, "dismissal history")
    screenshot(office, "carline-history")
    rows = download_csv(office, office.get_by_role("link", name="Download CSV"))
    assert len(rows) >= 10

    # A past day of the demo, with its chart of cars called and loaded.
    days.last.click()
    expect(office.get_by_role("heading", name="Cars called and loaded over time")).to_be_visible()
    chart = office.locator(".chart-card svg")
    expect(chart).to_be_visible()
    check_accessibility(office, "dismissal report")
    screenshot(office, "carline-report", height=1150)
    rows = download_csv(office, office.get_by_role("link", name="Download CSV"))
    assert len(rows) > 100
    assert {row["mode"] for row in rows} >= {"car", "bus"}

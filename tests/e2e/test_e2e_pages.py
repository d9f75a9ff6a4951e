"""The rest of the staff screens in the browser: each opens for its role, loads nothing
from another origin (see conftest.py) and has no serious accessibility problem.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import check_accessibility, sign_in

#: Role, device, and the pages of that role not covered by the flow tests.
PAGES = {
    "admin": (
        "desktop",
        [
            "/admin/",
            "/admin/staff",
            "/admin/school",
            "/admin/schedule",
            "/admin/students",
            "/admin/audit",
            "/admin/roster/",
            "/admin/privacy",
            "/devices",
            "/hallpass/settings",
            "/hallpass/settings/destinations/new",
            "/hallpass/settings/limits",
            "/hallpass/settings/rules",
            "/hallpass/settings/keep-apart",
            "/carline/settings",
            "/privacy/inventory",
            "/admin/district",
            "/account/two-factor",
        ],
    ),
    "office": (
        "desktop",
        [
            "/dashboard",
            "/devices/new",
            "/carline/",
            "/carline/families",
            "/carline/plans",
            "/carline/today",
            "/hallpass/reports/incident",
            "/account/password",
        ],
    ),
    "teacher": (
        "tablet",
        ["/dashboard", "/carline/my-students", "/hallpass/reports", "/account/two-factor/setup"],
    ),
    "staff": ("phone", ["/dashboard", "/carline/curb", "/hallpass/hallway"]),
}


@pytest.mark.parametrize("role", sorted(PAGES))
def test_staff_pages_are_accessible(open_page, role):
    size, paths = PAGES[role]
    page = sign_in(open_page(size), role)
    for path in paths:
        response = page.goto(path)
        assert response is not None and response.status == 200, (path, response and response.status)
        expect(page.locator("main h1").first).to_be_visible()
        check_accessibility(page, f"{path} ({role})")

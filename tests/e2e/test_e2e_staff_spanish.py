"""Every staff screen with the staff member's account set to Spanish (issue 19): each
role's pages, from the dashboard to the admin, reports, settings, car line and emergency
screens, say lang="es" and show none of a list of English interface words, once the
school's own data (names of people, rooms, classes, destinations...) is taken out.

The accounts are Spanish twins of the demo accounts (tests/e2e/spanish_staff.py), so the
other browser tests keep their English accounts.
"""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import PASSWORD, assert_spanish, pair, sign_in, spanish_page

#: English interface words that must not be left on a Spanish staff screen. Words that
#: are Spanish too ("no", "total", "a") or brand names are not listed.
ENGLISH = (
    "the",
    "your",
    "and",
    "with",
    "sign out",
    "settings",
    "student",
    "students",
    "teacher",
    "teachers",
    "room",
    "rooms",
    "pass",
    "passes",
    "save",
    "cancel",
    "back",
    "today",
    "dismissal",
    "family",
    "families",
    "report",
    "reports",
    "search",
    "loaded",
    "called",
    "add",
    "edit",
    "delete",
    "minutes",
    "period",
    "class",
    "staff",
    "school",
    "print",
    "download",
    "history",
    "destination",
    "destinations",
    "devices",
    "account",
    "none",
    "nobody",
    "bus",
    "walkers",
    "car line",
    "hall pass",
    "emergency",
    "AM",
    "PM",
)

#: What a page shows as it is stored, in no language, outside `<code>`: the audit filter's
#: action codes ("auth.login") and the names of the roster's files ("students.csv").
CODES = r"\b[a-z_]+\.[a-z_.]+\b"

#: Role, screen size and the pages of that role.
PAGES = {
    "admin": (
        "desktop",
        [
            "/",
            "/dashboard",
            "/admin/",
            "/admin/staff",
            "/admin/staff/new",
            "/admin/school",
            "/admin/schedule",
            "/admin/students",
            "/admin/audit",
            "/admin/roster/",
            "/admin/privacy",
            "/devices",
            "/devices/new",
            "/account/password",
            "/account/two-factor",
            "/account/invitations",
            "/privacy/inventory",
            "/hallpass/settings",
            "/hallpass/settings/destinations/new",
            "/hallpass/settings/limits",
            "/hallpass/settings/rules",
            "/hallpass/settings/keep-apart",
            "/hallpass/reports",
            "/hallpass/reports/incident",
            "/hallpass/hallway",
            "/hallpass/sweep",
            "/carline/settings",
            "/carline/tags/print",
            "/carline/tags/blocked",
            "/carline/reports",
            "/emergency/",
        ],
    ),
    "office": (
        "desktop",
        [
            "/dashboard",
            "/carline/",
            "/carline/dismissal",
            "/carline/families",
            "/carline/plans",
            "/carline/today",
            "/hallpass/hallway",
        ],
    ),
    "teacher": (
        "tablet",
        ["/dashboard", "/hallpass/", "/carline/my-students", "/hallpass/reports"],
    ),
    "staff": ("phone", ["/dashboard", "/carline/curb", "/hallpass/hallway"]),
    "district": ("desktop", ["/schools/", "/admin/district", "/admin/sign-in"]),
}


@pytest.fixture(scope="module")
def spanish_staff(site):
    return json.loads(site.run("tests.e2e.spanish_staff"))


@pytest.mark.parametrize("role", sorted(PAGES))
def test_staff_screens_in_spanish(open_page, spanish_staff, role):
    size, paths = PAGES[role]
    if role == "admin":
        paths = paths + spanish_staff["records"]
    page = spanish_page(open_page, size)
    page.goto("/login")
    page.get_by_label("Correo electrónico").fill(spanish_staff["emails"][role])
    page.get_by_label("Contraseña").fill(PASSWORD)
    page.get_by_role("button", name="Iniciar sesión", exact=True).click()
    expect(page.get_by_role("button", name="Cerrar sesión")).to_be_visible()
    data = ("passline", *spanish_staff["data"])
    english_left = []
    for path in paths:
        response = page.goto(path)
        assert response is not None and response.status == 200, (path, response and response.status)
        expect(page.locator("main h1").first).to_be_visible()
        try:
            assert_spanish(page, ENGLISH, *data, ignore=CODES)
        except AssertionError as left:  # every page's leftovers at once, not the first only
            english_left.append(str(left).split("\n")[0])
    assert not english_left, "\n".join(english_left)


#: Each kind of paired screen, and the pages it opens.
SCREENS = [
    ("Office / hallway display", "Dismissal", False, ["/device", "/carline/tv"]),
    ("Office / hallway display", "Hallway", False, ["/device", "/hallpass/hallway"]),
    (
        "Classroom display (room)",
        None,
        True,
        ["/device", "/hallpass/display", "/carline/classroom"],
    ),
    ("Curb scanner", None, False, ["/device", "/carline/curb"]),
]


@pytest.mark.parametrize(("kind", "purpose", "in_room", "paths"), SCREENS)
def test_paired_screens_in_spanish(open_page, site, spanish_staff, kind, purpose, in_room, paths):
    """A screen paired by an English-speaking admin, set to Spanish on that browser (a
    device's own language works the same way: docs/translations.md)."""
    admin = sign_in(open_page("desktop"), "admin")
    screen = open_page("tv" if kind != "Curb scanner" else "phone")
    label = f"ES {kind} {purpose or ''}".strip()
    pair(admin, screen, kind, label, room=site.room if in_room else None, purpose=purpose)
    screen.context.add_cookies([{"name": "lang", "value": "es", "url": site.url}])
    data = ("passline", label, site.room, *spanish_staff["data"])
    english_left = []
    for path in paths:
        response = screen.goto(path)
        assert response is not None and response.status == 200, (path, response and response.status)
        try:
            assert_spanish(screen, ENGLISH, *data, ignore=CODES)
        except AssertionError as left:
            english_left.append(str(left).split("\n")[0])
    assert not english_left, "\n".join(english_left)

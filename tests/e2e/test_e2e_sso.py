"""Single sign-on in the browser: a district admin adds the provider on its admin page, a
teacher clicks its button on the tablet, signs in at the provider's own page and lands on
the hall pass tablet; the sign-in page with its button at phone and TV sizes.

The provider is the real `oidc-provider` (tests/oidc) on 127.0.0.1, its only client
registered with this server's callback URL. The provider is removed again at the end
(through its admin page), so the other browser tests see the usual sign-in page.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import SIZES, check_accessibility, screenshot
from tests.gunicorn_server import ROOT
from tests.oidc_provider import needs_node, running_provider

pytestmark = needs_node

DISTRICT_ADMIN = "it@example.org"
ADMIN_PASSWORD = "district-it-e2e-password"
CLIENT_ID = "passline-e2e"
CLIENT_SECRET = "e2e-client-secret-never-shown"


@pytest.fixture(scope="module")
def provider(site, tmp_path_factory):
    """The provider, with the demo teacher as one of its users."""
    clients = [
        {
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "redirect_uris": [f"{site.url}/sso/district/callback"],
        }
    ]
    users = {
        "tess": {
            "password": "provider-password",
            "claims": {
                "email": "teacher@example.org",
                "email_verified": True,
                "name": "Demo Teacher",
            },
        }
    }
    with running_provider(tmp_path_factory.mktemp("e2e-oidc"), clients, users) as running:
        yield running


@pytest.fixture(scope="module")
def district_admin(site):
    """A district admin of the demo install (`flask create-admin --district`)."""
    done = subprocess.run(  # noqa: S603  (our own interpreter and command)
        [sys.executable, "-m", "flask", "create-admin", "--email", DISTRICT_ADMIN, "--district"],
        cwd=ROOT,
        env={**site.server.env, "FLASK_APP": "wsgi", "PASSLINE_ADMIN_PASSWORD": ADMIN_PASSWORD},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return DISTRICT_ADMIN


def test_admin_adds_a_provider_and_a_teacher_signs_in_with_one_click(
    open_page, site, provider, district_admin
):
    admin = open_page("desktop")
    admin.goto("/login")
    admin.get_by_label("Email").fill(district_admin)
    admin.get_by_label("Password").fill(ADMIN_PASSWORD)
    admin.get_by_role("button", name="Sign in", exact=True).click()
    admin.goto("/admin/")
    admin.get_by_role("navigation", name="Admin").get_by_role(
        "link", name="Sign-in providers"
    ).click()
    admin.get_by_label("Key (in the redirect URI").fill("district")
    admin.get_by_label("Kind").select_option(label="Other OpenID provider (by its issuer)")
    admin.get_by_label("Button label").fill("District account")
    admin.get_by_label("Issuer URL").fill(provider.issuer)
    admin.get_by_label("Client ID").fill(CLIENT_ID)
    admin.get_by_label("Client secret").fill(CLIENT_SECRET)
    admin.get_by_label("Email domains that may sign in").fill("example.org")
    admin.get_by_role("button", name="Add provider").click()
    expect(admin.get_by_text("is added")).to_be_visible()
    expect(admin.get_by_text(f"{site.url}/sso/district/callback").first).to_be_visible()
    check_accessibility(admin, "sign-in providers")
    assert CLIENT_SECRET not in admin.content()

    try:
        tablet = open_page("tablet")
        open_page.allow_origin(provider.issuer)
        tablet.goto("/hallpass/")  # not signed in: the sign-in page, then back here
        button = tablet.get_by_role("link", name="Sign in with District account")
        expect(button).to_be_visible()
        check_accessibility(tablet, "sign-in with a provider")
        screenshot(tablet, "sign-in-sso-tablet")
        button.click()
        expect(tablet).to_have_url(re.compile(re.escape(provider.issuer) + "/interaction/"))
        tablet.get_by_label("Username").fill("tess")
        tablet.get_by_label("Password").fill("provider-password")
        tablet.get_by_role("button", name="Continue").click()
        expect(tablet).to_have_url(f"{site.url}/hallpass/")
        expect(tablet.get_by_role("heading", name=re.compile(r"^Hall passes · "))).to_be_visible()
        expect(tablet.get_by_role("button", name="Sign out")).to_be_visible()
        tablet.get_by_role("button", name="Sign out").click()
        expect(tablet.get_by_role("link", name="Sign in with District account")).to_be_visible()

        for size in ("phone", "tv"):
            page = open_page(size)
            page.goto("/login")
            button = page.get_by_role("link", name="Sign in with District account")
            expect(button).to_be_visible()
            box = button.bounding_box()
            assert box is not None and box["x"] >= 0
            assert box["x"] + box["width"] <= SIZES[size]["width"]
            assert box["height"] >= 44  # a comfortable touch target
            expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()
            screenshot(page, f"sign-in-sso-{size}")
    finally:
        # Remove the provider again: the other browser tests expect the usual page.
        admin.goto("/admin/sign-in/district")
        admin.get_by_role("button", name="Remove this provider").click()
        expect(admin.get_by_text("The provider is removed")).to_be_visible()

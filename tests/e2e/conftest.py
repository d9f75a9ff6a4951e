"""Browser tests: Playwright (sync API) driving Debian's Chromium against a real server.

One server per test session: a temporary instance folder and SQLite database, `flask db
upgrade`, `flask demo` and `tests/e2e/school.py` (which puts "now" in period 1), then
gunicorn with the project's gunicorn.conf.py (tests/gunicorn_server.py). The browser
tests never touch the unit tests' database: the autouse `db` fixture of tests/conftest.py
is replaced here by one that does nothing.

Every browser context records every request it makes; a test fails if one goes to an
origin other than the app's (data: and blob: are fine), if a page throws, or if Chromium
reports a Content-Security-Policy violation. axe-core is served to the pages at a
same-origin path by a Playwright route, so the app's strict CSP stays on while it runs.

Without /usr/bin/chromium the tests skip; `playwright install` is never needed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.gunicorn_server import ROOT, Server, running_gunicorn

CHROMIUM = Path("/usr/bin/chromium")
HERE = Path(__file__).resolve().parent
#: Playwright's default wait for `expect` (live regions poll every 2 to 3 s; CI is slow).
EXPECT_TIMEOUT_MS = 15_000


def pytest_collection_modifyitems(config, items):
    """Skip the browser tests, with the reason, on a machine without Chromium, and when the
    suite runs against PostgreSQL: their server always runs on a SQLite file of its own
    (`site`), so they run once, in the SQLite pass, not twice."""
    if not CHROMIUM.exists():
        reason = f"browser tests need Chromium at {CHROMIUM} (Debian: apt-get install chromium)"
    elif os.environ.get("TEST_DATABASE_URL"):
        reason = "the browser tests' server runs on SQLite: they run in the SQLite pass"
    else:
        return
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(skip)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so fixtures can tell a failed test."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(autouse=True)
def db():
    """The unit tests' database fixture, replaced: the browser tests use their own server."""
    yield None


@dataclass
class Site:
    """The running app: its URL, the server, and the demo people and places the tests use."""

    url: str
    server: Server
    facts: dict
    students_taken: set[int] = field(default_factory=set)
    #: The environment of the server's database, for a test that prepares more data.
    env: dict[str, str] = field(default_factory=dict)

    def run(self, module: str) -> str:
        """Run `python -m module` on the server's database; its stdout."""
        return _run(["-m", module], self.env)

    def student(self) -> dict:
        """A student of the teacher's period 1 class no other test has used yet."""
        for student in self.facts["students"]:
            if student["id"] not in self.students_taken:
                self.students_taken.add(student["id"])
                return student
        raise AssertionError("the demo class has no unused student left")

    @property
    def room(self) -> str:
        return self.facts["room"]["name"]


def _run(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(  # noqa: S603  (our own interpreter and commands)
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Iterator[Site]:
    """The demo school served by gunicorn on 127.0.0.1, on a SQLite file of its own."""
    instance = tmp_path_factory.mktemp("e2e-instance")
    database_url = f"sqlite:///{instance / 'e2e.sqlite3'}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "PASSLINE_INSTANCE_PATH": str(instance),
        "SECRET_KEY": "test-secret-key",
        "FLASK_APP": "wsgi",
    }
    _run(["-m", "flask", "db", "upgrade"], env)
    _run(["-m", "flask", "demo"], env)
    _run(
        ["-m", "flask", "create-admin", "--email", "district@example.org", "--district"],
        {**env, "PASSLINE_ADMIN_PASSWORD": "passline-demo"},
    )
    facts = json.loads(_run(["-m", "tests.e2e.school"], env))
    with running_gunicorn(database_url, instance, workers=2, threads=8) as server:
        yield Site(url=server.url, server=server, facts=facts, env=env)


@pytest.fixture(scope="session")
def fake_camera(site, tmp_path_factory) -> Path:
    """A looping camera video of the QR code on the second demo hang tag."""
    from shared.qr import qr_matrix
    from tests.e2e.fakecam import write_y4m

    token = site.facts["tags"][1]["token"]
    return write_y4m(tmp_path_factory.mktemp("camera") / "hang-tag.y4m", qr_matrix(token))


@pytest.fixture(scope="session")
def browser(fake_camera):
    """Headless Chromium from Debian, with a fake camera that shows a hang tag."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--headless=new",
                "--disable-dev-shm-usage",
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-video-capture={fake_camera}",
            ],
        )
        yield chromium
        chromium.close()


@dataclass
class Watch:
    """What the pages of one test did that they must not: other origins, errors, CSP."""

    origin: str
    #: Other origins a test means to visit (the OpenID provider's sign-in page).
    allowed: set[str] = field(default_factory=set)
    foreign: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def request(self, request) -> None:
        url = request.url
        scheme = urlsplit(url).scheme
        if scheme in ("data", "blob"):
            return
        parts = urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}" not in {self.origin, *self.allowed}:
            self.foreign.append(f"{request.method} {url}")

    def console(self, message) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            self.errors.append(f"CSP: {message.text}")

    def page_error(self, error) -> None:
        self.errors.append(f"JavaScript error: {error}")


def _save_failure(contexts, folder: Path, site: Site) -> None:
    """After a failed test: a screenshot of every open page and the server's last log lines."""
    folder.mkdir(parents=True, exist_ok=True)
    for n, context in enumerate(contexts):
        for m, page in enumerate(context.pages):
            try:
                page.screenshot(path=folder / f"context{n}-page{m}.png", full_page=True)
            except Exception as error:  # a page may have crashed
                print(f"no screenshot of context {n} page {m}: {error}")
            else:
                print(f"context {n} page {m}: {page.url} -> {folder}/context{n}-page{m}.png")
    print("server log (last 40 lines):\n" + "\n".join(site.server.log().splitlines()[-40:]))


@pytest.fixture
def open_page(browser, site, request, tmp_path):
    """`open_page("tablet"|"phone"|"tv"|"desktop")`: a page in a browser context of its own.

    Each context is a separate browser (its own cookies), like a second device.
    `open_page.allow_origin(url)` lets the test's pages visit one more origin.
    """
    from tests.e2e.helpers import AXE_FILE, AXE_PATH, SIZES

    watch = Watch(origin=site.url)
    contexts = []

    def serve_axe(route):
        route.fulfill(path=AXE_FILE, content_type="text/javascript; charset=utf-8")

    def watch_page(page):
        page.on("console", watch.console)
        page.on("pageerror", watch.page_error)

    def make(size: str = "tablet", **options):
        context = browser.new_context(
            base_url=site.url,
            viewport=SIZES[size],
            accept_downloads=True,
            timezone_id="America/Chicago",
            locale=options.pop("locale", "en-US"),
            **options,
        )
        context.set_default_timeout(EXPECT_TIMEOUT_MS)
        context.on("request", watch.request)
        context.on("page", watch_page)
        context.route(f"{site.url}{AXE_PATH}", serve_axe)
        contexts.append(context)
        return context.new_page()

    make.allow_origin = watch.allowed.add
    yield make
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        _save_failure(contexts, tmp_path / "failure", site)
    for context in contexts:
        context.close()
    assert not watch.foreign, "requests to another origin:\n" + "\n".join(watch.foreign)
    assert not watch.errors, "\n".join(watch.errors)

"""Each blueprint serves its own scripts and styles; the core keeps only its own and the
vendored libraries both blueprints use (htmx, ZXing)."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "path",
    [
        "/hallpass/static/hallpass/hallpass.css",
        "/hallpass/static/hallpass/hallpass-reports.css",
        "/hallpass/static/hallpass/hallpass.js",
        "/hallpass/static/hallpass/timers.js",
        "/carline/static/carline/carline.css",
        "/carline/static/carline/carline-office.css",
        "/carline/static/carline/curb.js",
        "/carline/static/carline/carline-run.js",
        "/carline/static/carline/carline-office.js",
        "/static/js/scanner.js",
        "/static/vendor/htmx/htmx.min.js",
        "/static/vendor/zxing/zxing.min.js",
    ],
)
def test_static_files_are_served_without_signing_in(client, path):
    response = client.get(path)
    response.close()  # a file response holds the file open until closed
    assert response.status_code == 200, path
    assert "Content-Security-Policy" in response.headers
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_the_core_static_folder_holds_nothing_of_a_blueprint():
    names = [
        p.relative_to(ROOT / "shared" / "static").as_posix()
        for p in (ROOT / "shared" / "static").rglob("*")
        if p.is_file()
    ]
    assert [n for n in names if "hallpass" in n or "carline" in n or "curb" in n] == []
    assert not (ROOT / "shared" / "static" / "js" / "timers.js").exists()


def test_pages_link_their_blueprints_static_files(client, school, make_user, login):
    login(make_user(school, "office"))
    assert "/hallpass/static/hallpass/hallpass.css" in client.get("/hallpass/").get_data(True)
    assert "/carline/static/carline/carline-office.css" in client.get("/carline/").get_data(True)


def test_static_urls_carry_a_fingerprint_of_the_files(client):
    """So a proxy may cache them for a year (deploy/); never as `v`, which pages use for
    a live region's version."""
    import re

    page = client.get("/login").get_data(as_text=True)
    urls = re.findall(r'(?:href|src)="(/static/[^"]+)"', page)
    assert urls and all(re.search(r"\?s=[0-9a-f]{12}$", url) for url in urls), urls

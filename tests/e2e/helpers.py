"""What the browser tests do again and again: sign in, pair a device, check accessibility,
take the README screenshots.
"""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
AXE_FILE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
#: Same-origin path the tests serve axe-core at (a Playwright route; the app never sees it).
AXE_PATH = "/__e2e__/axe.min.js"
PASSWORD = "passline-demo"

#: Device sizes from the design notes.
SIZES = {
    "tablet": {"width": 1024, "height": 768},
    "phone": {"width": 390, "height": 844},
    "tv": {"width": 1920, "height": 1080},
    "desktop": {"width": 1280, "height": 800},
}

ACCOUNTS = {
    "admin": "admin@example.org",
    "office": "office@example.org",
    "teacher": "teacher@example.org",
    "staff": "staff@example.org",
    "counselor": "counselor@example.org",
    #: Made by the site fixture with `flask create-admin --district` (the demo has none).
    "district": "district@example.org",
}


def sign_in(page: Page, role: str) -> Page:
    """Sign in with the demo account of `role` through the sign-in form."""
    page.goto("/login")
    page.get_by_label("Email").fill(ACCOUNTS[role])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page).not_to_have_url(re.compile(r"/login"))
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    return page


def pair(
    staff: Page,
    device: Page,
    kind: str,
    label: str,
    *,
    room: str | None = None,
    purpose: str | None = None,
) -> str:
    """`staff` makes a pairing code; `device` (another browser context) enters it.

    Returns the code (it has been used up).
    """
    staff.goto("/devices/new")
    staff.get_by_role("radio", name=kind, exact=True).check()
    staff.get_by_label("Name shown in the device list").fill(label)
    if room is not None:
        staff.get_by_label("Room (kiosks and classroom displays)").select_option(label=room)
    if purpose is not None:
        staff.get_by_label("Display shows (office / hallway displays)").select_option(label=purpose)
    staff.get_by_role("button", name="Create code").click()
    code = staff.locator(".pairing-code").inner_text().strip()
    assert re.fullmatch(r"[A-Z0-9-]{8,12}", code), code
    device.goto("/pair")
    device.get_by_label("Pairing code").fill(code)
    device.get_by_role("button", name="Pair").click()
    expect(device).to_have_url(re.compile(r"/device$"))
    expect(device.get_by_role("heading", name=label)).to_be_visible()
    return code


def check_accessibility(page: Page, screen: str) -> None:
    """Run axe-core on the page: no violation of impact "critical" or "serious"."""
    page.add_script_tag(url=AXE_PATH)
    result = page.evaluate(
        """async () => {
            const r = await axe.run(document, {resultTypes: ["violations"]});
            return r.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 5).map(n => n.target.join(" ") + ": " + n.failureSummary),
            }));
        }"""
    )
    bad = [v for v in result if v["impact"] in ("critical", "serious")]
    assert not bad, f"axe-core on {screen}:\n" + "\n".join(
        f"- {v['impact']} {v['id']}: {v['help']}\n    " + "\n    ".join(v["nodes"]) for v in bad
    )


def screenshot(page: Page, name: str, *, height: int | None = None) -> Path:
    """Save the README screenshot docs/screenshots/<name>.png at the page's device size.

    With `height`, the top `height` pixels of the whole page (for long report pages).
    """
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    options: dict = {"animations": "disabled", "caret": "hide"}
    if height is not None:
        width = page.viewport_size["width"]
        options.update(full_page=True, clip={"x": 0, "y": 0, "width": width, "height": height})
    page.screenshot(path=path, **options)
    return path


def read_qr(page: Page, selector: str) -> str:
    """Read the QR code shown as an inline SVG at `selector`, as a phone camera would.

    The SVG's path is drawn on a canvas with a white quiet zone and decoded by the app's
    vendored ZXing (same origin, so the CSP allows it).
    """
    if not page.evaluate("() => Boolean(window.ZXing)"):
        page.add_script_tag(url="/static/vendor/zxing/zxing.min.js")
    for attempt in range(3):
        try:
            return page.evaluate(_READ_QR, selector)
        except PlaywrightError:
            if attempt == 2:
                raise
            page.wait_for_timeout(1000)  # a live QR may be mid-swap: read it again
    raise AssertionError("unreachable")


_READ_QR = """(selector) => {
            const svg = document.querySelector(selector + " svg");
            const box = svg.viewBox.baseVal;
            const paths = Array.from(svg.querySelectorAll("path"), (p) => p.getAttribute("d"));
            const binarizers = [ZXing.HybridBinarizer, ZXing.GlobalHistogramBinarizer];
            // The code is drawn, not photographed: a pure code with its quiet zone is read
            // module by module first (ZXing's detector, for a camera's picture, can miss the
            // size of a perfectly sharp one), then as a camera would.
            const pure = new Map([[ZXing.DecodeHintType.PURE_BARCODE, true]]);
            const hard = new Map([[ZXing.DecodeHintType.TRY_HARDER, true]]);
            let failure = null;
            for (const scale of [8, 6, 10, 4, 5, 7, 9, 12, 3]) {
                const margin = 4;
                const canvas = document.createElement("canvas");
                canvas.width = (box.width + 2 * margin) * scale;
                canvas.height = (box.height + 2 * margin) * scale;
                const ctx = canvas.getContext("2d");
                ctx.fillStyle = "#fff";
                ctx.fillRect(0, 0, canvas.width, canvas.height);
                const dx = (margin - box.x) * scale, dy = (margin - box.y) * scale;
                ctx.setTransform(scale, 0, 0, scale, dx, dy);
                ctx.fillStyle = "#000";
                paths.forEach((d) => ctx.fill(new Path2D(d)));
                for (const hints of [pure, hard]) {
                    for (const Binarizer of binarizers) {
                        const source = new ZXing.HTMLCanvasElementLuminanceSource(canvas);
                        try {
                            const bitmap = new ZXing.BinaryBitmap(new Binarizer(source));
                            return new ZXing.QRCodeReader().decode(bitmap, hints).getText();
                        } catch (error) {
                            failure = error;
                        }
                    }
                }
            }
            throw failure;
        }"""


def spanish_page(open_page, size: str = "phone") -> Page:
    return open_page(size, locale="es-ES", extra_http_headers={"Accept-Language": "es-ES,es"})


def assert_spanish(
    page: Page, english: tuple[str, ...], *data: str, ignore: str | None = None
) -> None:
    """lang="es" and none of the `english` interface words (whole words, any case) on the
    page, once code (`<code>`, `<pre>`), the strings in `data` (names: the school's own
    words, as whole words) and the text matching the `ignore` pattern are removed."""
    expect(page.locator("html")).to_have_attribute("lang", "es")
    # Code is in no language: column names, audit actions, a record's JSON.
    text = page.evaluate(
        """() => { const body = document.body.cloneNode(true);
                   body.querySelectorAll("code, pre, kbd, samp").forEach(e => e.remove());
                   document.documentElement.appendChild(body);
                   const text = body.innerText; body.remove(); return text; }"""
    )
    text += " " + page.title()
    for value in sorted(data, key=len, reverse=True):  # "Room 101 kiosk" before "101"
        text = re.sub(rf"(?<!\w){re.escape(value)}(?!\w)", " ", text)
    if ignore:
        text = re.sub(ignore, " ", text)
    left = [w for w in english if re.search(rf"\b{re.escape(w)}\b", text, re.IGNORECASE)]
    assert not left, f"English on {page.url}: {left}\n{text[:1500]}"


def stream_open(page: Page) -> None:
    """The page's live push stream is open (shared/static/js/live.js)."""
    expect(page.locator("html")).to_have_attribute("data-live-stream", "open")


def pushes(page: Page, region: str | None = None) -> int:
    """How many region refreshes the page's live push stream asked for so far (of the
    region with this id, or of all): each one announced a version newer than the region
    showed, before any poll had shown it."""
    if region is not None:
        return int(page.evaluate("(id) => (window.passlineLivePushes || {})[id] || 0", region))
    return int(page.evaluate("document.documentElement.getAttribute('data-live-pushes') || 0"))


def scanned_by_camera(page: Page, timeout: float) -> list:
    """[the text the camera scanner read, how many cameras it opened], as the pages' init
    scripts keep them in sessionStorage; on a timeout, the camera's state says why."""
    try:
        return page.wait_for_function(
            "() => sessionStorage.getItem('scanned')"
            " && [sessionStorage.getItem('scanned'), sessionStorage.getItem('cameras-opened')]",
            timeout=timeout,
        ).json_value()
    except PlaywrightError as error:
        raise AssertionError(f"{error}\ncamera: {page.evaluate(CAMERA_STATE)}") from None


#: What the page's camera scanner is doing: its video, the camera's tracks, what it says.
CAMERA_STATE = """() => {
  const video = document.querySelector("video.scanner-video");
  const tracks = video && video.srcObject ? video.srcObject.getVideoTracks() : [];
  return {
    video: video && {readyState: video.readyState, paused: video.paused, time: video.currentTime},
    tracks: tracks.map((track) => track.readyState),
    opened: sessionStorage.getItem("cameras-opened"),
    status: (document.querySelector(".scanner-status") || {}).textContent,
  };
}"""

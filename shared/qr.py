"""QR codes: the one renderer, as a module matrix (for PDFs, tests) and as inline SVG.

The hall pass screens, the pairing page and the car line's hang tags (on screen and in
the PDF) all draw their codes from `qr_matrix`, so every code passline shows has the
same error correction and quiet zone. The SVG is one path of dark runs over a white
square: small, no image files, nothing from another origin, sized by CSS through its
viewBox. Codes carry opaque tokens or URLs, never personal data.
"""

from __future__ import annotations

import qrcode
from flask_babel import gettext as _
from markupsafe import Markup, escape

#: White modules around the code (scanners need a quiet zone to find it).
QUIET_ZONE = 2


def qr_matrix(data: str) -> list[list[bool]]:
    """The QR code's modules (True = dark) for `data`, without the quiet zone."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
    code.add_data(data)
    code.make(fit=True)
    return code.get_matrix()


def dark_runs(row: list[bool]) -> list[tuple[int, int]]:
    """(start, length) of each run of dark modules in one row of the matrix."""
    runs, c = [], 0
    while c < len(row):
        if not row[c]:
            c += 1
            continue
        start = c
        while c < len(row) and row[c]:
            c += 1
        runs.append((start, c - start))
    return runs


def qr_svg(data: str) -> Markup:
    """An inline <svg class="qr-code"> of `data`: one path, a white quiet zone, no size set."""
    matrix = qr_matrix(data)
    size = len(matrix) + 2 * QUIET_ZONE
    path = "".join(
        f"M{start},{r}h{length}v1h-{length}z"
        for r, row in enumerate(matrix)
        for start, length in dark_runs(row)
    )
    label = escape(_("QR code"))
    return Markup(  # noqa: S704 - numbers and the escaped label only
        f'<svg class="qr-code" viewBox="-{QUIET_ZONE} -{QUIET_ZONE} {size} {size}" '
        f'xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{label}" '
        f'shape-rendering="crispEdges"><rect x="-{QUIET_ZONE}" y="-{QUIET_ZONE}" '
        f'width="{size}" height="{size}" fill="#fff"/><path d="{path}" fill="#000"/></svg>'
    )

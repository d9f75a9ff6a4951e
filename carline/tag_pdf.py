"""Hang tags as a PDF (four per US letter page), with fpdf2 and an embedded Unicode font.

(The document, the QR drawing and the line fitting serve the letters home too,
carline/letter_pdf.py.)

Each tag shows the school name, the tag number in large type and a QR code of the
tag's opaque token (the exact text the curb scanner reads), drawn as filled squares
from `shared.qr`'s matrix (the same code the print page shows as SVG).
No student names, ever.

The school's name is printed in DejaVu Sans (shipped in shared/fonts under its own
licence, embedded as a subset), shaped by HarfBuzz, so every script prints as written:
"Trường Tiểu học Lê Lợi", Cyrillic, and Arabic joined and right to left (the old
hand-written writer had only Helvetica's cp1252 and printed "Tr??ng Ti?u h?c Lê L?i").
DejaVu has no Chinese, Japanese or Korean: a name with a character it lacks brings in
Droid Sans Fallback (`cover`) as fpdf2's fallback font. Only then: reading its 3 MB
costs a third of a second, and a document that never needs it stays as small as before.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from flask_babel import gettext as _
from fpdf import FPDF

from carline.families import TAGS_PER_PAGE
from shared.qr import dark_runs, qr_matrix

__all__ = ["FONT", "TAGS_PER_PAGE", "cover", "draw_qr", "fit_line", "new_document", "tags_pdf"]

FONTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "shared", "fonts")
FONT = "DejaVu"
FALLBACK_FONT = "DroidSansFallback"
PAGE_WIDTH, PAGE_HEIGHT = 612, 792  # US letter, in points
MARGIN = 36
COLUMNS, ROWS = 2, TAGS_PER_PAGE // 2
CELL_WIDTH = (PAGE_WIDTH - 2 * MARGIN) / COLUMNS
CELL_HEIGHT = (PAGE_HEIGHT - 2 * MARGIN) / ROWS
QR_SIZE = 170
MAX_NUMBER_SIZE = 110
NAME_SIZE = 12
INSET = 18


def new_document(kind: type[FPDF] = FPDF) -> FPDF:
    """A US letter document (points, no margins) with DejaVu Sans and its bold."""
    pdf = kind(unit="pt", format="letter")
    pdf.set_auto_page_break(False)
    pdf.set_margins(0, 0, 0)
    pdf.set_creator("passline")
    pdf.add_font(FONT, "", os.path.join(FONTS, "DejaVuSans.ttf"))
    pdf.add_font(FONT, "B", os.path.join(FONTS, "DejaVuSans-Bold.ttf"))
    return pdf


def cover(pdf: FPDF, text: str) -> None:
    """Make sure `pdf` can print every character of `text`: the first text with one that
    DejaVu Sans lacks (Chinese, Japanese, Korean) adds the fallback font to the document."""
    if FALLBACK_FONT.lower() in pdf.fonts:
        return
    known = pdf.fonts[FONT.lower()].cmap
    if all(ord(ch) in known for ch in text if not ch.isspace()):
        return
    pdf.add_font(FALLBACK_FONT, "", os.path.join(FONTS, "DroidSansFallback.ttf"))
    pdf.set_fallback_fonts([FALLBACK_FONT], exact_match=False)  # bold names too


def fit_line(pdf: FPDF, text: str, width: float) -> str:
    """`text` on one line of `width`, cut with an ellipsis when it is longer."""
    text = " ".join(text.split())
    if pdf.get_string_width(text) <= width:
        return text
    while text and pdf.get_string_width(text + "…") > width:
        text = text[:-1]
    return text.rstrip() + "…"


def draw_qr(pdf: FPDF, token: str, x: float, y: float, size: float) -> None:
    """Filled rectangles for the dark modules: each horizontal run, grown down over the
    rows below that have the very same run (fewer, taller rectangles draw faster)."""
    matrix = qr_matrix(token)
    module = size / len(matrix)
    runs = [set(dark_runs(row)) for row in matrix]
    for r, row_runs in enumerate(runs):
        for start, length in sorted(row_runs):
            if r > 0 and (start, length) in runs[r - 1]:
                continue  # drawn with the row above
            height = 1
            while r + height < len(runs) and (start, length) in runs[r + height]:
                height += 1
            pdf.rect(
                x + start * module, y + r * module, length * module, height * module, style="F"
            )


def _tag(pdf: FPDF, school_name: str, number: int, token: str, x0: float, y0: float) -> None:
    """One tag in the cell whose top-left corner is (x0, y0); the name fits already."""
    pdf.set_draw_color(153)
    pdf.set_line_width(0.75)
    with pdf.local_context():
        pdf.set_dash_pattern(dash=6, gap=4)
        pdf.rect(x0 + 4, y0 + 4, CELL_WIDTH - 8, CELL_HEIGHT - 8, style="D")
    pdf.set_text_color(0)
    pdf.set_fill_color(0)
    width = CELL_WIDTH - 2 * INSET
    pdf.set_font(FONT, "", NAME_SIZE)
    pdf.set_xy(x0 + INSET, y0 + 16)
    pdf.set_text_shaping(True)  # the name: Arabic joined and right to left, marks placed
    pdf.cell(width, NAME_SIZE * 1.2, school_name, align="L")
    pdf.set_text_shaping(False)  # the label and the digits need none (and it costs time)
    pdf.set_font(FONT, "", 9)
    pdf.set_xy(x0 + INSET, y0 + 32)
    pdf.cell(width, 11, _("CAR LINE TAG"), align="L")
    digits = str(number)
    size = MAX_NUMBER_SIZE
    pdf.set_font(FONT, "B", size)
    while size > 10 and pdf.get_string_width(digits) > CELL_WIDTH - 32:
        size -= 2
        pdf.set_font(FONT, "B", size)
    pdf.set_xy(x0, y0 + 52)
    pdf.cell(CELL_WIDTH, size, digits, align="C")
    draw_qr(pdf, token, x0 + (CELL_WIDTH - QR_SIZE) / 2, y0 + CELL_HEIGHT - 24 - QR_SIZE, QR_SIZE)


def tags_pdf(school_name: str, tags: Iterable[tuple[int, str]]) -> bytes:
    """A PDF of hang tags for (tag number, token) pairs, four per letter page."""
    tags = list(tags)
    pdf = new_document()
    cover(pdf, school_name)
    pdf.set_font(FONT, "", NAME_SIZE)
    pdf.set_text_shaping(True)
    school_name = fit_line(pdf, school_name, CELL_WIDTH - 2 * INSET)  # once: the same on every tag
    pdf.set_text_shaping(False)
    for start in range(0, max(len(tags), 1), TAGS_PER_PAGE):
        pdf.add_page()
        for i, (number, token) in enumerate(tags[start : start + TAGS_PER_PAGE]):
            column, row = i % COLUMNS, i // COLUMNS
            _tag(
                pdf,
                school_name,
                number,
                token,
                MARGIN + column * CELL_WIDTH,
                MARGIN + row * CELL_HEIGHT,
            )
    return bytes(pdf.output())

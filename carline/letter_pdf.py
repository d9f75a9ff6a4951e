"""Letters home with a family code: one US letter page per guardian, in their language.

For families without email (shared/family_codes.py): the letter says what the family
page is for, shows a QR code that opens the code sign-in page with the code filled in,
the page's address and the code to type, and asks to keep it private. Each letter is
written in its guardian's language (`force_locale`), so one PDF for a class may hold
English and Spanish pages side by side.

It names the guardian and the family's tag number, never a student: a letter lost on
the bus tells its finder nothing about a child, and its code is revoked by the office.
Drawn with the hang tags' machinery (carline/tag_pdf.py: fpdf2, DejaVu Sans embedded,
HarfBuzz shaping for names in any script, the QR as filled squares).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from flask_babel import force_locale
from flask_babel import gettext as _
from fpdf import FPDF

from carline.letters import Letter
from carline.tag_pdf import FONT, cover, draw_qr, fit_line, new_document
from shared.family_codes import code_page_url, shown
from shared.formats import format_date

PAGE_WIDTH = 612  # US letter, in points
MARGIN = 60
WIDTH = PAGE_WIDTH - 2 * MARGIN
QR_SIZE = 190
TEXT_SIZE = 12




def _shaped(pdf: FPDF, size: float, text: str, style: str = "") -> None:
    """One line of a name (any script: shaped, right to left where it is)."""
    cover(pdf, text)
    pdf.set_font(FONT, style, size)
    pdf.set_text_shaping(True)
    pdf.cell(WIDTH, size * 1.3, fit_line(pdf, text, WIDTH), new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_shaping(False)


class LetterPDF(FPDF):
    """The letters' document, which remembers each paragraph's lines by (text, size,
    style): the letters of one language say the same words, and breaking them into lines
    was half of a letter's cost."""

    lines: dict[tuple[str, float, str], list[str]]


def _paragraph(pdf: FPDF, text: str, size: float = TEXT_SIZE, style: str = "") -> None:
    """A paragraph, wrapped to the page's width (broken once per PDF, then reused)."""
    pdf.set_font(FONT, style, size)
    height = size * 1.35
    key = (text, size, style)
    if key not in pdf.lines:
        pdf.lines[key] = pdf.multi_cell(WIDTH, height, text, dry_run=True, output="LINES")
    for line in pdf.lines[key]:
        pdf.cell(WIDTH, height, line, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(size * 0.6)


def _letter(pdf: FPDF, school_name: str, office_phone: str, letter: Letter, day: date) -> None:
    pdf.add_page()
    pdf.set_text_color(0)
    pdf.set_fill_color(0)
    pdf.set_xy(MARGIN, MARGIN)
    _shaped(pdf, 15, school_name, "B")
    pdf.set_font(FONT, "", 10)
    pdf.cell(WIDTH, 14, format_date(day), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(14)
    _shaped(pdf, TEXT_SIZE, _("For %(name)s (family tag %(number)d)", name=letter.guardian_name,
                               number=letter.tag_number))  # fmt: skip
    pdf.ln(6)
    _paragraph(pdf, _("Your family page"), 22, "B")
    _paragraph(
        pdf,
        _(
            "On your phone, the school's family page shows how your children go home"
            " today. There you can change a day's plan before the cutoff, report an"
            ' absence, and say "I\'m here" in the pickup line. No app, no password,'
            " no cost."
        ),
    )
    _paragraph(pdf, _("1. Open your phone's camera and point it at this code:"), style="B")
    top = pdf.get_y()
    draw_qr(pdf, code_page_url(letter.code), MARGIN, top, QR_SIZE)
    pdf.set_y(top + QR_SIZE + 16)
    _paragraph(pdf, _("2. Or open this address and type your family code:"), style="B")
    pdf.set_font(FONT, "", TEXT_SIZE)
    pdf.cell(WIDTH, 18, code_page_url(), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "B", 30)
    pdf.cell(WIDTH, 44, shown(letter.code), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(10)
    _paragraph(
        pdf,
        _(
            "Your phone then stays signed in. Keep this letter private: anyone who has"
            " the code can see and change your children's pickup."
        ),
    )
    if office_phone:
        lost = _(
            "If you lose it, call the office at %(phone)s for a new letter: this code"
            " then stops working.",
            phone=office_phone,
        )
    else:
        lost = _("If you lose it, ask the office for a new letter: this code then stops working.")
    _paragraph(pdf, lost)


def letters_pdf(school_name: str, office_phone: str, letters: Iterable[Letter], day: date) -> bytes:
    """A PDF of letters home, one page each, each in its guardian's language."""
    pdf = new_document(LetterPDF)
    pdf.lines = {}
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    for letter in letters:
        with force_locale(letter.language):
            _letter(pdf, school_name, office_phone, letter, day)
    return bytes(pdf.output())

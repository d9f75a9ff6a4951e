"""The shared CSV helpers: formula-safe cells, CSV text and the download response."""

import csv
import io

from shared.csvfile import FORMULA_STARTS, csv_download, csv_text, safe_cell


def test_a_cell_never_starts_a_formula():
    for start in FORMULA_STARTS:
        assert safe_cell(start + "SUM(A1)") == "'" + start + "SUM(A1)"
    assert safe_cell(-3) == "'-3"
    assert safe_cell(None) == "" and safe_cell("") == ""
    assert safe_cell("Ana =1") == "Ana =1" and safe_cell(7) == "7"
    assert safe_cell("'=1") == "'=1"  # already safe: unchanged


def test_csv_text_makes_every_cell_safe_with_crlf_line_ends():
    text = csv_text([["name", "note"], ["Zoë", "=HYPERLINK(1)"], [None, 'say "hi", then go']])
    assert text.endswith("\r\n") and text.count("\r\n") == 3
    assert list(csv.reader(io.StringIO(text))) == [
        ["name", "note"],
        ["Zoë", "'=HYPERLINK(1)"],
        ["", 'say "hi", then go'],
    ]


def test_csv_text_writes_through_the_given_cell_function():
    assert csv_text([[1.5, "=x"]], cell=lambda v: f"<{v}>") == "<1.5>,<=x>\r\n"


def test_csv_download_is_an_attachment_with_a_byte_order_mark(app):
    with app.test_request_context():
        response = csv_download("dismissal-2026-05-29.csv", "a,b\r\n")
    assert response.mimetype == "text/csv"
    assert response.get_data(as_text=True) == "\ufeffa,b\r\n"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="dismissal-2026-05-29.csv"'
    )
    assert response.headers["Cache-Control"] == "no-store"

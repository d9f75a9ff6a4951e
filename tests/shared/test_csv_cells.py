"""The one CSV cell guard: formulas defused, and the reports' number and flag formats."""

from functools import partial

from shared.csvfile import csv_text, safe_cell


def test_numbers_with_decimals_are_numbers_not_formulas():
    assert safe_cell(1.25, decimals=1) == "1.2" and safe_cell(2.0, decimals=2) == "2.00"
    assert safe_cell(-1.5, decimals=1) == "-1.5"
    assert safe_cell(-1.5) == "'-1.5"  # without a format: guarded as text
    assert safe_cell(3, decimals=2) == "3"  # only floats are formatted


def test_flags_as_yes_no_when_asked():
    assert safe_cell(True, yes_no=True) == "yes" and safe_cell(False, yes_no=True) == "no"
    assert safe_cell(True) == "True"


def test_formulas_are_still_defused_with_formats():
    cell = partial(safe_cell, decimals=1, yes_no=True)
    assert csv_text([["=1+1", 2.25, True, None]], cell) == "'=1+1,2.2,yes,\r\n"


def test_yes_and_no_cells_are_in_the_readers_language(app):
    from flask_babel import refresh

    with app.test_request_context("/", headers={"Accept-Language": "es"}):
        refresh()
        assert safe_cell(True, yes_no=True) == "sí" and safe_cell(False, yes_no=True) == "no"

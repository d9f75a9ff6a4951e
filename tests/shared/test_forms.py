"""Form parsing: typed values out of form fields, errors naming the field (400, never 500)."""

from datetime import date, time

import pytest

from shared.errors import InvalidInput
from shared.forms import (
    MAX_ID,
    parse_bool,
    parse_clock,
    parse_date,
    parse_day,
    parse_id,
    parse_int,
    parse_int_list,
)


def _refusal(call) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        call()
    assert caught.value.status_code == 400
    return caught.value


def test_parse_int_reads_whole_numbers_in_range():
    assert parse_int(" 15 ", field="capacity", low=1, high=500) == 15
    assert parse_int("007", field="capacity", low=1, high=500) == 7
    assert parse_int(12, field="capacity", low=1, high=500) == 12
    assert parse_int("", field="capacity", low=1, high=500, blank_ok=True) is None
    assert parse_int(None, field="capacity", low=1, high=500, blank_ok=True) is None


@pytest.mark.parametrize("raw", ["0", "501", "-3", "1.5", "1e3", "١٢", "abc", "9" * 5000])
def test_parse_int_refuses_naming_the_field(raw):
    error = _refusal(lambda: parse_int(raw, field="capacity", label="Capacity", low=1, high=500))
    assert error.field == "capacity"
    assert error.message == "Capacity: enter a whole number from 1 to 500."


def test_parse_int_blank_is_refused_unless_allowed_and_label_defaults_to_the_field():
    error = _refusal(lambda: parse_int("  ", field="daily_limit", low=0, high=50))
    assert error.message == "Daily limit: enter a number."
    assert error.field == "daily_limit"


def test_parse_bool():
    assert [parse_bool(v) for v in ("1", "on", "Yes", " true ")] == [True] * 4
    assert [parse_bool(v) for v in ("", "0", "off", None, 1)] == [False] * 5


def test_parse_date():
    assert parse_date("2026-05-29", field="ends_on") == date(2026, 5, 29)
    assert parse_date("", field="ends_on") is None
    assert parse_date(None, field="ends_on", default=date(2026, 1, 1)) == date(2026, 1, 1)
    for raw in ("29/05/2026", "2026-02-30", "yesterday", "2026-05-29" * 100):
        error = _refusal(lambda raw=raw: parse_date(raw, field="ends_on", label="End date"))
        assert error.message == "End date: enter a date like 2026-05-29."
        assert error.field == "ends_on"
    error = _refusal(lambda: parse_date(" ", field="day", required=True))
    assert error.message == "Day: enter a date like 2026-05-29."


def test_parse_day_defaults_to_the_given_today():
    today = date(2026, 9, 1)
    assert parse_day("", today=today) == today
    assert parse_day("2026-09-04", today=today) == date(2026, 9, 4)
    assert _refusal(lambda: parse_day("4 Sept", today=today)).field == "day"


def test_parse_clock():
    assert parse_clock("14:30", field="cutoff") == time(14, 30)
    assert parse_clock(" 8:05 ", field="cutoff") == time(8, 5)
    assert parse_clock("", field="cutoff") is None
    for raw in ("24:00", "14:60", "2pm", "14:30:00", "1430"):
        error = _refusal(
            lambda raw=raw: parse_clock(raw, field="early_pickup", label="Early pickup")
        )
        assert error.message == "Early pickup: enter a time as HH:MM, for example 14:30."
        assert error.field == "early_pickup"
    assert _refusal(lambda: parse_clock("", field="cutoff", required=True)).field == "cutoff"


def test_parse_id():
    assert parse_id("42", field="student") == 42
    assert parse_id("", field="student") is None
    for raw in ("0", "-1", "abc", str(MAX_ID + 1), "0" * 20 + "9" * 20):
        error = _refusal(lambda raw=raw: parse_id(raw, field="student"))
        assert error.message == "Student: choose one from the list."


def test_parse_int_list_keeps_order_drops_blanks_and_repeats():
    assert parse_int_list(["3", "", "1", "3", " 2 "], field="student_ids") == [3, 1, 2]
    assert parse_int_list(["0", "6"], field="weekday", low=0, high=6) == [0, 6]
    error = _refusal(lambda: parse_int_list(["1", "x"], field="student_ids", label="Students"))
    assert error.message == "Students: choose from the list shown."
    assert error.field == "student_ids"
    assert _refusal(lambda: parse_int_list(["7"], field="weekday", low=0, high=6))


def test_a_form_error_speaks_the_language_of_the_page(app):
    """A Spanish page's refusal reads all in Spanish, the field's label and the rule."""
    from flask_babel import refresh

    with app.test_request_context("/", headers={"Accept-Language": "es"}):
        refresh()
        with pytest.raises(InvalidInput, match=r"^Carriles: escriba un número\.$"):
            parse_int("", field="lanes", label="Carriles")
        with pytest.raises(InvalidInput, match=r"^Carriles: escriba un número entero del 1 al 9"):
            parse_int("12", field="lanes", label="Carriles", low=1, high=9)
    with app.test_request_context("/", headers={"Accept-Language": "en"}):
        refresh()  # the test's app context outlives one request: forget the locale
        with pytest.raises(InvalidInput, match=r"^Lanes: enter a number\.$"):
            parse_int("", field="lanes", label="Lanes")

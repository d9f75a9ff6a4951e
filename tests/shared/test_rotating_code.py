"""The rotating code's rule (shared/rotating_code.py): one step a minute, the current and
the previous step accepted, nothing older, and only for its own kind (salt)."""

from datetime import UTC, datetime, timedelta

import pytest

from shared.rotating_code import (
    STEP_SECONDS,
    CodeExpired,
    CodeInvalid,
    code_step,
    read_rotating_token,
    rotating_token,
)

#: The first second of a step.
EDGE = datetime.fromtimestamp(code_step(datetime(2026, 12, 7, 18, tzinfo=UTC)) * 60, UTC)


def test_a_code_works_in_its_minute_and_the_next_and_then_stops(app):
    assert STEP_SECONDS == 60
    token = rotating_token("test.kind", [7, 8], EDGE)
    assert read_rotating_token("test.kind", token, EDGE) == [7, 8]
    last_second = EDGE + timedelta(seconds=119)
    assert read_rotating_token("test.kind", token, last_second) == [7, 8]
    with pytest.raises(CodeExpired):
        read_rotating_token("test.kind", token, EDGE + timedelta(seconds=120))
    with pytest.raises(CodeExpired):  # nor one from the future (a clock set ahead)
        read_rotating_token("test.kind", token, EDGE - timedelta(seconds=1))


def test_a_code_of_another_kind_or_forged_is_invalid(app):
    token = rotating_token("test.kind", [7], EDGE)
    with pytest.raises(CodeInvalid):
        read_rotating_token("other.kind", token, EDGE)
    with pytest.raises(CodeInvalid):
        read_rotating_token("test.kind", token[:-2] + ("AA" if token[-2:] != "AA" else "BB"), EDGE)
    with pytest.raises(CodeInvalid):
        read_rotating_token("test.kind", "not-a-token", EDGE)

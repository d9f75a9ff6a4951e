"""The hall pass settings forms read into typed values: views read, services decide.

Each reader takes the posted form (`request.form`, a MultiDict) and returns what the settings
service takes, or raises `InvalidInput` naming the field, before anything is written.
Only the form's shape is checked here (numbers in range, a choice among the options);
what needs the school's data (a name already taken, a room of this school, a period of
the bell schedule) is the service's rule.
"""

from __future__ import annotations

from hallpass.destinations import MAX_CAPACITY, MAX_TIME_LIMIT, DestinationValues
from hallpass.policy import (
    MAX_BUILDING_CAP,
    MAX_COOLDOWN,
    MAX_DAILY_LIMIT,
    MAX_PASS_MINUTES,
    MAX_WINDOW_MINUTES,
    PolicyValues,
)
from shared.errors import InvalidInput
from shared.forms import MAX_ID, parse_bool, parse_date, parse_int


def _minutes(form, field: str, label: str, high: int) -> int:
    """Minutes where blank means 0."""
    return parse_int(form.get(field) or "0", field=field, label=label, low=0, high=high)


def destination_values(form) -> DestinationValues:
    """A destination's settings from its form."""
    approval = (form.get("approval") or "").strip()
    if approval not in ("self", "approval"):
        raise InvalidInput(
            "Choose whether students may start a pass themselves or need approval.",
            field="approval",
        )
    return DestinationValues(
        name=form.get("name") or "",
        room_id=parse_int(
            form.get("room_id"), field="room_id", label="Room", low=1, high=MAX_ID, blank_ok=True
        ),
        time_limit_minutes=parse_int(
            form.get("time_limit_minutes"),
            field="time_limit_minutes",
            label="Time limit",
            low=1,
            high=MAX_TIME_LIMIT,
        ),
        capacity=parse_int(
            form.get("capacity"),
            field="capacity",
            label="Capacity",
            low=1,
            high=MAX_CAPACITY,
            blank_ok=True,
        ),
        self_start=approval == "self",
        counts_toward_limit=parse_bool(form.get("counts_toward_limit")),
        is_nurse=parse_bool(form.get("is_nurse")),
        active=parse_bool(form.get("active")),
    )


def policy_values(form) -> PolicyValues:
    """The school's pass rules from the rules form (blank minutes are 0, blank limits none)."""
    return PolicyValues(
        daily_limit=parse_int(
            form.get("daily_limit"),
            field="daily_limit",
            label="Passes per day",
            low=1,
            high=MAX_DAILY_LIMIT,
            blank_ok=True,
        ),
        cooldown_minutes=_minutes(form, "cooldown_minutes", "Time between passes", MAX_COOLDOWN),
        building_cap=parse_int(
            form.get("building_cap"),
            field="building_cap",
            label="Building-wide limit",
            low=1,
            high=MAX_BUILDING_CAP,
            blank_ok=True,
        ),
        no_pass_first_minutes=_minutes(
            form, "no_pass_first_minutes", "No passes in the first minutes", MAX_WINDOW_MINUTES
        ),
        no_pass_last_minutes=_minutes(
            form, "no_pass_last_minutes", "No passes in the last minutes", MAX_WINDOW_MINUTES
        ),
        no_pass_periods=form.getlist("no_pass_periods"),
        max_pass_minutes=parse_int(
            form.get("max_pass_minutes"),
            field="max_pass_minutes",
            label="End passes automatically after",
            low=1,
            high=MAX_PASS_MINUTES,
            blank_ok=True,
        ),
    )


def student_limit_values(form) -> dict:
    """A student's own limit from the limits form: `student_id`, `daily_limit` (None for
    exempt) and `note`, as `student_rules.set_student_limit` takes them."""
    student_id = parse_int(
        form.get("student_id"), field="student_id", label="Student", low=1, high=MAX_ID
    )
    kind = (form.get("kind") or "").strip()
    if kind == "exempt":
        daily_limit = None
    elif kind == "limit":
        daily_limit = parse_int(
            form.get("daily_limit"),
            field="daily_limit",
            label="Passes per day",
            low=0,
            high=MAX_DAILY_LIMIT,
        )
    else:
        raise InvalidInput("Choose exempt or a different daily limit.", field="kind")
    return {"student_id": student_id, "daily_limit": daily_limit, "note": form.get("note") or ""}


def keep_apart_values(form) -> dict:
    """A new keep-apart group's `note` and `ends_on` from its form."""
    return {
        "note": form.get("note") or "",
        "ends_on": parse_date(form.get("ends_on"), field="ends_on", label="End date"),
    }

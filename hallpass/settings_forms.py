"""The hall pass settings forms read into typed values: views read, services decide.

Each reader takes the posted form (`request.form`, a MultiDict) and returns what the settings
service takes, or raises `InvalidInput` naming the field, before anything is written.
Only the form's shape is checked here (numbers in range, a choice among the options);
what needs the school's data (a name already taken, a room of this school, a period of
the bell schedule) is the service's rule.
"""

from __future__ import annotations

from flask_babel import gettext as _

from hallpass.destinations import MAX_CAPACITY, MAX_TIME_LIMIT, DestinationValues
from hallpass.policy import (
    MAX_BUILDING_CAP,
    MAX_COOLDOWN,
    MAX_DAILY_LIMIT,
    MAX_PASS_MINUTES,
    MAX_ROOM_CAP,
    MAX_WINDOW_MINUTES,
    PolicyValues,
)
from shared.errors import InvalidInput
from shared.forms import MAX_ID, parse_bool, parse_date, parse_int


def _number(form, field: str, label: str, low: int, high: int, *, blank_ok: bool = False):
    """The whole number posted in `field` (None when blank and `blank_ok`)."""
    return parse_int(
        form.get(field), field=field, label=label, low=low, high=high, blank_ok=blank_ok
    )


def _minutes(form, field: str, label: str, high: int) -> int:
    """Minutes where blank means 0."""
    return parse_int(form.get(field) or "0", field=field, label=label, low=0, high=high)


def destination_values(form) -> DestinationValues:
    """A destination's settings from its form."""
    approval = (form.get("approval") or "").strip()
    if approval not in ("self", "approval"):
        raise InvalidInput(
            _("Choose whether students may start a pass themselves or need approval."),
            field="approval",
        )
    return DestinationValues(
        name=form.get("name") or "",
        room_id=_number(form, "room_id", _("Room"), 1, MAX_ID, blank_ok=True),
        time_limit_minutes=_number(form, "time_limit_minutes", _("Time limit"), 1, MAX_TIME_LIMIT),
        capacity=_number(form, "capacity", _("Capacity"), 1, MAX_CAPACITY, blank_ok=True),
        self_start=approval == "self",
        counts_toward_limit=parse_bool(form.get("counts_toward_limit")),
        is_nurse=parse_bool(form.get("is_nurse")),
        appointments_skip_limits=parse_bool(form.get("appointments_skip_limits")),
        active=parse_bool(form.get("active")),
    )


def policy_values(form) -> PolicyValues:
    """The school's pass rules from the rules form (blank minutes are 0, blank limits none)."""
    return PolicyValues(
        daily_limit=_number(
            form, "daily_limit", _("Passes per day"), 1, MAX_DAILY_LIMIT, blank_ok=True
        ),
        cooldown_minutes=_minutes(form, "cooldown_minutes", _("Time between passes"), MAX_COOLDOWN),
        building_cap=_number(
            form, "building_cap", _("Building-wide limit"), 1, MAX_BUILDING_CAP, blank_ok=True
        ),
        room_cap=_number(
            form, "room_cap", _("Limit per classroom"), 1, MAX_ROOM_CAP, blank_ok=True
        ),
        no_pass_first_minutes=_minutes(
            form, "no_pass_first_minutes", _("No passes in the first minutes"), MAX_WINDOW_MINUTES
        ),
        no_pass_last_minutes=_minutes(
            form, "no_pass_last_minutes", _("No passes in the last minutes"), MAX_WINDOW_MINUTES
        ),
        no_pass_periods=form.getlist("no_pass_periods"),
        max_pass_minutes=_number(
            form,
            "max_pass_minutes",
            _("End passes automatically after"),
            1,
            MAX_PASS_MINUTES,
            blank_ok=True,
        ),
    )


def room_cap_values(form) -> dict:
    """A classroom's own limit from the rules page: `room_id` and `cap` (None: blank, the
    school's limit again), as `policy.set_room_cap` takes them."""
    room_id = _number(form, "room_id", _("Classroom"), 1, MAX_ID)
    cap = _number(form, "pass_cap", _("Its limit"), 1, MAX_ROOM_CAP, blank_ok=True)
    return {"room_id": room_id, "cap": cap}


def student_limit_values(form) -> dict:
    """A student's own limit from the limits form: `student_id`, `daily_limit` (None for
    exempt) and `note`, as `student_rules.set_student_limit` takes them."""
    student_id = _number(form, "student_id", _("Student"), 1, MAX_ID)
    kind = (form.get("kind") or "").strip()
    if kind == "exempt":
        daily_limit = None
    elif kind == "limit":
        daily_limit = _number(form, "daily_limit", _("Passes per day"), 0, MAX_DAILY_LIMIT)
    else:
        raise InvalidInput(_("Choose exempt or a different daily limit."), field="kind")
    return {"student_id": student_id, "daily_limit": daily_limit, "note": form.get("note") or ""}


def keep_apart_values(form) -> dict:
    """A new keep-apart group's `note` and `ends_on` from its form."""
    return {
        "note": form.get("note") or "",
        "ends_on": parse_date(form.get("ends_on"), field="ends_on", label=_("End date")),
    }

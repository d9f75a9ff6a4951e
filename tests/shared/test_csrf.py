"""CSRF: every state-changing route refuses a request without a valid token; GET changes nothing.

The routes come from the app's URL map, so a new POST route is covered the day it is added.
Each is called by a caller its access rules admit (a signed-in staff member with every role,
or a paired device of the right kind), with CSRF protection on: no token, and a token from
another session, must both be refused with 400 and write nothing.
"""

import pytest
from sqlalchemy import func, select

from shared.access import DEVICE_COOKIE, PUBLIC, is_static_file, secret_digest
from shared.extensions import db as _db
from shared.models import Device
from tests.helpers import PASSWORD, csrf_token_from

STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
DEVICE_KINDS = (
    ("kiosk", None),
    ("display", "hallway"),
    ("display", "dismissal"),
    ("classroom-display", None),
    ("scanner", "dismissal"),
)


def writing_routes(app):
    return sorted(
        (rule.rule, rule.endpoint, method, rule)
        for rule in app.url_map.iter_rules()
        for method in (rule.methods or set()) & STATE_CHANGING
    )


def counts() -> dict[str, int]:
    _db.session.rollback()
    return {
        t.name: _db.session.scalar(select(func.count()).select_from(t))
        for t in _db.metadata.sorted_tables
    }


@pytest.fixture
def callers(csrf_app, db, school, make_user, make_room):
    """A staff browser with every role and one browser per paired device kind, CSRF on."""
    room = make_room(school, "101")
    user = make_user(school, "admin", "office", "teacher", "staff")
    staff = csrf_app.test_client()
    token = csrf_token_from(staff.get("/login").get_data(as_text=True))
    staff.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token})
    found = {"staff": staff, "anonymous": csrf_app.test_client()}
    for kind, purpose in DEVICE_KINDS:
        secret = f"csrf-{kind}-{purpose}"
        db.session.add(
            Device(
                school_id=school.id,
                kind=kind,
                purpose=purpose,
                room_id=room.id if kind in ("kiosk", "classroom-display") else None,
                label=kind,
                secret_hash=secret_digest(secret),
            )
        )
        browser = csrf_app.test_client()
        browser.set_cookie(DEVICE_COOKIE, secret, domain="passline.test")
        found[kind] = browser
    db.session.commit()
    return found


def caller_for(app, endpoint: str) -> str:
    rules = getattr(app.view_functions[endpoint], "access_rules", frozenset())
    if PUBLIC in rules:
        return "anonymous"
    if rules - {r for r in rules if r.startswith("device:")}:
        return "staff"
    return next(r.split(":", 1)[1] for r in sorted(rules) if r.startswith("device:"))


def url_with_ids(app, rule) -> str:
    values = {
        name: 1 if "Integer" in type(conv).__name__ else "x" * 24
        for name, conv in rule._converters.items()
    }
    with app.test_request_context():
        from flask import url_for

        return url_for(rule.endpoint, **values)


def test_every_state_changing_route_refuses_a_missing_or_foreign_csrf_token(csrf_app, callers):
    other = csrf_app.test_client()
    foreign_token = csrf_token_from(other.get("/login").get_data(as_text=True))
    problems = []
    for path, endpoint, method, rule in writing_routes(csrf_app):
        caller = callers[caller_for(csrf_app, endpoint)]
        url = url_with_ids(csrf_app, rule)
        before = counts()
        for label, data, headers in (
            ("no token", {}, {}),
            ("another session's token", {"csrf_token": foreign_token}, {}),
            ("another session's header", {}, {"X-CSRFToken": foreign_token}),
        ):
            response = caller.open(url, method=method, data=data, headers=headers)
            # The outboxes keep a write refused so: they read the header, in any language.
            expired = response.headers.get("X-Passline-Refusal") == "form-expired"
            if response.status_code != 400 or b"expired" not in response.data or not expired:
                problems.append(f"{method} {path} with {label}: {response.status_code}")
        changed = {t for t, n in counts().items() if n != before[t] and t != "devices"}
        if changed:
            problems.append(f"{method} {path} wrote {changed} without a valid token")
    assert not problems, "\n".join(problems)


def test_there_are_state_changing_routes_to_check(csrf_app):
    assert len(writing_routes(csrf_app)) >= 10


def test_get_routes_change_nothing(app, db, school, make_user, make_room, login, client):
    """Every GET route, called by staff with every role, leaves every table as it was."""
    make_room(school, "101")
    login(make_user(school, "admin", "office", "teacher", "staff"))
    before = counts()
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or set()) or is_static_file(rule.endpoint):
            continue
        client.get(url_with_ids(app, rule))
    after = counts()
    changed = {
        t for t in after if after[t] != before[t] and t not in ("audit_events", "user_sessions")
    }
    assert not changed, changed

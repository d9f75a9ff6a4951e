"""Statuses and kinds are StrEnums; their CHECK constraints are generated from them and
are exactly the constraints the migrations create (no migration needed for the change)."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from flask_migrate import upgrade
from sqlalchemy import CheckConstraint, create_engine, text

from carline.models import CallMode, CallStatus, DismissalMode, QueueStatus
from hallpass.models import (
    OPEN_REQUEST_STATUSES,
    EndedBy,
    HallPass,
    PassSource,
    PassStatus,
    RequestSource,
    RequestStatus,
)
from shared import create_app
from shared.extensions import db
from shared.models import DeviceKind, DisplayPurpose, Role, RoomKind, sql_in


def test_sql_in_lists_the_values_quoted_in_order():
    assert sql_in("status", PassStatus) == "status IN ('active', 'ended')"
    assert sql_in("ended_by", EndedBy, null_ok=True) == (
        "ended_by IS NULL OR ended_by IN ('staff', 'student', 'system', 'sweep')"
    )
    assert sql_in("x", ["a"]) == "x IN ('a')"


def test_members_are_their_strings():
    assert PassStatus.ACTIVE == "active" and f"{RequestStatus.READY}" == "ready"
    assert "walker" in tuple(DismissalMode) and CallMode.CAR == DismissalMode.CAR
    assert {str(s) for s in OPEN_REQUEST_STATUSES} == {"pending", "waiting", "ready"}


@pytest.mark.parametrize(
    ("table", "column", "enum"),
    [
        ("memberships", "role", Role),
        ("rooms", "kind", RoomKind),
        ("devices", "kind", DeviceKind),
        ("devices", "purpose", DisplayPurpose),
        ("pairing_codes", "kind", DeviceKind),
        ("hall_passes", "status", PassStatus),
        ("hall_passes", "source", PassSource),
        ("hall_passes", "ended_by", EndedBy),
        ("pass_requests", "status", RequestStatus),
        ("pass_requests", "source", RequestSource),
        ("dismissal_defaults", "mode", DismissalMode),
        ("dismissal_changes", "mode", DismissalMode),
        ("queue_entries", "status", QueueStatus),
        ("called_students", "mode", CallMode),
        ("called_students", "status", CallStatus),
    ],
)
def test_each_enum_is_its_columns_check_constraint(table, column, enum):
    checks = [
        str(c.sqltext)
        for c in db.metadata.tables[table].constraints
        if isinstance(c, CheckConstraint) and c.name == f"ck_{table}_{column}"
    ]
    values = ", ".join(f"'{v}'" for v in enum)
    assert len(checks) == 1 and checks[0].endswith(f"{column} IN ({values})")


def _check_texts(sql: str) -> set[str]:
    """The CHECK constraint texts in a CREATE TABLE statement, without their parentheses."""
    found, at = set(), 0
    while (start := sql.find("CHECK (", at)) != -1:
        depth, i = 0, start + len("CHECK ")
        for i in range(start + len("CHECK "), len(sql)):
            depth += {"(": 1, ")": -1}.get(sql[i], 0)
            if depth == 0:
                break
        found.add(re.sub(r"\s+", " ", sql[start + len("CHECK (") : i]))
        at = i
    return found


def test_generated_constraints_are_the_ones_the_migrations_create(tmp_path):
    url = f"sqlite:///{tmp_path / 'migrated.sqlite3'}"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "x"})
    with app.app_context():
        upgrade()
        db.engine.dispose()
    engine = create_engine(url)
    with engine.connect() as connection:
        created = dict(
            connection.execute(
                text("SELECT name, sql FROM sqlite_master WHERE type IN ('table', 'index')")
            ).all()
        )
    engine.dispose()
    for table in db.metadata.sorted_tables:
        migrated = _check_texts(created[table.name])
        for constraint in table.constraints:
            if isinstance(constraint, CheckConstraint):
                assert str(constraint.sqltext) in migrated, (table.name, constraint.name)
        for index in table.indexes:  # partial indexes ("one active pass per student")
            where = index.dialect_options["sqlite"].get("where")
            if where is not None:
                assert f"WHERE {where}" in created[index.name], index.name


def test_a_pass_is_due_its_time_limit_after_it_started():
    started = datetime(2026, 5, 4, 14, 0, tzinfo=UTC)
    hall_pass = HallPass(started_at=started, time_limit_minutes=7)
    assert hall_pass.due_at == started + timedelta(minutes=7)
    assert hall_pass.due_at.tzinfo is not None

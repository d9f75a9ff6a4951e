"""The migrations build the schema from nothing, and agree with the models.

Runs against a fresh SQLite file, or a fresh schema in the PostgreSQL database named
by `TEST_DATABASE_URL`, so the shared test database is left alone.
"""

import os
import uuid
from datetime import date, datetime, time

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade
from sqlalchemy import MetaData, Table, create_engine, text

from shared import create_app
from shared.extensions import db


@pytest.fixture
def empty_database_url(tmp_path):
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        yield f"sqlite:///{tmp_path / 'migrations.sqlite3'}"
        return
    schema = f"migrations_{uuid.uuid4().hex[:10]}"
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in url else "?"
    yield f"{url}{separator}options=-csearch_path%3D{schema}"
    with engine.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


def test_upgrade_from_empty_reaches_head_and_matches_the_models(empty_database_url):
    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_database_url, "SECRET_KEY": "x"})
    with app.app_context():
        upgrade()
        script = ScriptDirectory.from_config(app.extensions["migrate"].migrate.get_config())
        with db.engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "render_as_batch": True}
            )
            assert context.get_current_heads() == tuple(script.get_heads())
            differences = compare_metadata(context, db.metadata)
            triggers = set(
                connection.execute(
                    text(
                        "SELECT name FROM sqlite_master WHERE type = 'trigger'"
                        if db.engine.dialect.name == "sqlite"
                        else "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
                    )
                ).scalars()
            )
        assert differences == []
        assert "audit_events_append_only" in triggers
        downgrade(revision="base")
        upgrade()
        db.engine.dispose()


def _insert(connection, table_name: str, **values) -> None:
    """A row in a table as this revision has it: the values given, and any other required
    column filled with a plain value of its type."""
    table = Table(table_name, MetaData(), autoload_with=connection)
    plain = {
        "INTEGER": 1,
        "BOOLEAN": False,
        "DATETIME": datetime(2026, 12, 1, 10),
        "DATE": date(2026, 12, 1),
        "JSON": {},
        "TIME": time(8),
    }
    row = dict(values)
    for column in table.columns:
        if column.name in row or column.nullable or column.primary_key:
            continue
        if column.server_default is not None:
            continue
        row[column.name] = plain.get(str(column.type).split("(")[0], "x")
    connection.execute(table.insert().values(**row))


def test_a_sqlite_table_rebuilt_by_a_migration_keeps_the_rows_that_refer_to_it(tmp_path):
    """SQLite changes a table's constraints by building it anew and dropping the old one
    (0028 does so for hall passes). With foreign keys enforced, that DROP would delete
    every pass first and fire ON DELETE on the tables referring to them: a request's link
    to its pass set to NULL. The migrations run with them off, and check them after."""
    url = f"sqlite:///{tmp_path / 'rebuild.sqlite3'}"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "x"})
    with app.app_context():
        upgrade(revision="0027")
        with db.engine.begin() as connection:
            _insert(connection, "schools", id=1, code="S", timezone="America/Chicago")
            _insert(connection, "students", id=1, school_id=1, student_number="1")
            _insert(connection, "destinations", id=1, school_id=1, name="Library")
            _insert(
                connection,
                "hall_passes",
                id=1,
                school_id=1,
                student_id=1,
                destination_id=1,
                source="kiosk",
                status="ended",
                token="t",
            )
            _insert(
                connection,
                "pass_requests",
                id=1,
                school_id=1,
                student_id=1,
                destination_id=1,
                source="kiosk",
                status="approved",
                pass_id=1,
            )
        upgrade()
        with db.engine.connect() as connection:
            assert connection.execute(text("SELECT pass_id FROM pass_requests")).scalar() == 1
            assert connection.execute(text("SELECT count(*) FROM hall_passes")).scalar() == 1
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1  # on again

"""The migrations build the schema from nothing, and agree with the models.

Runs against a fresh SQLite file, or a fresh schema in the PostgreSQL database named
by `TEST_DATABASE_URL`, so the shared test database is left alone.
"""

import os
import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, text

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

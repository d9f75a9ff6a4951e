# ruff: noqa: S603, S607  (the commands run here are git and our own interpreter)
"""Upgrading from the previous release, as docs/upgrading.md says to: the previous
release's own code (its commit, CHANGELOG.md) migrates a fresh database and loads its
demo school; this code's `db upgrade` then brings that database to today's schema,
keeps every row, and serves it: the demo's admin signs in and opens the reports.

Runs on a fresh SQLite file, or a fresh PostgreSQL database beside the one
`TEST_DATABASE_URL` names. Needs the repository's history (a full clone); CI fails
without it rather than skip.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from shared import create_app
from shared.demo import PASSWORD
from shared.extensions import db

ROOT = Path(__file__).resolve().parents[2]
#: The release before this one, 0.1.0 (CHANGELOG.md): upgrading from it is what districts
#: do. Named by its commit, which every full clone has (tags may not travel with a clone).
PREVIOUS = "c6d54eb46f3f978a3a8b7c7a0998b78ba0d55f0f"


def _git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)


@pytest.fixture
def fresh_database_url(tmp_path):
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        yield f"sqlite:///{tmp_path / 'upgrade.sqlite3'}"
        return
    name = f"passline_upgrade_{uuid.uuid4().hex[:8]}"
    server = make_url(url).set(drivername="postgresql+psycopg", database="postgres")
    engine = create_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(url).set(database=name).render_as_string(hide_password=False)
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def _run(command: list[str], *, cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _row_counts(url: str) -> dict[str, int]:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as connection:
            tables = [t for t in inspect(connection).get_table_names() if t != "alembic_version"]
            return {
                # The names come from the database's own catalog.
                table: connection.execute(text(f'SELECT count(*) FROM "{table}"')).scalar()  # noqa: S608
                for table in tables
            }
    finally:
        engine.dispose()


def test_a_database_of_the_previous_release_upgrades_and_serves(fresh_database_url, tmp_path):
    if _git("rev-parse", "--verify", "--quiet", f"{PREVIOUS}^{{commit}}").returncode != 0:
        missing = f"this clone lacks the previous release's commit {PREVIOUS[:7]} (shallow?)"
        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(missing)
    previous = tmp_path / "previous"
    previous.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", PREVIOUS],
        capture_output=True,
        check=True,
    )
    subprocess.run(["tar", "-x", "-C", str(previous)], input=archive.stdout, check=True)
    env = {
        **os.environ,
        "DATABASE_URL": fresh_database_url,
        "SECRET_KEY": "upgrade-test-key",
        "PASSLINE_INSTANCE_PATH": str(tmp_path / "instance"),
        "FLASK_APP": "wsgi",
        "DATABASE_STATEMENT_TIMEOUT": "0",
    }
    # The previous release, on its own code (first on the path, before this checkout).
    old = {**env, "PYTHONPATH": str(previous)}
    found = _run(
        [sys.executable, "-c", "import shared; print(shared.__file__)"], cwd=previous, env=old
    )
    assert found.strip().startswith(str(previous)), found
    _run([sys.executable, "-m", "flask", "db", "upgrade"], cwd=previous, env=old)
    _run([sys.executable, "-m", "flask", "demo"], cwd=previous, env=old)
    before = _row_counts(fresh_database_url)
    assert before["students"] > 100 and before["hall_passes"] > 100, before

    # This release's upgrade, as docs/upgrading.md runs it.
    _run([sys.executable, "-m", "flask", "db", "upgrade"], cwd=ROOT, env=env)
    after = _row_counts(fresh_database_url)
    kept = {table: (n, after.get(table)) for table, n in before.items() if after.get(table) != n}
    assert kept == {}, f"rows changed by the upgrade: {kept}"

    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "upgrade-test-key",
            "SQLALCHEMY_DATABASE_URI": fresh_database_url,
            "WTF_CSRF_ENABLED": False,
            "SERVER_NAME": "passline.test",
        }
    )
    with app.app_context():
        client = app.test_client()
        answer = client.post("/login", data={"email": "admin@example.org", "password": PASSWORD})
        assert answer.status_code == 302, answer.get_data(as_text=True)[:500]
        assert client.get("/hallpass/reports").status_code == 200
        assert client.get("/carline/reports").status_code == 200
        db.session.remove()
        db.engine.dispose()

# ruff: noqa: S603, S607  (the commands run here are PostgreSQL's own: pg_dump, pg_restore)
"""Backups as the README's *Backups* section says to take and restore them: `passline
backup` for SQLite (online, while passline writes), `pg_dump` / `pg_restore` for
PostgreSQL. Each restored copy is opened by a new app, which finds the school's data and
lets its staff sign in."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import uuid

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from shared import create_app
from shared.extensions import db as database
from shared.models import Student
from tests.helpers import PASSWORD

ON_POSTGRES = os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql")


def _restored_app(url: str):
    return create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret-key",
            "SQLALCHEMY_DATABASE_URI": url,
            "WTF_CSRF_ENABLED": False,
            "SERVER_NAME": "passline.test",
        }
    )


def _check_restored(url: str, student_number: str, email: str) -> None:
    """A new app on the restored copy: the student is there and the admin signs in."""
    restored = _restored_app(url)
    with restored.app_context():
        found = database.session.scalar(
            select(Student).where(Student.student_number == student_number)
        )
        assert found is not None and found.first_name == "Ana"
        client = restored.test_client()
        answer = client.post("/login", data={"email": email, "password": PASSWORD})
        assert answer.status_code == 302, answer.get_data(as_text=True)[:500]
        database.session.remove()
        database.engine.dispose()


@pytest.mark.skipif(ON_POSTGRES, reason="SQLite's backup (the PostgreSQL run tests pg_dump)")
def test_a_sqlite_backup_taken_while_passline_writes_restores(
    app, db, school, make_student, make_user, tmp_path
):
    number = make_student(school, first="Ana").student_number
    admin = make_user(school, "admin")
    live = make_url(app.config["SQLALCHEMY_DATABASE_URI"]).database
    # Another process is in the middle of a write: the backup has what was committed.
    writer = sqlite3.connect(live)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE students SET first_name = 'Not yet' WHERE student_number = ?", (number,))
    target = tmp_path / "passline-backup.sqlite3"
    try:
        result = app.test_cli_runner().invoke(args=["backup", "--to", str(target)])
    finally:
        writer.rollback()
        writer.close()
    assert result.exit_code == 0, result.output
    assert oct(target.stat().st_mode & 0o777) == "0o600"
    # Restoring is putting the file back where DATABASE_URL points.
    restored = tmp_path / "restored" / "passline.sqlite3"
    restored.parent.mkdir()
    shutil.copy(target, restored)
    _check_restored(f"sqlite:///{restored}", number, admin.email)
    again = app.test_cli_runner().invoke(args=["backup", "--to", str(target)])
    assert again.exit_code != 0 and "exists already" in again.output


@pytest.mark.skipif(not ON_POSTGRES, reason="PostgreSQL's tools (set TEST_DATABASE_URL)")
def test_a_pg_dump_restores_into_a_new_database(app, db, school, make_student, make_user, tmp_path):
    number = make_student(school, first="Ana").student_number
    admin = make_user(school, "admin")
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"]).set(drivername="postgresql")
    dump = tmp_path / "passline.dump"
    libpq_url = url.render_as_string(hide_password=False)
    subprocess.run(
        ["pg_dump", "--format=custom", f"--file={dump}", libpq_url],
        check=True,
        capture_output=True,
        timeout=120,
    )
    # The README's restore: into a new, empty database.
    name = f"passline_restore_{uuid.uuid4().hex[:8]}"
    admin_engine = create_engine(
        url.set(drivername="postgresql+psycopg", database="postgres"),
        isolation_level="AUTOCOMMIT",
    )
    with admin_engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    target = url.set(database=name)
    try:
        subprocess.run(
            [
                "pg_restore",
                "--no-owner",
                f"--dbname={target.render_as_string(hide_password=False)}",
                str(dump),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        _check_restored(
            target.set(drivername="postgresql+psycopg").render_as_string(hide_password=False),
            number,
            admin.email,
        )
    finally:
        with admin_engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin_engine.dispose()


def test_the_backup_command_names_pg_dump_for_postgresql(app, tmp_path):
    if not ON_POSTGRES:
        pytest.skip("the refusal is PostgreSQL's")
    target = tmp_path / "never-written"
    result = app.test_cli_runner().invoke(args=["backup", "--to", str(target)])
    assert result.exit_code != 0 and "pg_dump" in result.output
    assert not target.exists()

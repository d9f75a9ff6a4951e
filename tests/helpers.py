"""Helpers the tests share: the test password, audit and CSRF readers, a statement counter.

Fixtures live in conftest.py; plain functions and constants live here, so that test
modules import them from a module of their own and never from conftest.py.
"""

import re

from sqlalchemy import event, select, text

from shared.passwords import hash_password

PASSWORD = "correct horse battery"
#: Hashed once per run: argon2 is slow on purpose.
PASSWORD_HASH = hash_password(PASSWORD)


def csrf_token_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def audit_actions(db, **where) -> list[str]:
    from shared.models import AuditEvent

    query = select(AuditEvent.action).order_by(AuditEvent.id)
    for key, value in where.items():
        query = query.where(getattr(AuditEvent, key) == value)
    return list(db.session.scalars(query))


class StatementCounter:
    """Counts the SQL statements the app runs while it is active."""

    def __init__(self, engine):
        self.engine, self.statements = engine, []

    def _count(self, conn, cursor, statement, parameters, context, executemany):
        self.statements.append(statement)

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._count)


def statements(counter: StatementCounter) -> list[str]:
    """The statements that did work: without transaction control (BEGIN, SAVEPOINT...),
    which differs between SQLite and PostgreSQL."""
    control = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
    return [s for s in counter.statements if not s.lstrip().upper().startswith(control)]


def planner_row_count(db, table: str) -> float | None:
    """The row count the query planner believes `table` has (None: no statistics)."""
    if db.engine.dialect.name == "sqlite":
        stat = db.session.execute(
            text("SELECT stat FROM sqlite_stat1 WHERE tbl = :t LIMIT 1"), {"t": table}
        ).scalar()
        return float(stat.split()[0]) if stat else None
    return db.session.execute(
        text("SELECT reltuples FROM pg_class WHERE relname = :t"), {"t": table}
    ).scalar()

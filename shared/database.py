"""Engine set-up: SQLite pragmas and write locking, PostgreSQL URL normalisation.

SQLite runs in WAL mode with foreign keys on and a busy timeout. Python's sqlite3
driver starts transactions lazily and in DEFERRED mode, so two writers can both
read and then fail to upgrade to a write lock ("database is locked") without
waiting. We take control of BEGIN: a transaction that intends to write starts with
`BEGIN IMMEDIATE`, which waits on the busy timeout for the write lock. Requests
with a state-changing method, CLI commands and anything wrapped in
`write_intent()` count as writing; GET polls stay deferred and never block.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy import event, text
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

#: None means "not decided by a request": treated as a write (CLI, tests, jobs).
_write_intent: ContextVar[bool | None] = ContextVar("passline_write_intent", default=None)

#: The longest SQLite waits for the write lock, whatever DATABASE_LOCK_TIMEOUT says.
SQLITE_BUSY_TIMEOUT_MS = 30_000


_UPSERT_INSERTS = {"sqlite": sqlite_insert, "postgresql": postgresql_insert}


def upsert_insert(dialect_name: str):
    """The dialect's INSERT that supports ON CONFLICT (SQLite and PostgreSQL alike)."""
    return _UPSERT_INSERTS[dialect_name]


def normalise_database_url(url: str) -> str:
    """Accept the common `postgres://` and `postgresql://` forms and use psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def set_request_write_intent(method: str) -> None:
    """Called at the start of each request: safe methods read, the rest write."""
    _write_intent.set(method not in ("GET", "HEAD", "OPTIONS"))


def clear_request_write_intent() -> None:
    _write_intent.set(None)


def in_writing_transaction() -> bool:
    """True when transactions begun now take the write lock (writing request, CLI, jobs)."""
    return _write_intent.get() is not False


@contextmanager
def write_intent() -> Iterator[None]:
    """Make transactions begun inside this block take the SQLite write lock up front."""
    token = _write_intent.set(True)
    try:
        yield
    finally:
        _write_intent.reset(token)


@contextmanager
def read_intent() -> Iterator[None]:
    """Make transactions begun inside this block plain reads on SQLite (a deferred BEGIN,
    no write lock), wherever they run: a streamed download's later batches run after its
    request has ended, where a transaction would otherwise take the write lock."""
    token = _write_intent.set(False)
    try:
        yield
    finally:
        _write_intent.reset(token)


def write_now(session: Session, statement) -> None:
    """Run a small bookkeeping write (last seen times) from any request.

    A writing request already holds the write lock, so the statement joins its
    transaction; a read (a poll) writes in a short transaction of its own instead of
    turning its read into a write.
    """
    if in_writing_transaction():
        session.execute(statement)
    else:
        with write_intent(), session.get_bind().begin() as connection:
            connection.execute(statement)


def configure_sqlite(engine: Engine, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS) -> None:
    """Install the pragmas and explicit BEGIN handling on a SQLite engine.

    A writer waits at most `busy_timeout_ms` for the write lock another process holds,
    then fails with "database is locked" (answered 503, see shared/errorpages.py).
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        busy = min(busy_timeout_ms, SQLITE_BUSY_TIMEOUT_MS)
        cursor.execute(f"PRAGMA busy_timeout = {busy}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        intent = _write_intent.get()
        connection.exec_driver_sql("BEGIN" if intent is False else "BEGIN IMMEDIATE")


# Knowing whether a read request wrote anything, so it can skip an empty COMMIT.

_WROTE = "passline_wrote"


@event.listens_for(Session, "after_flush")
def _flushed(session: Session, _context) -> None:
    session.info[_WROTE] = True


@event.listens_for(Session, "do_orm_execute")
def _executed(state) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        state.session.info[_WROTE] = True


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _ended(session: Session) -> None:
    session.info.pop(_WROTE, None)


def has_writes(session: Session) -> bool:
    """True if the session flushed or executed a change, or holds one not yet flushed."""
    return bool(session.info.get(_WROTE) or session.new or session.dirty or session.deleted)


#: The tables a roster import fills: the planner's statistics for them are refreshed after.
ROSTER_TABLES = (
    "users",
    "memberships",
    "rooms",
    "classes",
    "class_teachers",
    "students",
    "enrollments",
    "families",
    "family_students",
)


def refresh_statistics(session: Session, tables: tuple[str, ...] | None = None) -> None:
    """Let the query planner see what a bulk load just wrote (ANALYZE), then commit.

    SQLite never gathers statistics by itself, and PostgreSQL's autovacuum may not have
    run yet: without them one student's history read the school-wide index (427 ms
    instead of 3 ms) and a freshly loaded teacher report took 4 s instead of 75 ms.
    """
    if tables is None:
        session.execute(text("ANALYZE"))
    elif session.get_bind().dialect.name == "sqlite":
        for table in tables:  # SQLite's ANALYZE takes one name at a time
            session.execute(text(f'ANALYZE "{table}"'))
    else:
        session.execute(text("ANALYZE " + ", ".join(f'"{table}"' for table in tables)))
    session.commit()

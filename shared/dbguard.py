"""Bounded waits on the database, and a quick answer while it is unreachable.

A request must never hang on a database that is stopped, unreachable or frozen (its
processes stopped: the kernel still accepts connections and acknowledges packets, so
nothing on our side times out by itself). Four bounds, from the environment:

- connecting: libpq's `connect_timeout` (`DATABASE_CONNECT_TIMEOUT`);
- waiting for a pooled connection: the pool's timeout (`DATABASE_POOL_TIMEOUT`);
- a statement or a lock: PostgreSQL's `statement_timeout` and `lock_timeout`, SQLite's
  busy timeout (`DATABASE_STATEMENT_TIMEOUT`, `DATABASE_LOCK_TIMEOUT`);
- a server that does not answer at all (frozen), which no server-side timeout can end:
  a watchdog thread shuts the socket of a PostgreSQL connection whose command has been
  running a second longer than the statement timeout (a pooled connection's ping gets
  the connect timeout). libpq then sees the connection closed, SQLAlchemy invalidates
  it, and the request answers 503.

Once a connection attempt fails or a connection is lost, the process treats the
database as down: new connections are refused at once (`DatabaseUnavailable`), and one
request at a time, at most once a second, tries for real. So a dead database costs each
request milliseconds, not a timeout each, and the first attempt that succeeds (within a
second or two of the database coming back) ends the outage. A pooled connection is
pinged before use, so connections left from before a restart are replaced silently
(`DATABASE_POOL_PRE_PING=off` saves that round trip, and a request on a connection that
died meanwhile answers 503 instead).

The pool's size, overflow and recycling come from the environment too
(`DATABASE_POOL_SIZE`, `DATABASE_MAX_OVERFLOW`, `DATABASE_POOL_RECYCLE`).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import weakref

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, SQLAlchemyError
from sqlalchemy.exc import OperationalError as SAOperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

log = logging.getLogger(__name__)

#: While the database is down, a real connection attempt is made at most this often.
PROBE_EVERY_SECONDS = 1.0
#: How often the watchdog looks at running commands.
WATCH_EVERY_SECONDS = 0.25


class DatabaseUnavailable(SQLAlchemyError):
    """The database did not answer recently; this request is not sent to it."""


def is_outage(error: BaseException) -> bool:
    """True for errors meaning "the database cannot serve now" (answered with a 503).

    Refused or lost connections, timeouts (connect, pool, statement, lock) and SQLite's
    "database is locked" are all `OperationalError`s; a lost connection may also show
    as another DBAPI error with the connection invalidated.
    """
    if isinstance(error, DatabaseUnavailable | PoolTimeoutError | SAOperationalError):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


class _Breaker:
    """Whether this process currently believes one engine's database to be down."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.down_since: float | None = None
        self.next_probe = 0.0
        self.probing = False

    def down(self) -> None:
        with self.lock:
            now = time.monotonic()
            if self.down_since is None:
                self.down_since = now
                log.warning("database unreachable: answering 503 until it is back")
            self.next_probe = now + PROBE_EVERY_SECONDS

    def is_down(self) -> bool:
        return self.down_since is not None

    def may_connect(self) -> bool:
        """Claim the right to try a connection (always granted while the database is up)."""
        with self.lock:
            if self.down_since is None:
                return True
            if self.probing or time.monotonic() < self.next_probe:
                return False
            self.probing = True
            return True

    def connected(self) -> None:
        with self.lock:
            if self.down_since is not None:
                log.warning(
                    "database reachable again after %.1f s", time.monotonic() - self.down_since
                )
            self.down_since = None
            self.probing = False

    def failed(self) -> None:
        with self.lock:
            self.probing = False
        self.down()


class _Watchdog:
    """Shuts the socket of a PostgreSQL connection whose command overran its deadline."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        #: dbapi connection -> (monotonic deadline of the command it runs, its engine's breaker)
        self.deadlines: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self.thread: threading.Thread | None = None

    def arm(self, dbapi_connection, seconds: float, breaker: _Breaker) -> None:
        with self.lock:
            self.deadlines[dbapi_connection] = (time.monotonic() + seconds, breaker)
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(
                    target=self._watch, name="passline-db-watchdog", daemon=True
                )
                self.thread.start()

    def disarm(self, dbapi_connection) -> None:
        with self.lock:
            self.deadlines.pop(dbapi_connection, None)

    def _watch(self) -> None:
        while True:
            time.sleep(WATCH_EVERY_SECONDS)
            now = time.monotonic()
            with self.lock:
                for connection, (deadline, breaker) in list(self.deadlines.items()):
                    if now < deadline or not _running(connection):
                        continue
                    del self.deadlines[connection]
                    _shut(connection)
                    breaker.down()


def _running(connection) -> bool:
    """True while a psycopg connection waits for the server's answer to a command."""
    try:
        from psycopg.pq import TransactionStatus

        return not connection.closed and connection.info.transaction_status == (
            TransactionStatus.ACTIVE
        )
    except Exception:  # a connection closed meanwhile is not running
        return False


def _shut(connection) -> None:
    """End a hung connection: shutting its socket makes libpq's wait return at once."""
    try:
        with socket.socket(fileno=os.dup(connection.pgconn.socket)) as sock:
            sock.shutdown(socket.SHUT_RDWR)
        log.warning("database did not answer in time: connection closed")
    except Exception:  # already closed: nothing left to end
        log.debug("hung connection already closed", exc_info=True)


WATCHDOG = _Watchdog()


def engine_options(url: str, config: dict) -> dict:
    """SQLAlchemy engine options that bound every wait (see the module docstring)."""
    options: dict = {}
    if url.startswith("postgresql"):
        options["pool_timeout"] = config["DATABASE_POOL_TIMEOUT"]
        options["pool_size"] = config["DATABASE_POOL_SIZE"]
        options["max_overflow"] = config["DATABASE_MAX_OVERFLOW"]
        if config["DATABASE_POOL_RECYCLE"] > 0:  # seconds; 0: keep connections while they work
            options["pool_recycle"] = config["DATABASE_POOL_RECYCLE"]
        statement_ms = int(config["DATABASE_STATEMENT_TIMEOUT"] * 1000)
        lock_ms = int(config["DATABASE_LOCK_TIMEOUT"] * 1000)
        timeouts = f"-c statement_timeout={statement_ms} -c lock_timeout={lock_ms}"
        # connect_args replace the URL's own `options` (a district's search_path, say):
        # keep those in front, so both apply.
        from_url = make_url(url).query.get("options")
        if isinstance(from_url, tuple):
            from_url = " ".join(from_url)
        options["connect_args"] = {
            # libpq counts whole seconds and treats less than 2 as 2.
            "connect_timeout": max(2, round(config["DATABASE_CONNECT_TIMEOUT"])),
            "options": f"{from_url} {timeouts}" if from_url else timeouts,
        }
    return options


def guard_engine(engine: Engine, config: dict) -> None:
    """Install the breaker, the ping before use and (PostgreSQL) the watchdog on `engine`."""
    connect_seconds = max(2, round(config["DATABASE_CONNECT_TIMEOUT"]))
    statement_seconds = config["DATABASE_STATEMENT_TIMEOUT"]
    #: a command still running this long after its server-side timeout is never answered
    hung_after = statement_seconds + 1.0 if statement_seconds > 0 else None
    watched = engine.dialect.name == "postgresql"
    pre_ping = config["DATABASE_POOL_PRE_PING"]
    breaker = _Breaker()

    @event.listens_for(engine, "do_connect")
    def _connect(dialect, _record, cargs, cparams):
        if not breaker.may_connect():
            raise DatabaseUnavailable("the database did not answer a moment ago")
        try:
            connection = dialect.connect(*cargs, **cparams)
        except Exception:
            breaker.failed()
            raise
        breaker.connected()
        return connection

    @event.listens_for(engine, "handle_error")
    def _lost(context):
        if context.is_disconnect:
            breaker.down()

    if not watched:
        return  # SQLite: a file, never unreachable; its waits are its busy timeout

    @event.listens_for(engine, "connect")
    def _fresh(_dbapi_connection, record):
        record.info["passline_fresh"] = True

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_connection, record, _proxy):
        if record.info.pop("passline_fresh", False):
            return  # just connected: it answered a moment ago
        if not pre_ping and not breaker.is_down():
            return  # DATABASE_POOL_PRE_PING=off: a dead connection fails its first query
        if breaker.is_down():
            # Left from before the outage: replaced by a new connection, which the
            # breaker refuses at once (or lets one request try).
            raise DisconnectionError("the database was unreachable")
        WATCHDOG.arm(dbapi_connection, connect_seconds, breaker)
        try:
            engine.dialect.do_ping(dbapi_connection)  # an empty query, in autocommit
        except Exception as exc:
            breaker.down()
            raise DisconnectionError("the pooled connection is gone") from exc
        finally:
            WATCHDOG.disarm(dbapi_connection)

    if hung_after is None:
        return  # statement timeout turned off: nothing to measure a hang against

    @event.listens_for(engine, "before_cursor_execute")
    def _statement(conn, _cursor, _statement, _parameters, context, _many):
        seconds = hung_after
        if context is not None:
            seconds = context.execution_options.get("passline_timeout", hung_after)
        WATCHDOG.arm(conn.connection.dbapi_connection, seconds, breaker)

    @event.listens_for(engine, "after_cursor_execute")
    def _answered(conn, _cursor, _statement, _parameters, _context, _many):
        WATCHDOG.disarm(conn.connection.dbapi_connection)

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _ending(conn):
        # Disarmed at the next statement or when the connection goes back to the pool.
        if not conn.invalidated:  # an invalidated connection sends nothing more
            WATCHDOG.arm(conn.connection.dbapi_connection, hung_after, breaker)

    @event.listens_for(engine, "reset")
    def _reset(dbapi_connection, _record, _state):
        WATCHDOG.arm(dbapi_connection, hung_after, breaker)

    @event.listens_for(engine, "checkin")
    def _returned(dbapi_connection, _record):
        if dbapi_connection is not None:
            WATCHDOG.disarm(dbapi_connection)

"""The poll shortcut: unchanged live polls answered in a WSGI layer before Flask runs.

Nearly every poll of a live region is unchanged (204). Such a poll needs no request
context, session, user or view, so `PollShortcut` answers it before Flask: when a browser
with the same cookies (a paired device's secret or a signed staff session) polled the
same URL through the full path less than REUSE_SECONDS ago, the access decision that path
made is reused, and nothing but the school's versions (shared/live.py) is looked up. It
answers 204, or a region shared by every screen of the school (the dismissal TV) already
rendered for the current version; anything else takes the full path, which decides again.

A revoke or a sign-out takes effect on the very next request, in every process and on
every server: each reuse reads the school's access version from the database at that
moment (`VersionReader`: one indexed read of two tiny rows, with the polled topic's
version), and the decision is reused only while it is the version the decision was made
under, which the full path reads in the same statement as the caller (shared/access.py).
A version cached in the process, or announced by a notification, would leave a moment
after the revoke's answer in which the old decision still holds.

It is correct only while these three invariants hold, and each is kept elsewhere:

1. Every narrowing of access bumps the school's access topic (`live.access_changed`: a
   revoked device, an ended session, a deactivated account, a removed role), in the same
   transaction as the change. A reused decision holds only while the access version it
   was made under is still the school's; a new kind of narrowing that forgets to bump
   would leave old decisions in force for up to REUSE_SECONDS.
2. A region that is not shared is only ever answered 204 here. Its HTML may name the
   viewer or carry their CSRF token, so it is always rendered on the full path.
3. A shared region holds nothing specific to one viewer: its HTML depends only on the
   school, the topic's version and its share key (`live.poll(..., share=...)`), so a
   render made for one admitted screen may be served to every other admitted screen.

`LIVE_POLL_SHORTCUT` (config, from the environment; on by default) turns it off: every
poll then takes the full path, with the same answers.
"""

import random
import time
import weakref

from flask import Flask
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from shared import live
from shared.access import ACCESS_TOPIC, secret_digest
from shared.bounded import BoundedDict
from shared.extensions import db
from shared.headers import poll_headers
from shared.metrics import SHORTCUT_POLLS

#: How long an access decision of the full path may be reused (seconds). Time limits
#: (an idle or too old staff session) are therefore kept to within this much.
REUSE_SECONDS = 30.0
#: Each decision is reused up to this much less, at random: screens that opened together
#: (every TV at the start of dismissal) would otherwise all take the full path in the same
#: second, every REUSE_SECONDS, and queue behind each other.
REUSE_JITTER_SECONDS = 10.0
#: (caller, path) -> (school id, topic, share, access version, when admitted)
_admitted: BoundedDict = BoundedDict(50_000)


def _poll_key(environ: dict) -> tuple[str, str] | None:
    """Who polls what: a digest of the browser's cookies, which hold its device secret or
    its signed staff session (the same cookies again are the same caller, at the same
    school), and the path. None without cookies: nobody to remember."""
    cookies = environ.get("HTTP_COOKIE")
    return (secret_digest(cookies), environ.get("PATH_INFO", "")) if cookies else None


def _remember(environ: dict) -> None:
    """Keep the admission the full path offered for this poll (`live.ADMISSION`), if any."""
    admission = environ.get(live.ADMISSION)
    key = _poll_key(environ) if admission is not None else None
    if key is not None:
        # Counted as admitted a little earlier than now: it expires a little sooner.
        admitted = time.monotonic() - random.uniform(0, REUSE_JITTER_SECONDS)  # noqa: S311
        _admitted.keep(key, (*admission, admitted))


#: The read of each reuse, by the (school_id, topic) unique index: SQLite's, and the
#: statement PostgreSQL prepares once per connection under this name.
_SQLITE_READ = "SELECT topic, version FROM live_versions WHERE school_id = ? AND topic IN (?, ?)"
_PG_READ = b"SELECT topic, version FROM live_versions WHERE school_id = $1 AND topic IN ($2, $3)"
_PG_STATEMENT = b"passline_poll_versions"
#: Key of a pool connection's `info`: its PostgreSQL session has _PG_STATEMENT prepared.
_PREPARED = "passline_poll_versions_prepared"
#: Every VersionReader made, so that `clear` can give their connections back.
_readers: weakref.WeakSet = weakref.WeakSet()


class VersionReader:
    """The shortcut's read of a school's access version and one topic's, as it is now.

    It is the only work an unchanged poll does, so it runs on the driver's connection
    itself, without SQLAlchemy's execution around it (many times the read's own cost:
    docs/performance.md): connections taken from the engine's pool once and kept here
    (as many as threads read at once). On PostgreSQL each is in autocommit (one round
    trip, no BEGIN) and runs a statement prepared once per connection through psycopg's
    libpq layer (`pgconn.exec_prepared`, which releases the GIL while it waits); SQLite's
    connections are in autocommit already (shared/database.py). Each read therefore sees
    every commit made before it began.
    """

    def __init__(self, engine: Engine):
        self.engine = engine
        self.postgresql = engine.dialect.name == "postgresql"
        self.errors = (SQLAlchemyError, engine.dialect.loaded_dbapi.Error)
        #: Pool connections not in use by a read (list.pop and append are atomic).
        self._idle: list = []
        #: How many reads were made (for the tests and for anyone watching a process).
        self.reads = 0
        _readers.add(self)

    def versions(self, school_id: int, topic: str) -> dict[str, int] | None:
        """The school's versions of ACCESS_TOPIC and `topic` (absent: 0) read now; None
        when the database did not answer (the full path then reports it properly)."""
        try:
            connection = self._idle.pop()
        except IndexError:
            try:
                connection = self._open()
            except self.errors:
                return None
        try:
            if self.postgresql:
                versions = self._pg_read(connection, school_id, topic)
            else:
                rows = connection.driver_connection.execute(
                    _SQLITE_READ, (school_id, ACCESS_TOPIC, topic)
                )
                versions = dict(rows.fetchall())
        except self.errors:
            versions = None
        if versions is None:
            connection.invalidate()  # a broken connection is never used again
            return None
        self._idle.append(connection)
        self.reads += 1
        return versions

    def _pg_read(self, connection, school_id: int, topic: str) -> dict[str, int] | None:
        """The versions, through libpq on a PostgreSQL pool connection; None if it failed."""
        from psycopg.pq import ExecStatus

        pgconn = connection.driver_connection.pgconn
        if not connection.info.get(_PREPARED):
            if pgconn.prepare(_PG_STATEMENT, _PG_READ).status != ExecStatus.COMMAND_OK:
                return None
            connection.info[_PREPARED] = True
        arguments = [str(school_id).encode(), ACCESS_TOPIC.encode(), topic.encode()]
        result = pgconn.exec_prepared(_PG_STATEMENT, arguments)
        if result.status != ExecStatus.TUPLES_OK:
            return None
        return {
            result.get_value(row, 0).decode(): int(result.get_value(row, 1))
            for row in range(result.ntuples)
        }

    def _open(self):
        connection = self.engine.raw_connection()
        if self.postgresql:
            connection.driver_connection.autocommit = True
        return connection

    def close(self) -> None:
        """Give every kept connection back to the engine's pool, as it was taken."""
        while self._idle:
            connection = self._idle.pop()
            if self.postgresql:
                connection.driver_connection.autocommit = False
            connection.close()


def unchanged_poll(environ: dict, reader: VersionReader) -> tuple[str, str] | None:
    """The answer (status, HTML) to a poll by a caller admitted moments ago, if it needs
    no more work.

    None means "take the full path": not a poll, an unknown caller, an old decision,
    access changed at the school, or a change that has not been rendered here yet.
    """
    if environ.get("REQUEST_METHOD") != "GET":
        return None
    key = _poll_key(environ)
    shown = live.shown_version(environ.get("QUERY_STRING", "")) if key else None
    if shown is None:
        return None
    admitted = _admitted.get(key)
    if admitted is None or time.monotonic() - admitted[4] > REUSE_SECONDS:
        return None
    school_id, topic, share, access, _when = admitted
    versions = reader.versions(school_id, topic)
    if versions is None or versions.get(ACCESS_TOPIC, 0) != access:
        return None  # invariant 1: access narrowed at the school since the decision
    version = versions.get(topic, 0)
    if version == shown:
        return "204 No Content", ""
    if share is None:
        return None  # invariant 2: only the full path renders a viewer's own region
    html = live.shared_render(school_id, topic, version, share)
    return None if html is None else ("200 OK", html)


class PollShortcut:
    """WSGI middleware: answers `unchanged_poll`s before Flask runs, and remembers the
    admissions the full path offers.

    The switch is read on each request, so a test (or an operator's debugging session)
    can turn it off on a running app. Any other request, or a poll the shortcut cannot
    answer, goes to the app unchanged.
    """

    def __init__(self, app: Flask):
        self.wsgi_app = app.wsgi_app
        self.config = app.config
        with app.app_context():
            self.reader = VersionReader(db.engine)

    def __call__(self, environ: dict, start_response):
        if not self.config["LIVE_POLL_SHORTCUT"]:
            return self.wsgi_app(environ, start_response)
        answer = unchanged_poll(environ, self.reader)
        if answer is None:
            # Flask has answered (and run the view) by the time wsgi_app returns.
            body = self.wsgi_app(environ, start_response)
            _remember(environ)
            return body
        status, html = answer
        secure = environ.get("wsgi.url_scheme") == "https"
        body = html.encode()
        headers = poll_headers(secure)
        if body:  # a 204 has no body, so neither a type nor a length
            headers.append(("Content-Type", "text/html; charset=utf-8"))
            headers.append(("Content-Length", str(len(body))))
        start_response(status, headers)
        SHORTCUT_POLLS.inc()
        return [body]


def clear() -> None:
    """Forget every remembered admission and give the readers' connections back (tests
    that reuse ids, or drop the tables)."""
    _admitted.clear()
    for reader in list(_readers):
        reader.close()

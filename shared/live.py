"""Live regions: per-school, per-topic change versions and the poll answer built on them.

A service that changes what a screen shows calls `bump(school_id, topic, ...)` in the same
transaction as the change. A live region polls with the version it shows (`?v=N`);
`poll(...)` answers 204 with no rendering while the version is unchanged, and the
fresh partial otherwise. Every process and server shares the versions through the
database, so a change made anywhere reaches every screen.

The shortcut. Nearly every poll is unchanged, so `unchanged_poll` runs first, in a WSGI
layer before Flask (`PollShortcut`): when a browser with the same cookies (a paired
device's secret or a signed staff session) polled the same URL through the full path
less than REUSE_SECONDS ago, the access decision that path made is reused, and nothing
but the school's versions (read at most every RECENT_SECONDS per process, for all the
schools it serves at once) is looked up. It answers 204, or a region shared by every
screen of the school (the dismissal TV) already rendered for the current version;
anything else takes the full path. Whatever ends access (a revoked device, an ended
session, changed roles) bumps the school's ACCESS_TOPIC, which ends every reused decision
there at once.
"""

import functools
import random
import threading
import time
from collections.abc import Callable, Hashable, Iterable
from urllib.parse import parse_qsl

from flask import Flask, Response, g, request
from sqlalchemy import Engine, bindparam, event, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from shared.access import PUBLIC, request_rules, secret_digest
from shared.bounded import BoundedDict
from shared.database import upsert_insert
from shared.extensions import db
from shared.headers import poll_headers
from shared.models import LiveVersion

#: Bumped when access ends at a school (see the module docstring).
ACCESS_TOPIC = "access"


def bump(school_id: int, topic: str, *more: str) -> None:
    """Announce a change of each topic at the school (one atomic upsert, no read).

    The topics' rows are locked in sorted order, so two writers bumping the same topics
    never wait for each other in a circle (a deadlock on PostgreSQL). The new versions
    come back with the upsert: `current` knows them for the rest of the transaction.
    """
    rows = [{"school_id": school_id, "topic": t} for t in sorted({topic, *more})]
    # Several rows of one upsert statement: SQLAlchemy sends them as one multi-row INSERT
    # (its "insertmanyvalues"), in this order, and the statement stays in its compiled
    # cache (a statement built with the rows in it was compiled again each time: 1 ms).
    upsert = _upsert(db.session.get_bind().dialect.name)
    bumped = db.session.info.setdefault(_BUMPED, {})
    for bumped_topic, version in db.session.execute(upsert, rows):
        bumped[(school_id, bumped_topic)] = version
    _recent.pop(school_id, None)  # this process reads the new versions next time


@functools.cache
def _upsert(dialect_name: str):
    """The version upsert of one (school_id, topic) row, returning the new version."""
    table = LiveVersion.__table__
    return (
        upsert_insert(dialect_name)(table)
        .values(version=1)
        .on_conflict_do_update(
            index_elements=[table.c.school_id, table.c.topic],
            set_={"version": table.c.version + 1},
        )
        .returning(table.c.topic, table.c.version)
    )


#: session.info key: (school id, topic) -> version this transaction bumped it to. The row
#: stays locked by the transaction until it ends, so nobody else can move it meanwhile.
_BUMPED = "live_bumped"


@event.listens_for(Session, "after_transaction_end")
def _forget_bumped(session: Session, transaction) -> None:
    """The transaction's end (or a savepoint's) forgets: the next read asks again. A flush
    runs in a subtransaction of its own, whose end changes nothing."""
    if transaction.parent is None or transaction.nested:
        session.info.pop(_BUMPED, None)


def access_changed(school_ids: Iterable[int]) -> None:
    """Someone's access at these schools ended or narrowed: reuse no access decision there."""
    for school_id in sorted(set(school_ids)):
        bump(school_id, ACCESS_TOPIC)


#: Built once: one topic's version (`current`), and every topic's of some schools (polls).
_VERSION = select(LiveVersion.version).where(
    LiveVersion.school_id == bindparam("school_id"), LiveVersion.topic == bindparam("topic")
)
_VERSIONS_OF = select(LiveVersion.school_id, LiveVersion.topic, LiveVersion.version).where(
    LiveVersion.school_id.in_(bindparam("school_ids", expanding=True))
)


def current(school_id: int, topic: str) -> int:
    """The topic's version; 0 before its first change (no query if this transaction
    bumped it)."""
    bumped = db.session.info.get(_BUMPED)
    if bumped and (school_id, topic) in bumped:
        return bumped[(school_id, topic)]
    # Core, not ORM: no entities to load.
    version = db.session.connection().scalar(_VERSION, {"school_id": school_id, "topic": topic})
    return version or 0


#: How long a process may answer polls from the versions it last read (seconds). Dozens of
#: screens of one school poll every second; within this window they cost no query.
RECENT_SECONDS = 0.25
#: school id -> (topic -> version, when read)
_recent: dict[int, tuple[dict[str, int], float]] = {}
#: school id -> when this process last answered a poll of it
_polled: dict[int, float] = {}


def _school_versions(
    school_id: int, topic: str, shown: int | None, *, shortcut: Engine | None = None
) -> dict[str, int]:
    """Every topic's version at the school, read at most every RECENT_SECONDS per process.

    A screen that already shows a newer version than the one remembered (it was
    answered by another process) always gets a fresh read, so no screen goes back.
    The full path's read joins its request's transaction. The `shortcut`'s read (on
    its engine: it runs before any session) covers every school this process answered
    polls of in the last REUSE_SECONDS, so a process serving a district's schools reads
    once per RECENT_SECONDS, not once per school; on PostgreSQL it runs in autocommit
    (one round trip instead of BEGIN, SELECT, ROLLBACK).
    """
    now = time.monotonic()
    _polled[school_id] = now
    remembered = _recent.get(school_id)
    if (
        remembered is not None
        and now - remembered[1] < RECENT_SECONDS
        and (shown is None or shown <= remembered[0].get(topic, 0))
    ):
        return remembered[0]
    if shortcut is None:
        school_ids = [school_id]
        rows = db.session.connection().execute(_VERSIONS_OF, {"school_ids": school_ids}).all()
    else:
        school_ids = [s for s, at in list(_polled.items()) if now - at < REUSE_SECONDS]
        options = {"isolation_level": "AUTOCOMMIT"} if shortcut.dialect.name == "postgresql" else {}
        with shortcut.connect().execution_options(**options) as connection:
            rows = connection.execute(_VERSIONS_OF, {"school_ids": school_ids}).all()
    versions: dict[int, dict[str, int]] = {s: {} for s in school_ids}
    for school, school_topic, version in rows:
        versions[school][school_topic] = version
    for school in school_ids:
        _recent[school] = (versions[school], now)
    return versions[school_id]


#: Rendered partials shared by every screen that shows the same thing (see `poll`).
_shared: BoundedDict = BoundedDict(256)
#: key of `_shared` -> the lock of its render in progress: when a car comes in, a quarter
#: of a process's renders of the TV were a second thread rendering the same version
#: (bench/district.py)
_rendering: dict[Hashable, threading.Lock] = {}
_rendering_lock = threading.Lock()


def poll(
    school_id: int,
    topic: str,
    render: Callable[[int], str | Response],
    *,
    share: Hashable | None = None,
):
    """Answer a live region's poll: 204 if it already shows the current version.

    `share` is for a region whose HTML depends only on the school, the topic's version
    and `share` itself (no names of the viewer, no CSRF token), such as the dismissal
    TV: when a car comes in, each process then renders it once for every screen of the
    school instead of once per screen.
    """
    shown = _shown_version(request.environ.get("QUERY_STRING", ""))
    versions = _school_versions(school_id, topic, shown)
    _remember_access(school_id, topic, share, versions.get(ACCESS_TOPIC, 0))
    if shown == versions.get(topic, 0):
        return Response(status=204)
    # About to render: read the version again in this request's own transaction. The
    # remembered one may come from a newer snapshot than the one the render reads, and
    # HTML labelled with a version must hold everything that version announces.
    version = current(school_id, topic)
    if shown == version:
        return Response(status=204)
    if share is None:
        return render(version)
    key = (school_id, topic, version, share)
    html = _shared.get(key)
    if html is None:
        with _rendering_lock:
            rendering = _rendering.setdefault(key, threading.Lock())
        with rendering:  # a screen polling meanwhile waits for this render, not its own
            html = _shared.get(key)
            if html is None:
                html = render(version)
                if isinstance(html, str):
                    _shared.keep(key, html)
        with _rendering_lock:
            _rendering.pop(key, None)
    return html


# The shortcut (see the module docstring).

#: How long an access decision of the full path may be reused (seconds). Time limits
#: (an idle or too old staff session) are therefore kept to within this much.
REUSE_SECONDS = 30.0
#: Each decision is reused up to this much less, at random: screens that opened together
#: (every TV at the start of dismissal) would otherwise all take the full path in the same
#: second, every REUSE_SECONDS (measured with bench/district.py: a queue of 100-160 ms).
REUSE_JITTER_SECONDS = 10.0
#: (caller, path) -> (school id, topic, share, access version, when admitted)
_admitted: BoundedDict = BoundedDict(50_000)


def _poll_key(environ: dict) -> tuple[str, str] | None:
    """Who polls what: a digest of the browser's cookies, which hold its device secret or
    its signed staff session (the same cookies again are the same caller, at the same
    school), and the path. None without cookies: nobody to remember."""
    cookies = environ.get("HTTP_COOKIE")
    return (secret_digest(cookies), environ.get("PATH_INFO", "")) if cookies else None


def _remember_access(school_id: int, topic: str, share: Hashable | None, access: int) -> None:
    """The full path admitted this caller to this region: remember it for the shortcut."""
    if g.get("principal") is None or PUBLIC in request_rules():
        return  # what an anonymous poll shows comes from its own cookie, not from a caller
    key = _poll_key(request.environ)
    if key is not None:
        # Counted as admitted a little earlier than now: it expires a little sooner.
        admitted = time.monotonic() - random.uniform(0, REUSE_JITTER_SECONDS)  # noqa: S311
        _admitted.keep(key, (school_id, topic, share, access, admitted))


def _shown_version(query_string: str) -> int | None:
    """The `v` a poll says it shows: its first `v`, if that is a number (as Flask's
    `request.args.get("v", type=int)`; both paths read it here)."""
    for name, value in parse_qsl(query_string, keep_blank_values=True):
        if name == "v":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def unchanged_poll(environ: dict, engine: Engine) -> tuple[str, str] | None:
    """The answer (status, HTML) to a poll by a caller admitted moments ago, if it needs
    no more work.

    None means "take the full path": not a poll, an unknown caller, an old decision,
    access changed at the school, or a change that has not been rendered here yet.
    """
    if environ.get("REQUEST_METHOD") != "GET":
        return None
    key = _poll_key(environ)
    shown = _shown_version(environ.get("QUERY_STRING", "")) if key else None
    if shown is None:
        return None
    admitted = _admitted.get(key)
    if admitted is None or time.monotonic() - admitted[4] > REUSE_SECONDS:
        return None
    school_id, topic, share, access, _when = admitted
    versions = _school_versions(school_id, topic, shown, shortcut=engine)
    if versions.get(ACCESS_TOPIC, 0) != access:
        return None
    version = versions.get(topic, 0)
    if version == shown:
        return "204 No Content", ""
    if share is None:
        return None
    html = _shared.get((school_id, topic, version, share))
    return None if html is None else ("200 OK", html)


class PollShortcut:
    """WSGI middleware: answers `unchanged_poll`s before Flask runs.

    Such a poll needs no request context, session, user or view: skipping Flask's
    request handling for them took the server from 1.07-1.19 to 0.86-0.97 cores under
    bench/district.py. Any other request, or a poll the shortcut cannot answer, goes to
    the app unchanged.
    """

    def __init__(self, app: Flask):
        self.wsgi_app = app.wsgi_app
        with app.app_context():
            self.engine = db.engine

    def __call__(self, environ: dict, start_response):
        try:
            answer = unchanged_poll(environ, self.engine)
        except SQLAlchemyError:
            answer = None  # the full path reports it properly
        if answer is None:
            return self.wsgi_app(environ, start_response)
        status, html = answer
        secure = environ.get("wsgi.url_scheme") == "https"
        body = html.encode()
        headers = poll_headers(secure)
        if body:  # a 204 has no body, so neither a type nor a length
            headers.append(("Content-Type", "text/html; charset=utf-8"))
            headers.append(("Content-Length", str(len(body))))
        start_response(status, headers)
        return [body]


def clear_shared() -> None:
    """Forget every shared render and remembered decision (tests that reuse ids)."""
    _shared.clear()
    _recent.clear()
    _polled.clear()
    _admitted.clear()

"""Live regions: per-school, per-topic change versions and the poll answer built on them.

A service that changes what a screen shows calls `bump(school_id, topic, ...)` in the same
transaction as the change. A live region polls with the version it shows (`?v=N`);
`poll(...)` answers 204 with no rendering while the version is unchanged, and the
fresh partial otherwise. Every process and server shares the versions through the
database, so a change made anywhere reaches every screen.

Whatever narrows someone's access (a revoked device, an ended session, changed roles)
also bumps the school's ACCESS_TOPIC (`access_changed`). A poll admitted on the full path
offers its admission, with the access version read together with its caller
(shared/access.py), to the WSGI layer that answers unchanged polls before Flask
(shared/poll_shortcut.py); this module knows nothing else of it.
"""

import functools
import threading
import time
from collections.abc import Callable, Hashable, Iterable
from urllib.parse import parse_qsl

from flask import Response, g, request
from sqlalchemy import bindparam, event, func, select
from sqlalchemy.orm import Session

from shared import live_push
from shared.access import ACCESS_TOPIC, PUBLIC, access_version_seen, request_rules
from shared.bounded import BoundedDict
from shared.database import upsert_insert
from shared.extensions import db
from shared.models import LiveVersion

#: WSGI environ key under which `poll` offers the caller's admission to the region:
#: (school id, topic, share, access version). Only for a caller with a principal
#: (staff or a paired device) on a view that is not public.
ADMISSION = "passline.live.admission"


def bump(school_id: int, topic: str, *more: str) -> None:
    """Announce a change of each topic at the school (one atomic upsert, no read).

    The topics' rows are locked in sorted order, so two writers bumping the same topics
    never wait for each other in a circle (a deadlock on PostgreSQL). The new versions
    come back with the upsert: `current` knows them for the rest of the transaction.
    """
    rows = [{"school_id": school_id, "topic": t} for t in sorted({topic, *more})]
    # Several rows of one upsert statement: SQLAlchemy sends them as one multi-row INSERT
    # (its "insertmanyvalues"), in this order, and the statement stays in its compiled
    # cache (a statement built with the rows in it would be compiled again on every write).
    dialect_name = db.session.get_bind().dialect.name
    upsert = _upsert(dialect_name)
    bumped = db.session.info.setdefault(_BUMPED, {})
    announced = db.session.info.setdefault(_ANNOUNCED, {})
    for bumped_topic, version, *_notified in db.session.execute(upsert, rows):
        bumped[(school_id, bumped_topic)] = version
        announced[(school_id, bumped_topic)] = version
    _recent.pop(school_id, None)  # this process reads the new versions next time


@functools.cache
def _upsert(dialect_name: str):
    """The version upsert of one (school_id, topic) row, returning the new version.

    On PostgreSQL the same statement notifies the live push channel of the new version
    (shared/live_push.py): PostgreSQL sends it when the transaction commits, and never if
    it rolls back, so nobody hears of a change that did not happen.
    """
    table = LiveVersion.__table__
    returning = [table.c.topic, table.c.version]
    if dialect_name == "postgresql":
        payload = func.concat_ws(" ", table.c.school_id, table.c.topic, table.c.version)
        returning.append(func.pg_notify(live_push.CHANNEL, payload))
    return (
        upsert_insert(dialect_name)(table)
        .values(version=1)
        .on_conflict_do_update(
            index_elements=[table.c.school_id, table.c.topic],
            set_={"version": table.c.version + 1},
        )
        .returning(*returning)
    )


#: session.info key: (school id, topic) -> version this transaction bumped it to. The row
#: stays locked by the transaction until it ends, so nobody else can move it meanwhile.
_BUMPED = "live_bumped"


#: session.info key: (school id, topic) -> version bumped to, for the streams of this
#: process once the transaction commits (shared/live_push.py), forgotten if it rolls back.
_ANNOUNCED = "live_announced"


@event.listens_for(Session, "after_commit")
def _announce_committed(session: Session) -> None:
    announced = session.info.pop(_ANNOUNCED, None)
    if announced:
        live_push.announce_committed(
            session.get_bind().dialect.name,
            [(school, topic, version) for (school, topic), version in announced.items()],
        )


@event.listens_for(Session, "after_rollback")
def _forget_announced(session: Session) -> None:
    session.info.pop(_ANNOUNCED, None)


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
_VERSIONS_OF = select(LiveVersion.topic, LiveVersion.version).where(
    LiveVersion.school_id == bindparam("school_id")
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


def versions_now(school_id: int) -> dict[str, int]:
    """Every topic's version at the school, read now (a live stream's start: never a
    remembered one, which could predate a change announced before the stream opened)."""
    rows = db.session.connection().execute(_VERSIONS_OF, {"school_id": school_id})
    return {school_topic: version for school_topic, version in rows}


#: How long a process may answer polls from the versions it last read (seconds). Dozens of
#: screens of one school poll every second; within this window they cost no query.
RECENT_SECONDS = 0.25
#: school id -> (topic -> version, when read)
_recent: dict[int, tuple[dict[str, int], float]] = {}


def school_versions(
    school_id: int, topic: str, shown: int | None, announced: int | None = None
) -> dict[str, int]:
    """Every topic's version at the school, read at most every RECENT_SECONDS per process,
    in the request's transaction.

    A screen that already shows, or was told by its stream of (`announced`), a newer
    version than the one remembered (another process made or answered it) always gets a
    fresh read: no screen goes back, and a refresh the stream asked for is never
    answered "unchanged" from versions read just before the change.
    Who may see the region was decided from the database already: these versions only
    say whether it changed.
    """
    now = time.monotonic()
    remembered = _recent.get(school_id)
    newest_known = max(shown or 0, announced or 0)
    if (
        remembered is not None
        and now - remembered[1] < RECENT_SECONDS
        and newest_known <= remembered[0].get(topic, 0)
    ):
        return remembered[0]
    rows = db.session.connection().execute(_VERSIONS_OF, {"school_id": school_id})
    versions = {school_topic: version for school_topic, version in rows}
    _recent[school_id] = (versions, now)
    return versions


#: Rendered partials shared by every screen that shows the same thing (see `poll`).
_shared: BoundedDict = BoundedDict(256)
#: key of `_shared` -> the lock of its render in progress: screens of one school poll
#: within the same moments after a change, and a second thread would otherwise render
#: the same version again
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
    shown = shown_version(request.environ.get("QUERY_STRING", ""))
    versions = school_versions(school_id, topic, shown, announced_version(request.environ))
    _offer_admission(school_id, topic, share)
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


def shared_render(school_id: int, topic: str, version: int, share: Hashable) -> str | None:
    """The HTML `poll` rendered of a shared region at this version, if this process has it."""
    return _shared.get((school_id, topic, version, share))


def _offer_admission(school_id: int, topic: str, share: Hashable | None) -> None:
    """The full path admitted this caller to this region: say so to the layer before Flask,
    with the access version read together with the caller (never a newer one read later,
    which could postdate a revoke that this decision did not see)."""
    if g.get("principal") is None or PUBLIC in request_rules():
        return  # what an anonymous poll shows comes from its own cookie, not from a caller
    access = access_version_seen(school_id)
    if access is not None:
        request.environ[ADMISSION] = (school_id, topic, share, access)


def shown_version(query_string: str) -> int | None:
    """The `v` a poll says it shows: its first `v`, if that is a number (as Flask's
    `request.args.get("v", type=int)`; both paths read it here)."""
    for name, value in parse_qsl(query_string, keep_blank_values=True):
        if name == "v":
            try:
                return int(value)
            except ValueError:
                return None
    return None


#: The request header with the newest version of the region's topic that the page's live
#: stream announced (shared/static/js/live.js).
ANNOUNCED_HEADER = "X-Live-Announced"


def announced_version(environ: dict) -> int | None:
    """The version a region's stream announced, if its request says one (a number)."""
    value = environ.get("HTTP_X_LIVE_ANNOUNCED", "")
    # isascii: str.isdigit also takes other scripts' digits ("²"), which int() refuses
    return int(value) if value.isascii() and value.isdigit() and len(value) < 19 else None


def clear_shared() -> None:
    """Forget every shared render and remembered version (tests that reuse ids)."""
    _shared.clear()
    _recent.clear()

"""Live regions: per-school, per-topic change versions and the poll answer built on them.

A service that changes what a screen shows calls `bump(school_id, topic)` in the same
transaction as the change. A live region polls with the version it shows (`?v=N`);
`poll(...)` answers 204 with no rendering while the version is unchanged, and the
fresh partial otherwise. Every process and server shares the versions through the
database, so a change made anywhere reaches every screen.
"""

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable

from flask import Response, request
from sqlalchemy import bindparam, select

from shared.database import upsert_insert
from shared.extensions import db
from shared.models import LiveVersion


def bump(school_id: int, topic: str) -> None:
    """Announce a change of `topic` at the school (one atomic upsert, no read)."""
    insert = upsert_insert(db.session.get_bind().dialect.name)
    statement = insert(LiveVersion).values(school_id=school_id, topic=topic, version=1)
    statement = statement.on_conflict_do_update(
        index_elements=[LiveVersion.school_id, LiveVersion.topic],
        set_={"version": LiveVersion.version + 1},
    )
    db.session.execute(statement)
    _recent.pop((school_id, topic), None)  # this process reads the new version next time


#: Built once: the one query of an unchanged poll.
_VERSION = select(LiveVersion.version).where(
    LiveVersion.school_id == bindparam("school_id"), LiveVersion.topic == bindparam("topic")
)


def current(school_id: int, topic: str) -> int:
    """The topic's version; 0 before its first change."""
    # Core, not ORM: no entities to load, and this runs on every poll.
    version = db.session.connection().scalar(_VERSION, {"school_id": school_id, "topic": topic})
    return version or 0


#: How long a process may answer polls from the version it last read (seconds). Dozens of
#: screens of one school poll every second; within this window they cost no query.
RECENT_SECONDS = 0.25
_recent: dict[tuple[int, str], tuple[int, float]] = {}


def _recent_version(school_id: int, topic: str, shown: int | None) -> int:
    """The topic's version, read at most every RECENT_SECONDS per process.

    A screen that already shows a newer version than the one remembered (it was
    answered by another process) always gets a fresh read, so no screen goes back.
    """
    key = (school_id, topic)
    remembered = _recent.get(key)
    now = time.monotonic()
    if (
        remembered is not None
        and now - remembered[1] < RECENT_SECONDS
        and (shown is None or shown <= remembered[0])
    ):
        return remembered[0]
    version = current(school_id, topic)
    _recent[key] = (version, now)
    return version


#: Rendered partials shared by every screen that shows the same thing (see `poll`).
_SHARED_MAX = 256
_shared: OrderedDict[tuple, str] = OrderedDict()
_shared_lock = threading.Lock()


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
    shown = request.args.get("v", type=int)
    version = _recent_version(school_id, topic, shown)
    if shown == version:
        return Response(status=204)
    if share is None:
        return render(version)
    key = (school_id, topic, version, share)
    with _shared_lock:
        html = _shared.get(key)
    if html is None:
        html = render(version)
        if isinstance(html, str):
            with _shared_lock:
                _shared[key] = html
                while len(_shared) > _SHARED_MAX:
                    _shared.popitem(last=False)
    return html


def clear_shared() -> None:
    """Forget every shared render (tests that reuse ids; a restored database backup)."""
    with _shared_lock:
        _shared.clear()
    _recent.clear()

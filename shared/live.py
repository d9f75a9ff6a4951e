"""Live regions: per-school, per-topic change versions and the poll answer built on them.

A service that changes what a screen shows calls `bump(school_id, topic)` in the same
transaction as the change. A live region polls with the version it shows (`?v=N`);
`poll(...)` answers 204 with no rendering while the version is unchanged, and the
fresh partial otherwise. Every process and server shares the versions through the
database, so a change made anywhere reaches every screen.
"""

from collections.abc import Callable

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


#: Built once: the one query of an unchanged poll.
_VERSION = select(LiveVersion.version).where(
    LiveVersion.school_id == bindparam("school_id"), LiveVersion.topic == bindparam("topic")
)


def current(school_id: int, topic: str) -> int:
    """The topic's version; 0 before its first change."""
    # Core, not ORM: no entities to load, and this runs on every poll.
    version = db.session.connection().scalar(_VERSION, {"school_id": school_id, "topic": topic})
    return version or 0


def poll(school_id: int, topic: str, render: Callable[[int], str | Response]):
    """Answer a live region's poll: 204 if it already shows the current version."""
    version = current(school_id, topic)
    if request.args.get("v", type=int) == version:
        return Response(status=204)
    return render(version)

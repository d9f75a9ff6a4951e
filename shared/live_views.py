"""The live push stream of a page: /live/stream?topics=... (shared/live_push.py).

It names nothing but topics (opaque names such as "dismissal" or "room:12") and their
versions at the caller's school; what a region shows is fetched by the region itself,
on the normal path.
"""

import re

from flask import Blueprint, Response, current_app, g, request
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException

from shared import live, live_push
from shared.access import DEVICE_PREFIX, access
from shared.errors import InvalidInput
from shared.models import DEVICE_KINDS, ROLES

bp = Blueprint("live", __name__)

#: A topic name: letters and underscores, maybe a kind of record and its id ("room:12",
#: "tardies:class:3").
_TOPIC = re.compile(r"[a-z_]{1,40}(?::[a-z_]{1,40})?(?::\d{1,12})?")
#: A page has a handful of live regions.
MAX_TOPICS = 16


def _topics(value: str) -> list[str]:
    topics = sorted({t for t in value.split(",") if t})
    if not topics or len(topics) > MAX_TOPICS or not all(_TOPIC.fullmatch(t) for t in topics):
        raise InvalidInput(_("This live update address is not valid."))
    if live.ACCESS_TOPIC in topics:
        raise InvalidInput(_("This live update address is not valid."))
    return topics


def _admits_again(app, environ: dict, school_id: int):
    """The access check of the normal path, run again on the stream's own request (its
    cookies as they were when it opened): False once the caller is refused, or now acts
    at another school."""

    def check() -> bool:
        with (
            live_push.database_turn(app.config["DATABASE_POOL_SIZE"]),
            app.request_context(dict(environ)),
        ):
            try:
                if app.preprocess_request() is not None:
                    return False  # a redirect to sign in, or a 401 for htmx
            except HTTPException:
                return False
            except Exception:  # the database did not answer: end it (the page polls)
                app.logger.warning("live push: could not check a stream's caller again")
                return False
            principal = g.get("principal")
            return principal is not None and principal.school_id == school_id

    return check


@bp.route(live_push.STREAM_PATH)
@access(*ROLES, *(DEVICE_PREFIX + kind for kind in DEVICE_KINDS))
def stream():
    """Server-sent events: each topic's version now, then each new one (503 when this
    process takes no more streams: the page polls)."""
    topics = _topics(request.args.get("topics", ""))
    school_id = g.principal.school_id
    if school_id is None:
        raise InvalidInput(_("This live update address is not valid."))
    app = current_app._get_current_object()
    opened = live_push.hub.open(app, school_id, topics)
    if opened is None:
        return Response(status=503, headers={"Retry-After": "30", "Cache-Control": "no-store"})
    try:
        versions = live.versions_now(school_id)
        live_push.hub.started(opened, versions)
    except Exception:
        live_push.hub.close(opened)
        raise
    environ = request.environ
    admitted = _admits_again(app, environ, school_id)
    body = live_push.body(opened, versions, admitted, live_push.socket_gone(environ))
    # The request's database session ends when this returns (teardown): a stream holds
    # no connection while it waits.
    return Response(
        body,
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )

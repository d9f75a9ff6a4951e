"""Prometheus metrics at /metrics, so district IT watches passline with the monitoring it
already runs for its other services (the `prometheus-client` library writes the format).

What is measured:

- `passline_http_requests_total{group,status}`: answers by the first segment of the path
  (`hallpass`, `carline`, `admin`...; `home` for `/`, `other` for unknown paths) and status;
- `passline_http_request_duration_seconds{group}`: time until the answer starts (a
  streamed CSV goes on streaming after);
- `passline_live_polls_shortcut_total`: unchanged live polls answered before Flask
  (shared/poll_shortcut.py);
- `passline_db_connections_in_use`, `passline_db_pool_size`: database connections checked
  out of the pools now, and the pools' size, all workers together;
- `passline_passes_out{school}`, `passline_curb_entries_today{school}`: students out of
  class now and cars queued at the curb today, by school code, read from the database at
  each scrape (the blueprints contribute them: `SchoolGauge`); `passline_database_up` is
  1 when those reads were answered.

Labels are bounded: path groups come from the app's own routes and schools are named by
their short code; no student, person or token is ever a label.

gunicorn runs several worker processes, each counting its own requests. In multiprocess
mode (`PROMETHEUS_MULTIPROC_DIR`, which shared/gunicorn_conf.py sets to a fresh folder when
the environment does not) every worker writes its values to files there and whichever
worker answers a scrape adds them all up. Without it (one process: `flask run`, another
WSGI server) the process's own values are served.

Only Prometheus may read it: a client address in `METRICS_ALLOW` (addresses or networks,
default the machine itself) or a bearer token equal to `METRICS_TOKEN`; anyone else gets
a 403.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import time
from collections.abc import Iterable

from flask import Blueprint, Flask, Response, current_app, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import event, select
from sqlalchemy.exc import SQLAlchemyError

from shared.access import public
from shared.contributions import contributions

bp = Blueprint("metrics", __name__)

#: The process's own metrics; never the registry a scrape serves in multiprocess mode
#: (the files already hold these values: registering them there would count them twice).
PROCESS_REGISTRY = CollectorRegistry()
REQUESTS = Counter(
    "passline_http_requests",
    "HTTP answers by path group and status",
    ["group", "status"],
    registry=PROCESS_REGISTRY,
)
DURATION = Histogram(
    "passline_http_request_duration_seconds",
    "Time until the answer starts, by path group",
    ["group"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=PROCESS_REGISTRY,
)
SHORTCUT_POLLS = Counter(
    "passline_live_polls_shortcut",
    "Unchanged live polls answered before Flask (the poll shortcut)",
    registry=PROCESS_REGISTRY,
)
CONNECTIONS_IN_USE = Gauge(
    "passline_db_connections_in_use",
    "Database connections checked out of the pools (all live workers)",
    multiprocess_mode="livesum",
    registry=PROCESS_REGISTRY,
)
POOL_SIZE = Gauge(
    "passline_db_pool_size",
    "Connections the pools keep open (all live workers)",
    multiprocess_mode="livesum",
    registry=PROCESS_REGISTRY,
)


#: The multiprocess folder as it was when prometheus-client was imported, which is when it
#: chose where every value lives (files in that folder, or this process's memory); a
#: folder named later (a test importing the gunicorn settings) changes nothing.
_MULTIPROCESS_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def multiprocess_dir() -> str | None:
    return _MULTIPROCESS_DIR


# ------------------------------------------------------------------ requests


def path_groups(app: Flask) -> frozenset[str]:
    """The first segments of the app's routes: the only values the `group` label takes."""
    groups = set()
    for rule in app.url_map.iter_rules():
        first = rule.rule.lstrip("/").split("/", 1)[0]
        if first and "<" not in first:
            groups.add(first.split(".", 1)[0])  # "tags.pdf" and "tags" are one group
    return frozenset(groups)


def group_of(path: str, groups: frozenset[str]) -> str:
    first = path.lstrip("/").split("/", 1)[0].split(".", 1)[0]
    if not first:
        return "home"
    return first if first in groups else "other"


class RequestMetrics:
    """WSGI middleware around the whole app (the poll shortcut included): counts every
    answer by path group and status, and times it until the answer starts."""

    def __init__(self, wsgi_app, groups: frozenset[str]):
        self.wsgi_app, self.groups = wsgi_app, groups

    def __call__(self, environ: dict, start_response):
        group = group_of(environ.get("PATH_INFO", ""), self.groups)
        started = time.perf_counter()

        def counting_start_response(status: str, headers, exc_info=None):
            REQUESTS.labels(group, status.split(" ", 1)[0]).inc()
            DURATION.labels(group).observe(time.perf_counter() - started)
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, counting_start_response)


# ------------------------------------------------------------------ database


def watch_pool(engine) -> None:
    """Keep the connection gauges current on every checkout and checkin of `engine`."""
    pool = engine.pool
    if not hasattr(pool, "checkedout"):  # SQLite's in-memory pool keeps no count
        return
    POOL_SIZE.inc(pool.size())

    @event.listens_for(engine, "checkout")
    def _out(*_args):
        CONNECTIONS_IN_USE.set(pool.checkedout())

    @event.listens_for(engine, "checkin")
    def _in(*_args):
        CONNECTIONS_IN_USE.set(pool.checkedout())


class SchoolNow:
    """Collector read at each scrape: what the database says now, by school code (the
    numbers the blueprints contribute as `SchoolGauge`s)."""

    def __init__(self, app: Flask):
        self.app = app

    def collect(self) -> Iterable[GaugeMetricFamily]:
        from shared.extensions import db
        from shared.models import School

        up = GaugeMetricFamily("passline_database_up", "1 when the database answered")
        families = []
        try:
            with self.app.app_context():
                schools = db.session.scalars(
                    select(School).where(School.archived_at.is_(None)).order_by(School.code)
                ).all()
                for gauge in contributions(self.app).school_gauges:
                    values = gauge.count(schools)
                    family = GaugeMetricFamily(gauge.name, gauge.help, labels=["school"])
                    for school in schools:
                        family.add_metric([school.code], values.get(school.id, 0))
                    families.append(family)
                db.session.rollback()
        except SQLAlchemyError:
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1)
        return [up, *families]


# ------------------------------------------------------------------ the endpoint


def _allowed_networks(app: Flask) -> list:
    return [
        ipaddress.ip_network(part.strip(), strict=False)
        for part in app.config["METRICS_ALLOW"].split(",")
        if part.strip()
    ]


def may_read() -> bool:
    """A bearer token equal to METRICS_TOKEN, or a client address in METRICS_ALLOW."""
    token = current_app.config["METRICS_TOKEN"]
    given = request.headers.get("Authorization", "")
    if token and given.startswith("Bearer "):
        return hmac.compare_digest(given[len("Bearer ") :].encode(), token.encode())
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    return any(address in network for network in current_app.extensions["metrics_allow"])


@bp.route("/metrics")
@public
def metrics():
    if not may_read():
        return Response(
            "Metrics are served to the addresses in METRICS_ALLOW, or with METRICS_TOKEN.\n",
            status=403,
            mimetype="text/plain",
        )
    registry = CollectorRegistry()
    if multiprocess_dir():
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(PROCESS_REGISTRY)
    registry.register(SchoolNow(current_app._get_current_object()))
    response = Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
    response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    """Parse METRICS_ALLOW (a bad value stops the start), watch the pool, count requests."""
    from shared.extensions import db

    try:
        app.extensions["metrics_allow"] = _allowed_networks(app)
    except ValueError as error:
        raise RuntimeError(f"METRICS_ALLOW: {error}") from error
    with app.app_context():
        watch_pool(db.engine)
    app.register_blueprint(bp)
    app.wsgi_app = RequestMetrics(app.wsgi_app, path_groups(app))

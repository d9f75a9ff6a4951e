"""Live push: a stream per page announcing "topic T of school S is now version N".

Polling (shared/live.py) stays the way every screen gets what it shows: a region fetches
its URL as always, with every access check of the normal path and one shared render per
change. The stream only says when to fetch, so a screen shows a change within moments
instead of within its polling interval, and polls rarely while the stream is open
(shared/static/js/live.js).

Where announcements come from (one `Hub` per process, fanning out to its streams):

- PostgreSQL: `live.bump` sends `pg_notify` in the same statement as the version upsert,
  so the notification goes out when the transaction commits and never if it rolls
  back; every process and server LISTENs on one connection of its own (`_Listener`).
  When that connection drops, every stream of the process is told to end (the screens
  poll meanwhile) and the listener connects again by itself; no stream opens until it has.
- SQLite: the committing process announces its own bumps at once (`announce_committed`),
  and a short version poll of the schools with streams (`SQLITE_POLL_SECONDS`) carries
  other processes' changes.

A stream is opened by the normal path (`shared/live_views.py`), which checks the caller's
access. Every narrowing of access bumps the school's ACCESS_TOPIC (`live.access_changed`):
each stream of that school then checks its caller again on the normal path and ends at
once if they lost access. Each stream starts with the current version of each of its
topics, so a screen that reconnects resyncs by version and misses nothing.

Streams hold no thread of their own only under an asynchronous worker (gunicorn's gevent
worker, `PASSLINE_WORKER_CLASS=gevent`). Under the threaded worker each stream holds a
thread, so a process opens at most `LIVE_STREAMS` of them (config; the threaded default
is none beyond its spare threads: shared/gunicorn_conf.py) and answers 503 beyond: those
screens poll, as before.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import select
import socket
import sys
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from shared.access import ACCESS_TOPIC

log = logging.getLogger(__name__)

#: The PostgreSQL notification channel of version bumps; payload "school_id topic version".
CHANNEL = "passline_live"
#: A comment line this often keeps the stream open through proxies (seconds).
KEEPALIVE_SECONDS = 15.0
#: How often a process on SQLite reads the versions of the schools it streams (seconds).
SQLITE_POLL_SECONDS = 0.5
#: The PostgreSQL listener waits this long (growing to the most) before connecting again.
LISTEN_RETRY_SECONDS = (0.5, 10.0)
#: What a screen should wait before it reconnects after the stream ended (ms, EventSource).
RETRY_MS = 3000


@dataclass(eq=False)
class Stream:
    """One open stream: its school, its topics and what is to be sent to it."""

    school_id: int
    topics: frozenset[str]
    # Made when the stream opens: gevent's queue where gevent patched the module.
    events: queue.SimpleQueue = field(default_factory=lambda: queue.SimpleQueue())

    def put(self, item: tuple) -> None:
        self.events.put(item)


class Hub:
    """This process's open streams by school, and the source of their announcements."""

    def __init__(self):
        self._lock = threading.Lock()
        self._streams: dict[int, set[Stream]] = {}
        self._source: _Source | None = None
        self._pid: int | None = None
        #: Set on shutdown: no stream opens, every open one ends.
        self.stopping = False

    # streams

    def open(self, app, school_id: int, topics: Iterable[str]) -> Stream | None:
        """A new stream of this school's topics; None if this process takes no more
        (its limit, a shutdown, or no source of announcements)."""
        source = self._ensure_source(app)
        if self.stopping or not source.ready():
            return None
        stream = Stream(school_id, frozenset(topics))
        with self._lock:
            if self.count() >= app.config["LIVE_STREAMS"]:
                return None
            self._streams.setdefault(school_id, set()).add(stream)
        return stream

    def close(self, stream: Stream) -> None:
        with self._lock:
            streams = self._streams.get(stream.school_id)
            if streams is not None:
                streams.discard(stream)
                if not streams:
                    del self._streams[stream.school_id]

    def started(self, stream: Stream, versions: dict[str, int]) -> None:
        """The versions the stream starts with (read after it was registered)."""
        if self._source is not None:
            self._source.seed(stream.school_id, versions)

    def count(self) -> int:
        return sum(len(streams) for streams in self._streams.values())

    def schools(self) -> list[int]:
        with self._lock:
            return list(self._streams)

    # announcements

    def announce(self, school_id: int, topic: str, version: int) -> None:
        """Tell every stream of the school that shows this topic (all of them: access)."""
        if self._source is not None:
            self._source.saw(school_id, topic, version)
        with self._lock:
            streams = list(self._streams.get(school_id, ()))
        for stream in streams:
            if topic == ACCESS_TOPIC:
                stream.put(("access",))
            elif topic in stream.topics:
                stream.put(("version", topic, version))

    def end_all(self, reason: str) -> None:
        """End every open stream (the source went down, or the process stops)."""
        with self._lock:
            streams = [s for group in self._streams.values() for s in group]
        for stream in streams:
            stream.put(("end", reason))

    def shutdown(self) -> None:
        """The process stops: end every stream now rather than at the graceful timeout."""
        self.stopping = True
        self.end_all("shutdown")
        if self._source is not None:
            self._source.stop()

    def start(self, app) -> None:
        """Start this process's source now (a worker's boot), not at its first stream: a
        worker restarted under load has its LISTEN connection before its screens return."""
        self._ensure_source(app)

    def _ensure_source(self, app) -> _Source:
        """Start this process's source on its first stream (a forked worker has no thread
        of its parent's, hence the process id)."""
        pid = os.getpid()
        if self._pid != pid:
            with self._lock:
                if self._pid != pid:
                    self._source = _source_for(app, self)
                    self._source.start()
                    self._pid = pid
        return self._source

    def reset(self) -> None:
        """Stop the source and forget every stream (tests)."""
        if self._source is not None:
            self._source.stop()
        with self._lock:
            self._streams.clear()
            self._source = None
            self._pid = None
        self.stopping = False


hub = Hub()


def announce_committed(dialect_name: str, bumped: Iterable[tuple[int, str, int]]) -> None:
    """A transaction of this process committed these bumps: on SQLite, tell this process's
    streams now (PostgreSQL's notifications reach every process's listener, this one's too)."""
    if dialect_name != "postgresql":
        for school_id, topic, version in bumped:
            hub.announce(school_id, topic, version)


class _Source:
    def start(self) -> None: ...

    def stop(self) -> None: ...

    def ready(self) -> bool:
        return True

    def seed(self, school_id: int, versions: dict[str, int]) -> None:
        """A stream of the school started with these versions."""

    def saw(self, school_id: int, topic: str, version: int) -> None:
        """This version was announced (by whatever source)."""


def _source_for(app, target: Hub) -> _Source:
    from shared.extensions import db

    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "postgresql":
        return _Listener(engine, target)
    return _SQLitePoller(app, target)


class _Listener(_Source):
    """One PostgreSQL connection of this process that LISTENs for every version bump."""

    def __init__(self, engine, target: Hub):
        self.url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.target = target
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="passline-live-listen", daemon=True)
        self._thread.start()
        self._connected.wait(5)  # the first stream waits for the first LISTEN

    def stop(self) -> None:
        self._stop.set()

    def ready(self) -> bool:
        return self._connected.is_set()

    def _run(self) -> None:
        import psycopg

        wait = LISTEN_RETRY_SECONDS[0]
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    self._connected.set()
                    wait = LISTEN_RETRY_SECONDS[0]
                    while not self._stop.is_set():
                        for notice in connection.notifies(timeout=1.0):
                            if not self._stop.is_set():  # a stopped one tells nobody
                                self._deliver(notice.payload)
            except Exception as error:  # whatever it was, this thread goes on trying
                if self._connected.is_set():
                    log.warning("live push: lost the PostgreSQL listener (%s)", error)
                else:
                    log.warning("live push: cannot LISTEN (%s), again in %.1f s", error, wait)
                self._connected.clear()
                # The screens poll until their stream opens again (after this reconnects).
                self.target.end_all("down")
                self._stop.wait(wait)
                wait = min(wait * 2, LISTEN_RETRY_SECONDS[1])
        self._connected.clear()

    def _deliver(self, payload: str) -> None:
        try:
            school, topic, version = payload.split(" ", 2)
            self.target.announce(int(school), topic, int(version))
        except ValueError:
            log.warning("live push: a notification not of ours: %r", payload[:80])


class _SQLitePoller(_Source):
    """On SQLite: every SQLITE_POLL_SECONDS, the versions of the schools with streams here
    (other processes' changes; this process's own are announced at their commit)."""

    def __init__(self, app, target: Hub):
        self.app = app
        self.target = target
        self._stop = threading.Event()
        self._known: dict[int, dict[str, int]] = {}

    def start(self) -> None:
        threading.Thread(target=self._run, name="passline-live-poll", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        from sqlalchemy import select

        from shared.extensions import db
        from shared.models import LiveVersion

        while not self._stop.wait(SQLITE_POLL_SECONDS):
            schools = self.target.schools()
            if not schools:
                self._known.clear()
                continue
            try:
                with self.app.app_context():
                    rows = db.session.execute(
                        select(LiveVersion.school_id, LiveVersion.topic, LiveVersion.version).where(
                            LiveVersion.school_id.in_(schools)
                        )
                    ).all()
                    db.session.rollback()
            except Exception as error:
                log.warning("live push: could not read versions (%s)", error)
                continue
            for school_id, topic, version in rows:
                known = self._known.get(school_id)
                if known is None:
                    continue  # seeded by the school's first stream
                if known.get(topic, 0) < version:
                    self.target.announce(school_id, topic, version)

    def saw(self, school_id: int, topic: str, version: int) -> None:
        known = self._known.get(school_id)
        if known is not None and known.get(topic, 0) < version:
            known[topic] = version

    def seed(self, school_id: int, versions: dict[str, int]) -> None:
        # The versions a new stream started with: any change since is announced.
        self._known.setdefault(school_id, dict(versions))


class StreamGate:
    """WSGI middleware: stream opens (their access check and first versions) take turns,
    at most as many at once as the database pool keeps connections.

    Under gevent thousands of screens may open their streams in the same second (a
    server restart); each would otherwise take a pool connection or wait for one until
    the pool's timeout, which the database guard counts as the database not answering
    (503 for everyone). The turn ends when Flask has answered: the stream then holds no
    connection while it waits. Access checks of open streams take the same turns.
    """

    def __init__(self, wsgi_app, turns: int):
        self.wsgi_app = wsgi_app
        self.turns = turns

    def __call__(self, environ: dict, start_response):
        if environ.get("PATH_INFO") != STREAM_PATH:
            return self.wsgi_app(environ, start_response)
        with database_turn(self.turns):
            return self.wsgi_app(environ, start_response)


#: The stream's path (shared/live_views.py).
STREAM_PATH = "/live/stream"
_turns: dict[int, threading.BoundedSemaphore] = {}


def database_turn(turns: int) -> threading.BoundedSemaphore:
    """The process's semaphore of database turns for streams (made on first use: under
    gevent, a patched one)."""
    semaphore = _turns.get(turns)
    if semaphore is None:
        semaphore = _turns.setdefault(turns, threading.BoundedSemaphore(max(1, turns)))
    return semaphore


# The stream's body


def socket_gone(environ: dict):
    """A check that the browser closed the stream's connection, under a threaded server
    (None elsewhere: a gevent worker's streams cost no thread while they wait, and each
    finds out at its next keep-alive)."""
    connection = environ.get("gunicorn.socket")
    if connection is None or _gevent_patched():
        return None

    def gone() -> bool:
        try:
            readable, _w, _x = select.select([connection], [], [], 0)
            return bool(readable) and connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    return gone


def _gevent_patched() -> bool:
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and monkey.is_module_patched("socket")


def event(name: str, data: dict | str) -> str:
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return f"event: {name}\ndata: {payload}\n\n"


def body(
    stream: Stream,
    versions: dict[str, int],
    still_admitted,
    gone=None,
    keepalive: float = KEEPALIVE_SECONDS,
) -> Iterator[str]:
    """What the stream sends: each topic's version now, then each announced one, a
    keep-alive comment while quiet, and an `end` event when it ends (the screen then
    polls, and reconnects later: the normal path checks its access again).

    `still_admitted()` runs on each access announcement of the school: the caller is
    checked again on the normal path, and the stream ends at once if they were refused.
    `gone()`, if given, says the browser has closed the connection: it is asked every
    second (a thread per stream is given back within a second, not at the next keep-alive).
    """
    wait = 1.0 if gone is not None else keepalive
    quiet = 0.0
    try:
        yield f"retry: {RETRY_MS}\n\n"
        for topic in sorted(stream.topics):
            yield event("version", {"topic": topic, "v": versions.get(topic, 0)})
        while True:
            try:
                item = stream.events.get(timeout=wait)
            except queue.Empty:
                if hub.stopping:
                    yield event("end", "shutdown")
                    return
                if gone is not None and gone():
                    return
                quiet += wait
                if quiet >= keepalive:
                    quiet = 0.0
                    yield ": keep-alive\n\n"
                continue
            kind = item[0]
            if kind == "version":
                yield event("version", {"topic": item[1], "v": item[2]})
            elif kind == "access":
                if not still_admitted():
                    yield event("end", "access")
                    return
            else:
                yield event("end", item[1])
                return
    finally:
        hub.close(stream)

"""Housekeeping: small jobs that must run even when nobody clicks (ending overrun passes,
sending the mail outbox).

The app runs them itself, whatever serves it: each process starts one daemon thread on
its first request (`ensure_running`, from a `before_request` hook), so gunicorn with or
without gunicorn.conf.py, another WSGI server or `flask run` all keep them going; under
gunicorn the worker starts it as soon as it boots (`post_worker_init`). `flask housekeeping`
runs them once, for cron, where PASSLINE_HOUSEKEEPING=off turns the thread off (a warning
at start says so, and /healthz reports "off"). Every job is idempotent and safe to run
from several processes at once, so no leader election is needed: a second worker doing
the same pass finds nothing left to do.

/healthz reports what this process's thread did (`health`): "off" (not run here),
"ok", or "degraded" when the last run of a job failed or no job has run for a while
(the thread died or is stuck).
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from dataclasses import dataclass, field

from flask import Flask

from shared.contributions import Job, contributions
from shared.extensions import db

log = logging.getLogger(__name__)

__all__ = ["Job", "ensure_running", "health", "jobs_of", "run_jobs", "start_thread"]

#: A process's first run of each job comes within this many seconds of its start
#: (random, so the workers that started together do not all run at once).
START_JITTER_SECONDS = 2.0
#: No run for this many of a job's intervals means the thread is not doing its work.
STALE_INTERVALS = 3


@dataclass
class State:
    """One app's housekeeping in this process: its thread and what the jobs did."""

    pid: int = 0
    thread: threading.Thread | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    started_at: float = 0.0
    #: job name -> whether its last run succeeded
    last_ok: dict[str, bool] = field(default_factory=dict)
    #: job name -> time.monotonic() of its last run
    last_run: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _state(app: Flask) -> State:
    return app.extensions.setdefault("passline_housekeeping", State())


def _deliver_mail() -> int:
    from shared.mail import deliver_due

    return deliver_due()


#: The core's own jobs: the mail outbox (retries, and mail of a process that died).
CORE_JOBS = [Job("mail.deliver", _deliver_mail, 60)]


def jobs_of(app: Flask) -> list[Job]:
    """The core's jobs and those the app's blueprints contributed (`contribute(bp, jobs=[...])`)."""
    return [*CORE_JOBS, *contributions(app).jobs]


def run_jobs(app: Flask, jobs: list[Job] | None = None) -> dict[str, int]:
    """Run each job once in its own transaction; a failing job is logged, others still run."""
    state = _state(app)
    done: dict[str, int] = {}
    for job in jobs_of(app) if jobs is None else jobs:
        with app.app_context():
            try:
                done[job.name] = job.run()
                db.session.commit()
                state.last_ok[job.name] = True
            except Exception:
                state.last_ok[job.name] = False
                db.session.rollback()
                log.exception("housekeeping job %s failed", job.name)
            finally:
                state.last_run[job.name] = time.monotonic()
                db.session.remove()
    return done


def health(app: Flask) -> str:
    """For /healthz: "off" when this process runs no housekeeping thread; "degraded"
    while the last run of some job failed, or when a job is more than STALE_INTERVALS of
    its intervals late (counted from the thread's start before its first run); else "ok"."""
    state = _state(app)
    if state.thread is None or state.pid != os.getpid():
        return "off"
    if not all(state.last_ok.values()):
        return "degraded"
    now = time.monotonic()
    for job in jobs_of(app):
        since = state.last_run.get(job.name, state.started_at + START_JITTER_SECONDS)
        if now - since > STALE_INTERVALS * job.every_seconds or not state.thread.is_alive():
            return "degraded"
    return "ok"


def ensure_running(app: Flask) -> threading.Thread | None:
    """Start this process's housekeeping thread unless it runs already (or is turned off).

    Cheap enough for every request: after the first, one comparison. A forked process
    (gunicorn's workers fork from the master) has no thread of its parent's, so the
    process id is part of "already running".
    """
    state = _state(app)
    pid = os.getpid()
    if state.pid == pid or not app.config.get("HOUSEKEEPING"):
        return state.thread if state.pid == pid else None
    with state.lock:
        if state.pid != pid:
            state.stop = threading.Event()
            state.last_ok.clear()
            state.last_run.clear()
            state.started_at = time.monotonic()
            state.thread = start_thread(app, state.stop)
            state.pid = pid
    return state.thread


def stop(app: Flask, timeout: float = 5) -> None:
    """Stop this process's housekeeping thread (tests; a clean shutdown needs none)."""
    state = _state(app)
    state.stop.set()
    if state.thread is not None:
        state.thread.join(timeout)
    state.thread, state.pid = None, 0


def warn_if_off(app: Flask) -> None:
    """At start: say so in the log when this process will run no housekeeping."""
    if not app.config.get("HOUSEKEEPING") and not app.testing:
        log.warning(
            "PASSLINE_HOUSEKEEPING is off: overrun passes do not end by themselves unless "
            "`passline housekeeping` runs from cron every minute (/healthz says housekeeping: off)"
        )


def start_thread(
    app: Flask, stop: threading.Event | None = None, jobs: list[Job] | None = None
) -> threading.Thread:
    """Run the jobs (default: the app's) in a daemon thread: each first within
    START_JITTER_SECONDS, then at its interval."""
    stop = stop or threading.Event()
    jobs = jobs_of(app) if jobs is None else jobs

    def loop() -> None:
        now = time.monotonic()
        due = {job.name: now + random.uniform(0, START_JITTER_SECONDS) for job in jobs}  # noqa: S311 (jitter)
        while jobs and not stop.wait(max(0.0, min(due.values()) - time.monotonic())):
            for job in jobs:
                if due[job.name] <= time.monotonic():
                    due[job.name] = time.monotonic() + job.every_seconds
                    run_jobs(app, [job])

    thread = threading.Thread(target=loop, name="passline-housekeeping", daemon=True)
    thread.start()
    return thread

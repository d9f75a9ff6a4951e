"""Housekeeping: small jobs that must run even when nobody clicks (ending overrun passes).

Each gunicorn worker runs them in a daemon thread (gunicorn.conf.py, `post_worker_init`),
so they run while the app serves; `flask housekeeping` runs them once, for cron. Every job
is idempotent and safe to run from several processes at once, so no leader election is
needed: a second worker doing the same pass finds nothing left to do.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask

from shared.extensions import db

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    name: str
    run: Callable[[], int]
    every_seconds: int


JOBS: list[Job] = []


def register_job(name: str, run: Callable[[], int], every_seconds: int = 30) -> None:
    """Run `run()` (returns how many records it changed) every `every_seconds`."""
    JOBS.append(Job(name, run, every_seconds))


def run_jobs(app: Flask, jobs: list[Job] | None = None) -> dict[str, int]:
    """Run each job once in its own transaction; a failing job is logged, others still run."""
    done: dict[str, int] = {}
    for job in JOBS if jobs is None else jobs:
        with app.app_context():
            try:
                done[job.name] = job.run()
                db.session.commit()
            except Exception:
                db.session.rollback()
                log.exception("housekeeping job %s failed", job.name)
            finally:
                db.session.remove()
    return done


def start_thread(app: Flask, stop: threading.Event | None = None) -> threading.Thread:
    """Run the jobs in a daemon thread, each at its interval (with jitter across workers)."""
    stop = stop or threading.Event()

    def loop() -> None:
        tick = min((job.every_seconds for job in JOBS), default=30)
        due = {job.name: random.uniform(0, job.every_seconds) for job in JOBS}  # noqa: S311 (jitter)
        while not stop.wait(tick):
            for job in JOBS:
                due[job.name] -= tick
                if due[job.name] <= 0:
                    due[job.name] = job.every_seconds
                    run_jobs(app, [job])

    thread = threading.Thread(target=loop, name="passline-housekeeping", daemon=True)
    thread.start()
    return thread

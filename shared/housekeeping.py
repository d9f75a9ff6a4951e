"""Housekeeping: small jobs that must run even when nobody clicks (ending overrun passes,
sending the mail outbox).

Each gunicorn worker runs them in a daemon thread (gunicorn.conf.py, `post_worker_init`),
so they run while the app serves; `flask housekeeping` runs them once, for cron. Every job
is idempotent and safe to run from several processes at once, so no leader election is
needed: a second worker doing the same pass finds nothing left to do.
"""

from __future__ import annotations

import logging
import random
import threading

from flask import Flask

from shared.contributions import Job, contributions
from shared.extensions import db

log = logging.getLogger(__name__)

__all__ = ["Job", "health", "jobs_of", "run_jobs", "start_thread"]


def _deliver_mail() -> int:
    from shared.mail import deliver_due

    return deliver_due()


#: The core's own jobs: the mail outbox (retries, and mail of a process that died).
CORE_JOBS = [Job("mail.deliver", _deliver_mail, 60)]


def jobs_of(app: Flask) -> list[Job]:
    """The core's jobs and those the app's blueprints contributed (`contribute(bp, jobs=[...])`)."""
    return [*CORE_JOBS, *contributions(app).jobs]


#: job name -> whether its last run in this process succeeded (for /healthz)
_last_ok: dict[str, bool] = {}


def run_jobs(app: Flask, jobs: list[Job] | None = None) -> dict[str, int]:
    """Run each job once in its own transaction; a failing job is logged, others still run."""
    done: dict[str, int] = {}
    for job in jobs_of(app) if jobs is None else jobs:
        with app.app_context():
            try:
                done[job.name] = job.run()
                db.session.commit()
                _last_ok[job.name] = True
            except Exception:
                _last_ok[job.name] = False
                db.session.rollback()
                log.exception("housekeeping job %s failed", job.name)
            finally:
                db.session.remove()
    return done


def health() -> str:
    """For /healthz: "off" before any job ran in this process, "degraded" while the last
    run of some job failed, else "ok"."""
    if not _last_ok:
        return "off"
    return "ok" if all(_last_ok.values()) else "degraded"


def start_thread(
    app: Flask, stop: threading.Event | None = None, jobs: list[Job] | None = None
) -> threading.Thread:
    """Run the jobs (default: the app's) in a daemon thread, each at its interval (with
    jitter across workers)."""
    stop = stop or threading.Event()
    jobs = jobs_of(app) if jobs is None else jobs

    def loop() -> None:
        tick = min((job.every_seconds for job in jobs), default=30)
        due = {job.name: random.uniform(0, job.every_seconds) for job in jobs}  # noqa: S311 (jitter)
        while not stop.wait(tick):
            for job in jobs:
                due[job.name] -= tick
                if due[job.name] <= 0:
                    due[job.name] = job.every_seconds
                    run_jobs(app, [job])

    thread = threading.Thread(target=loop, name="passline-housekeeping", daemon=True)
    thread.start()
    return thread

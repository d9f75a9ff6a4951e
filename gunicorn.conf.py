"""gunicorn settings for passline, read from the environment.

Start in production with `gunicorn wsgi:app` from the project folder (this file is picked up
automatically). Every setting has a default that suits one school on a 2-core server:

| variable | default | meaning |
| --- | --- | --- |
| PASSLINE_BIND | 127.0.0.1:8000 | address to listen on (put a TLS reverse proxy in front) |
| WEB_CONCURRENCY | cores + 1 | worker processes |
| PASSLINE_THREADS | 2 | threads per worker (live screens poll; threads keep them cheap) |
| PASSLINE_TIMEOUT | 30 | seconds before a stuck worker is restarted |
| PASSLINE_GRACEFUL_TIMEOUT | 20 | seconds a worker may finish requests on restart/stop |
| PASSLINE_KEEPALIVE | 5 | seconds to keep an idle connection open |
| PASSLINE_REUSE_PORT | on | a listening socket per worker, so kept-open connections spread evenly |
| PASSLINE_ACCESS_LOG | - | access log file, `-` = stdout, empty = off |
| PASSLINE_HOUSEKEEPING | on | run housekeeping jobs (end overrun passes) in each worker |

Access log lines are redacted (shared/logredact.py): no tokens or free text from URLs.
"""

import gc
import multiprocessing
import os


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


bind = os.environ.get("PASSLINE_BIND", "127.0.0.1:8000").split(",")
# Few threads per worker (docs/performance.md has the measurements): a write waits on the
# database a dozen times or more, and after each answer it needs its worker's one
# interpreter lock back; the fewer threads share it, the sooner it gets it.
workers = _int("WEB_CONCURRENCY", multiprocessing.cpu_count() + 1)
worker_class = "gthread"
threads = _int("PASSLINE_THREADS", 2)
timeout = _int("PASSLINE_TIMEOUT", 30)
graceful_timeout = _int("PASSLINE_GRACEFUL_TIMEOUT", 20)
keepalive = _int("PASSLINE_KEEPALIVE", 5)
backlog = _int("PASSLINE_BACKLOG", 2048)
# Each worker listens on its own socket and the kernel spreads new connections evenly.
# Screens keep their connection open and poll on it all day; with one shared socket
# most of them land on one worker, which then runs out of its one core (GIL) while
# the others idle.
reuse_port = os.environ.get("PASSLINE_REUSE_PORT", "on").lower() not in ("0", "off", "false", "no")
accesslog = os.environ.get("PASSLINE_ACCESS_LOG", "-") or None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
logger_class = "shared.logredact.RedactingLogger"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'
# Trust X-Forwarded-* only from the proxies named by FORWARDED_ALLOW_IPS (gunicorn's own
# variable, default 127.0.0.1); the app's PROXY_COUNT handles the rest.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def post_worker_init(worker):
    """Freeze the loaded app for the garbage collector; start the housekeeping thread.

    Everything loaded so far (modules, models, templates) lives as long as the worker;
    `gc.freeze()` moves it out of the collector's reach, so a full collection scans
    only what requests made since, instead of stopping every thread of the worker while
    it walks the whole app (docs/performance.md).
    """
    gc.collect()
    gc.freeze()
    if os.environ.get("PASSLINE_HOUSEKEEPING", "on").lower() in ("0", "off", "false", "no"):
        return
    from shared.housekeeping import start_thread

    start_thread(worker.wsgi)

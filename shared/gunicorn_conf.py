"""gunicorn settings for passline, read from the environment.

Shipped inside the package, so an installed passline serves with them wherever it is
started: `passline serve` runs `gunicorn -c python:shared.gunicorn_conf 'shared:create_app()'`;
in a source checkout `gunicorn wsgi:app` reads the top-level gunicorn.conf.py, which
imports this module. Every setting has a default that suits one school on a 2-core server:

| variable | default | meaning |
| --- | --- | --- |
| PASSLINE_BIND | 127.0.0.1:8000 | address to listen on (put a TLS reverse proxy in front) |
| WEB_CONCURRENCY | cores + 1 | worker processes |
| PASSLINE_THREADS | 2 | threads per worker (live screens poll; threads keep them cheap) |
| PASSLINE_WORKER_CLASS | gthread | `gevent`: no thread per connection (live push streams) |
| PASSLINE_WORKER_CONNECTIONS | 1000 (gevent: 5000) | connections a worker keeps open at once |
| PASSLINE_TIMEOUT | 30 | seconds before a stuck worker is restarted |
| PASSLINE_GRACEFUL_TIMEOUT | 20 | seconds a worker may finish requests on restart/stop |
| PASSLINE_KEEPALIVE | 5 | seconds to keep an idle connection open |
| PASSLINE_REUSE_PORT | off | on: a listening socket per worker (kept-open connections spread) |
| PASSLINE_CONTROL_SOCKET | (none) | path of gunicorn's control socket (`gunicornc`) |
| PASSLINE_ACCESS_LOG | - | access log file, `-` = stdout, empty = off |
| PASSLINE_HOUSEKEEPING | on | housekeeping jobs (end overrun passes) in each worker |
| PROMETHEUS_MULTIPROC_DIR | a temporary folder | the workers' metrics (shared/metrics.py) |

Access log lines are redacted (shared/logredact.py): no tokens or free text from URLs;
unchanged live polls are counted once a minute unless PASSLINE_LOG_POLLS=on;
PASSLINE_LOG_FORMAT=json writes JSON lines.

A port that is already taken stops the start at once with a clear error (`on_starting`),
whether or not PASSLINE_REUSE_PORT is on: with SO_REUSEPORT a second server on the same
port would otherwise join the first one and silently take half of its requests.
"""

import contextlib
import errno
import gc
import glob
import multiprocessing
import os
import shutil
import socket
import tempfile


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


bind = os.environ.get("PASSLINE_BIND", "127.0.0.1:8000").split(",")
# Few threads per worker (docs/performance.md has the measurements): a write waits on the
# database a dozen times or more, and after each answer it needs its worker's one
# interpreter lock back; the fewer threads share it, the sooner it gets it.
workers = _int("WEB_CONCURRENCY", multiprocessing.cpu_count() + 1)
# gevent (`pip install 'passline[push]'`): every live push stream is a greenlet, not a
# thread, so one process keeps thousands open; the measured set-up runs it as a second
# instance for /live/stream only (deploy/nginx.conf, docs/performance.md).
worker_class = os.environ.get("PASSLINE_WORKER_CLASS", "gthread").strip() or "gthread"
threads = _int("PASSLINE_THREADS", 2)
worker_connections = _int("PASSLINE_WORKER_CONNECTIONS", 5000 if worker_class == "gevent" else 1000)
timeout = _int("PASSLINE_TIMEOUT", 30)
graceful_timeout = _int("PASSLINE_GRACEFUL_TIMEOUT", 20)
keepalive = _int("PASSLINE_KEEPALIVE", 5)
backlog = _int("PASSLINE_BACKLOG", 2048)
# On: each worker listens on its own socket and the kernel spreads new connections evenly.
# Screens keep their connection open and poll on it all day; with one shared socket
# most of them land on one worker, which then runs out of its one core (GIL) while
# the others idle (docs/performance.md). Off by default: SO_REUSEPORT also lets any other
# server started on the same port share it (on_starting below refuses that case).
reuse_port = os.environ.get("PASSLINE_REUSE_PORT", "off").lower() in ("1", "on", "true", "yes")
# gunicorn's control socket defaults to one path per user ($XDG_RUNTIME_DIR/gunicorn.ctl),
# which every instance on the machine would take over from the one before: none unless
# PASSLINE_CONTROL_SOCKET names one for this instance.
control_socket = os.environ.get("PASSLINE_CONTROL_SOCKET", "").strip() or "gunicorn.ctl"
control_socket_disable = not os.environ.get("PASSLINE_CONTROL_SOCKET", "").strip()
accesslog = os.environ.get("PASSLINE_ACCESS_LOG", "-") or None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
logger_class = "shared.logredact.RedactingLogger"
access_log_format = '%(t)s %(h)s "%(r)s" %(s)s %(b)s %(M)sms'
# Trust X-Forwarded-* only from the proxies named by FORWARDED_ALLOW_IPS (gunicorn's own
# variable, default 127.0.0.1); the app's PROXY_COUNT handles the rest.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


# Prometheus multiprocess mode (shared/metrics.py): every worker writes its counts to files
# in this folder and /metrics adds them up. A folder of our own unless the environment
# names one; set before any worker starts, so each inherits it.
_metrics_folder_made = None
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _metrics_folder_made = tempfile.mkdtemp(prefix="passline-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_folder_made


def _port_taken(address: tuple) -> bool:
    """Whether another socket listens on this TCP address (a bind without SO_REUSEPORT fails)."""
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
        try:
            probe.bind(address[:2])
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return True
            raise
    return False


def on_starting(server):
    """Refuse to start on a port another server listens on (see the module docstring), and
    empty the metrics folder: counts left by an earlier run would be added to this one's.

    Both are skipped when gunicorn re-executes itself for an upgrade (it inherits its
    own sockets, and the old workers' counts still hold).
    """
    if os.environ.get("GUNICORN_FD") or os.environ.get("LISTEN_FDS"):
        return
    for left in glob.glob(os.path.join(os.environ["PROMETHEUS_MULTIPROC_DIR"], "*.db")):
        # A worker of an earlier run may remove its own file at the same moment.
        with contextlib.suppress(FileNotFoundError):
            os.remove(left)
    for address in server.cfg.address:
        if isinstance(address, tuple) and _port_taken(address):
            host, port = address[:2]
            raise RuntimeError(
                f"{host}:{port} is already in use by another server: stop it, or choose "
                "another address with PASSLINE_BIND"
            )


def post_worker_init(worker):
    """Freeze the loaded app for the garbage collector; start the housekeeping thread now
    rather than at the worker's first request (it is on unless PASSLINE_HOUSEKEEPING=off).

    Everything loaded so far (modules, models, templates) lives as long as the worker;
    `gc.freeze()` moves it out of the collector's reach, so a full collection scans
    only what requests made since, instead of stopping every thread of the worker while
    it walks the whole app (docs/performance.md).
    """
    gc.collect()
    gc.freeze()
    from shared.housekeeping import ensure_running

    _limit_live_streams(worker)
    ensure_running(worker.wsgi)


def _limit_live_streams(worker) -> None:
    """Under the threaded worker a live push stream holds a thread for as long as it is
    open: a worker keeps two threads for everything else and opens streams on the rest
    (none with the default two threads: its screens poll, as before). A gevent worker
    holds none per stream. LIVE_STREAMS in the environment says otherwise. Whichever
    worker it is, its streams end at once when it is told to stop, rather than holding
    it open until the graceful timeout."""
    import signal

    from shared.live_push import hub

    app = getattr(worker, "wsgi", None)
    config = getattr(app, "config", None)
    threaded = worker.cfg.worker_class_str != "gevent"
    if config is not None and threaded and not os.environ.get("LIVE_STREAMS", "").strip():
        config["LIVE_STREAMS"] = max(0, worker.cfg.threads - 2)
    if config is not None and config.get("LIVE_STREAMS"):
        hub.start(app)
    for number in (signal.SIGTERM, signal.SIGQUIT, signal.SIGINT):
        previous = signal.getsignal(number)
        if callable(previous):
            signal.signal(number, _ending_streams_first(hub, previous))


def _ending_streams_first(hub, previous):
    def handle(number, frame):
        hub.shutdown()
        previous(number, frame)

    return handle


def child_exit(server, worker):
    """A worker that ended no longer counts in the live gauges (connections in use)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _metrics_folder_made:
        shutil.rmtree(_metrics_folder_made, ignore_errors=True)

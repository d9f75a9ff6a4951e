"""WSGI entry point: `gunicorn wsgi:app`."""

from shared import create_app

app = create_app()

import os, time, threading
if os.environ.get("PROF_STMTS"):
    from flask import request, g
    from sqlalchemy import event
    from shared.extensions import db
    _out = open(f"/tmp/prof/stmts_{os.getpid()}.log", "a", buffering=1)
    with app.app_context():
        engine = db.engine
    _local = threading.local()
    @event.listens_for(engine, "before_cursor_execute")
    def _b(conn, cursor, statement, params, context, executemany):
        _local.t = time.perf_counter(); _local.c = time.thread_time()
    @event.listens_for(engine, "after_cursor_execute")
    def _a(conn, cursor, statement, params, context, executemany):
        s = getattr(_local, "stats", None)
        if s is not None:
            s[0] += 1; s[1] += time.perf_counter() - _local.t
    @app.before_request
    def _start():
        _local.stats = [0, 0.0]; _local.t0 = time.perf_counter(); _local.c0 = time.thread_time()
    @app.teardown_request
    def _end(exc):
        if request.method != "POST":
            _out.write("G\n")
        else:
            n, st = _local.stats
            _out.write(f"{request.path} total={1000*(time.perf_counter()-_local.t0):.1f} stmts={n} stmt_ms={1000*st:.1f} cpu={1000*(time.thread_time()-_local.c0):.1f}\n")
        _local.stats = None


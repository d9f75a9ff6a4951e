"""A district's history on PostgreSQL, and what retention and housekeeping cost on it.

    python -m bench.purge [--schools 40] [--kept-days 60] [--due-days 30] [--runs 3]
                          [--pg-database passline_bench_purge] [--rebuild]

Builds (once, into the database `<pg-database>_built`, kept for the next run unless
`--rebuild`) `--schools` demo-sized schools (bench/district_data.py) and, with INSERT ...
SELECT on the server, their history ending yesterday: a dismissal every weekday with
about 85% of the school's families entering the car line (a car waits 30 s to 15 min,
to the microsecond) and their students called, and about 0.6 hall passes per student
per weekday. Each school keeps `--kept-days` days of dismissals and passes, except the
first, which keeps a year (365 days), so the car line report has a year to read; every
school's history goes `--due-days` weekdays further back, which the purge is due to
delete. Each measurement runs on a fresh copy of that database (CREATE DATABASE ...
TEMPLATE), so "before" and "after" code read the same rows:

1. `flask purge --dry-run`'s counts, school by school (`purge_school(dry_run=True)`,
   in this process): each school's time, the slowest and the total;
2. housekeeping's first run and its second (`run_jobs`, one job at a time, in this
   process): each job's time;
3. the app under gunicorn (2 workers x 2 threads): the first school's office starts
   today's dismissal and pairs a dismissal TV; the TV's live region
   (`GET /carline/tv/calls`, its full answer each time) is fetched 5 times a second
   while the curb phone enters a car every 2 s, first for `--idle-seconds` with nothing
   else running, then while `flask purge` runs (a process of its own, as from cron):
   p50 / p95 / max of each, and the purge's time;
4. the car line report of the first school over its year (`GET /carline/reports`,
   signed in as its office, through the same server), median of `--runs` after a
   warm-up.

Everything runs on this machine: the load of other jobs shows in every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bench.district import (
    PG_ADMIN_URL,
    ROOT,
    base_env,
    pair,
    percentile,
    sign_in,
    start_gunicorn,
    wait_healthy,
)

PG_DATABASE = "passline_bench_purge"
TZ = "America/Chicago"
YEAR = 365


def _admin(statement: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as connection:
        connection.execute(statement)


def _exists(name: str) -> bool:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL) as connection:
        row = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        return row.fetchone() is not None


def _url(name: str) -> str:
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


def first_day(kept_days: int, due_days: int, today: date) -> date:
    """The oldest day of a school's history: `due_days` weekdays before its cutoff."""
    day, due = today - timedelta(days=kept_days), 0
    while due < due_days:
        day -= timedelta(days=1)
        if day.weekday() < 5:
            due += 1
    return day


HISTORY_SQL = [
    # A dismissal every weekday of each school's span, ended.
    """
    INSERT INTO dismissals (school_id, day, lanes, spots_per_lane, last_position, started_at,
                            ended_at, late_pickups)
    SELECT s.id, d::date, 2, 10, 0, (d::date + time '14:50') AT TIME ZONE s.timezone,
           (d::date + time '15:45') AT TIME ZONE s.timezone, 0
    FROM schools s JOIN spans ON spans.school_id = s.id
    CROSS JOIN LATERAL generate_series(spans.first_day, spans.last_day, interval '1 day') d
    WHERE extract(isodow FROM d) < 6
    """,
    # About 85% of the active families each day, loaded 30 s to 15 min after entering.
    """
    INSERT INTO queue_entries (dismissal_id, family_id, position, spot, status, entered_at,
                               at_spot_at, loaded_at, repeat_count)
    SELECT id, family_id, row_number() OVER (PARTITION BY id ORDER BY entered), 1, 'loaded',
           entered, entered + interval '20 seconds',
           entered + (30 + random() * 870) * interval '1 second', 0
    FROM (SELECT d.id, f.id AS family_id,
                 d.started_at + random() * interval '40 minutes' AS entered
          FROM dismissals d JOIN families f ON f.school_id = d.school_id AND f.active
          WHERE random() < 0.85) cars
    """,
    """
    INSERT INTO called_students (dismissal_id, queue_entry_id, student_id, mode, status,
                                 called_at, sent_at, left_at)
    SELECT DISTINCT ON (q.dismissal_id, fs.student_id) q.dismissal_id, q.id, fs.student_id,
           'car', 'loaded', q.entered_at, q.at_spot_at, q.loaded_at
    FROM queue_entries q JOIN family_students fs ON fs.family_id = q.family_id
    ORDER BY q.dismissal_id, fs.student_id, q.id
    """,
    # About 0.6 passes per student per weekday, 2 to 12 minutes each.
    """
    INSERT INTO hall_passes (school_id, student_id, destination_id, source, status,
                             started_at, ended_at, ended_by, time_limit_minutes, urgent, token)
    SELECT school_id, student_id, destination_id, 'kiosk', 'ended', started,
           started + (2 + random() * 10) * interval '1 minute', 'staff', 10, false,
           md5(random()::text || clock_timestamp()::text || student_id::text)
    FROM (SELECT st.school_id, st.id AS student_id, place.id AS destination_id,
                 ((d::date + time '08:00') AT TIME ZONE s.timezone)
                   + random() * interval '7 hours' AS started
          FROM students st JOIN schools s ON s.id = st.school_id
          JOIN spans ON spans.school_id = s.id
          JOIN LATERAL (SELECT id FROM destinations WHERE school_id = s.id
                        ORDER BY id LIMIT 1) place ON true
          CROSS JOIN LATERAL generate_series(spans.first_day, spans.last_day,
                                             interval '1 day') d
          CROSS JOIN generate_series(1, 2) k
          WHERE extract(isodow FROM d) < 6 AND random() < 0.3) passes
    """,
]


def build(env: dict[str, str], schools: int, kept_days: int, due_days: int) -> None:
    """The district, its retention periods and its history, in `env`'s database."""
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT, env=env, check=True, capture_output=True,
    )  # fmt: skip
    from sqlalchemy import text

    from bench.district_data import build_district
    from shared import create_app
    from shared.extensions import db

    os.environ.update({k: env[k] for k in ("DATABASE_URL", "PASSLINE_INSTANCE_PATH", "SECRET_KEY")})
    os.environ["DATABASE_STATEMENT_TIMEOUT"] = "0"  # the history's statements take minutes
    app = create_app()
    today = datetime.now(ZoneInfo(TZ)).date()
    with app.app_context():
        started = time.perf_counter()
        plans = build_district(schools)
        print(f"built {schools} schools in {time.perf_counter() - started:.0f} s", flush=True)
        db.session.execute(
            text("CREATE TEMPORARY TABLE spans (school_id int, first_day date, last_day date)")
        )
        for n, plan in enumerate(plans):
            kept = YEAR if n == 0 else kept_days
            db.session.execute(
                text(
                    "UPDATE schools SET settings = json_build_object('retention', "
                    "json_build_object('pass_history_days', :kept, "
                    "'dismissal_history_days', :kept)) WHERE id = :id"
                ),
                {"kept": kept, "id": plan.id},
            )
            db.session.execute(
                text("INSERT INTO spans VALUES (:id, :first, :last)"),
                {
                    "id": plan.id,
                    "first": first_day(kept, due_days, today),
                    "last": today - timedelta(days=1),
                },
            )
        for statement in HISTORY_SQL:
            started = time.perf_counter()
            rows = db.session.execute(text(statement)).rowcount
            db.session.commit()
            table = statement.split("INSERT INTO")[1].split()[0]
            print(f"  {rows:,} {table} in {time.perf_counter() - started:.0f} s", flush=True)
        db.session.remove()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql("VACUUM ANALYZE")
        db.engine.dispose()


def copy_of(built: str, name: str) -> None:
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _admin(f'CREATE DATABASE "{name}" TEMPLATE "{built}"')


def dry_runs_and_housekeeping(app) -> dict:
    """1 and 2: the dry run school by school, then housekeeping's first two runs."""
    from sqlalchemy import select

    from shared.extensions import db
    from shared.housekeeping import jobs_of, run_jobs
    from shared.models import School
    from shared.retention import purge_school

    result: dict = {}
    with app.app_context():
        seconds, due = [], 0
        for school in db.session.scalars(select(School).order_by(School.id)).all():
            started = time.perf_counter()
            counts = purge_school(school, dry_run=True)
            seconds.append(time.perf_counter() - started)
            due += sum(counts.values())
        db.session.remove()
    result["dry_run"] = {
        "schools": len(seconds),
        "rows_due": due,
        "median_s": round(statistics.median(seconds), 2),
        "max_s": round(max(seconds), 2),
        "total_s": round(sum(seconds), 1),
    }
    print(f"dry run: {result['dry_run']}", flush=True)
    for run in ("first", "second"):
        times = {}
        for job in jobs_of(app):
            started = time.perf_counter()
            changed = run_jobs(app, [job]).get(job.name)
            times[job.name] = (round(time.perf_counter() - started, 2), changed)
        result[f"housekeeping_{run}"] = times
        total = sum(t for t, _ in times.values())
        print(f"housekeeping, {run} run ({total:.2f} s): {times}", flush=True)
    return result


async def tv_and_purge(port: int, env: dict[str, str], email: str, idle: float) -> dict:
    """3: the TV's latency idle, then while `flask purge` runs; the purge's time."""
    office = await sign_in(port, email)
    start = await office.post("/carline/dismissal/start", {"lanes": "2", "spots_per_lane": "6"})
    if start.status != 302:
        raise RuntimeError(f"could not start dismissal: {start.status}")
    tv = await pair(port, office, "display", "dismissal", "TV bench")
    curb = await pair(port, office, "scanner", "dismissal", "Curb bench")
    await curb.get("/carline/curb")
    await office.close()
    import psycopg

    with psycopg.connect(env["DATABASE_URL"]) as connection:
        tags = [
            row[0]
            for row in connection.execute(
                "SELECT tag_number FROM families WHERE active AND school_id = "
                "(SELECT id FROM schools WHERE code = 'B001') ORDER BY tag_number"
            )
        ]

    async def measure(until_done) -> tuple[list[float], list[float], int]:
        tv_ms, curb_ms, errors = [], [], 0

        async def tv_loop():
            nonlocal errors
            while not until_done():
                response = await tv.request("GET", "/carline/tv/calls")
                if response.status != 200:
                    errors += 1
                tv_ms.append(response.seconds * 1000)
                await asyncio.sleep(0.2)

        async def curb_loop():
            nonlocal errors
            while not until_done() and tags:
                response = await curb.post(
                    "/carline/curb/entries",
                    {"entry": str(tags.pop()), "key": uuid.uuid4().hex},
                    headers={"HX-Request": "true"},
                )
                if response.status != 200:
                    errors += 1
                curb_ms.append(response.seconds * 1000)
                await asyncio.sleep(2)

        await asyncio.gather(tv_loop(), curb_loop())
        return tv_ms, curb_ms, errors

    def figures(values: list[float]) -> dict:
        return {
            "n": len(values),
            "p50_ms": percentile(values, 50),
            "p95_ms": percentile(values, 95),
            "max_ms": round(max(values), 1) if values else None,
        }

    stop_idle = time.monotonic() + idle
    idle_tv, idle_curb, idle_errors = await measure(lambda: time.monotonic() > stop_idle)
    started = time.monotonic()
    purge = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "flask", "--app", "wsgi", "purge",
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output: list[str] = []

    async def read_output():
        async for line in purge.stdout:
            output.append(line.decode().rstrip())
        await purge.wait()

    reader = asyncio.ensure_future(read_output())
    busy_tv, busy_curb, busy_errors = await measure(reader.done)
    purge_seconds = time.monotonic() - started
    failed = output[-3:] if purge.returncode != 0 else None  # e.g. the statement timeout
    deleted = sum(
        int(part.rsplit(" ", 1)[1])
        for line in output
        if line.startswith("B") and ": deleted " in line  # a school's line: "B001: deleted ..."
        for part in line.split(": deleted ", 1)[1].split(", ")
    )
    result = {
        "purge_s": round(purge_seconds, 1),
        "purge_failed": failed,
        "purge_rows": deleted,
        "tv_idle": figures(idle_tv),
        "tv_during_purge": figures(busy_tv),
        "curb_idle": figures(idle_curb),
        "curb_during_purge": figures(busy_curb),
        "errors": idle_errors + busy_errors,
    }
    print(f"purge and the TV: {result}", flush=True)
    await tv.close()
    await curb.close()
    return result


async def carline_report(port: int, email: str, first: date, last: date, runs: int) -> dict:
    """4: the first school's car line report over its year, median of `runs`."""
    office = await sign_in(port, email)
    query = f"/carline/reports?from={first.isoformat()}&to={last.isoformat()}"
    await office.get(query)  # warm-up
    seconds, statuses = [], set()
    for _ in range(runs):
        response = await office.get(query)
        statuses.add(response.status)
        seconds.append(response.seconds * 1000)
    await office.close()
    result = {
        "median_ms": round(statistics.median(seconds), 1),
        "all_ms": [round(s) for s in seconds],
        "statuses": sorted(statuses),
    }
    print(f"car line report, {first} to {last}: {result}", flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schools", type=int, default=40)
    parser.add_argument("--kept-days", type=int, default=60)
    parser.add_argument("--due-days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--idle-seconds", type=float, default=20)
    parser.add_argument("--port", type=int, default=8790)
    parser.add_argument("--pg-database", default=PG_DATABASE)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the measured copy")
    args = parser.parse_args(argv)
    built = f"{args.pg_database}_built"
    with tempfile.TemporaryDirectory(prefix="passline-bench-purge-") as scratch:
        workdir = Path(scratch)
        if args.rebuild or not _exists(built):
            _admin(f'DROP DATABASE IF EXISTS "{built}" WITH (FORCE)')
            _admin(f'CREATE DATABASE "{built}"')
            started = time.perf_counter()
            try:
                build(base_env(_url(built), workdir), args.schools, args.kept_days, args.due_days)
            except BaseException:
                _admin(f'DROP DATABASE IF EXISTS "{built}" WITH (FORCE)')  # not half built
                raise
            print(f"built the history in {time.perf_counter() - started:.0f} s", flush=True)
        os.environ.pop("DATABASE_STATEMENT_TIMEOUT", None)  # measured with the app's own
        copy_of(built, args.pg_database)
        env = {**base_env(_url(args.pg_database), workdir), "PASSLINE_HOUSEKEEPING": "off"}
        os.environ.update(env)
        from shared import create_app

        app = create_app()
        result = dry_runs_and_housekeeping(app)
        with app.app_context():
            from shared.extensions import db

            db.engine.dispose()
        server = start_gunicorn(env, args.port, 2, 2, workdir / "gunicorn.log")
        try:
            asyncio.run(wait_healthy(args.port))
            today = datetime.now(ZoneInfo(TZ)).date()
            first = today - timedelta(days=YEAR)
            result["report_before_purge"] = asyncio.run(
                carline_report(args.port, "office@s1.bench.example", first, today, args.runs)
            )
            result.update(
                asyncio.run(
                    tv_and_purge(args.port, env, "office@s1.bench.example", args.idle_seconds)
                )
            )
        finally:
            server.terminate()
            server.wait()
        if not args.keep:
            _admin(f'DROP DATABASE IF EXISTS "{args.pg_database}" WITH (FORCE)')
    print(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

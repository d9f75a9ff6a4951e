"""District load benchmark: many schools' screens polling while cars and passes come in.

    python -m bench.district --db sqlite|postgres --screens S --seconds T --json OUT

1. Makes a fresh database (a SQLite file, or the PostgreSQL database `passline_bench` on
   127.0.0.1, or the one named by `--pg-database`), migrates it with `flask db upgrade`
   and loads a district: S/100 schools (at least one), each with the demo school's roster
   (bench/district_data.py).
2. Starts the app under gunicorn with gunicorn.conf.py (`--workers`, `--threads`).
3. Over HTTP, like a real district: the office of each school signs in and pairs the
   screens with pairing codes (dismissal TVs) and one curb phone, and starts dismissal.
4. Every screen opens its live region (the cold start: all at once, reported as
   `cold_start_all_screens_ms`) and then polls it once a second with the version it has.
   Meanwhile each school's curb phone enters a car every `--car-every` seconds and each
   school's teacher starts a pass every `--pass-every` seconds and ends it a few seconds
   later. The first `--warmup` seconds warm the server up (each worker compiles its
   statements and templates on its first requests); the T seconds after them are
   measured. Errors count from the start.
5. Then, on the same server, the throughput of unchanged polls (204) and of /healthz.

Scan-to-screen latency: from the moment a curb entry is acknowledged to the moment each
screen of that school first receives a response showing the car's tag number.
Everything runs on this machine: the load generator shares its CPUs with the server.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from bench.http import Client

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_BENCH_DB = "passline_bench"
TV_POLL = "/carline/tv/calls"
_TAGS = re.compile(rb'class="tv-way">(\d+)<')
_VERSION = re.compile(rb"[?&]v=(\d+)")
_CODE = re.compile(r'class="pairing-code"[^>]*>([^<]+)<')
_PASS_END = re.compile(r"/hallpass/passes/(\d+)/end")
OK_STATUSES = {200, 204, 302}


@dataclass
class Stats:
    polls: int = 0
    poll_ms: list[float] = field(default_factory=list)
    curb_ms: list[float] = field(default_factory=list)
    pass_ms: list[float] = field(default_factory=list)
    lag_ms: list[float] = field(default_factory=list)
    nobody_to_call: int = 0
    #: screen index -> when its first poll was answered (the cold start)
    first_answer: dict[int, float] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    #: (school id, tag) -> when the curb entry was acknowledged
    acked: dict[tuple[int, int], float] = field(default_factory=dict)
    #: (screen index, school id, tag) -> when that screen first showed it
    seen: dict[tuple[int, int, int], float] = field(default_factory=dict)

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, math.ceil(p / 100 * len(ordered)) - 1)
    return round(ordered[rank], 1)


# Setup


def fresh_database(kind: str, workdir: Path, pg_database: str = PG_BENCH_DB) -> str:
    if kind == "sqlite":
        return f"sqlite:///{workdir / 'bench.sqlite3'}"
    import psycopg
    from psycopg import sql

    name = sql.Identifier(pg_database)
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        connection.execute(sql.SQL("CREATE DATABASE {}").format(name))
    return f"postgresql://postgres@127.0.0.1:5432/{pg_database}"


def base_env(database_url: str, workdir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "PASSLINE_INSTANCE_PATH": str(workdir),
        "SECRET_KEY": "bench-secret-key-not-for-production",
        # The measured set-up: a listening socket per worker (docs/performance.md).
        "PASSLINE_REUSE_PORT": "on",
    }


def migrate_and_load(env: dict[str, str], schools: int):
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "PASSLINE_INSTANCE_PATH", "SECRET_KEY")})
    from bench.district_data import build_district
    from shared import create_app
    from shared.extensions import db

    app = create_app()
    with app.app_context():
        plans = build_district(schools)
        if db.engine.dialect.name == "postgresql":
            # Statistics, as a database in use has them (autovacuum would gather them a
            # minute later, in the middle of the run): the planner needs them.
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                c.exec_driver_sql("ANALYZE")
        return plans


def start_gunicorn(env: dict[str, str], port: int, workers: int, threads: int, log: Path):
    server_env = {
        **env,
        "PASSLINE_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": str(workers),
        "PASSLINE_THREADS": str(threads),
        "PASSLINE_ACCESS_LOG": "",
        "PASSLINE_KEEPALIVE": "10",
        "PASSLINE_BACKLOG": "4096",
    }
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "wsgi:app"],
            cwd=ROOT,
            env=server_env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def wait_healthy(port: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        client = Client("127.0.0.1", port, timeout=2)
        try:
            if (await client.get("/healthz")).status == 200:
                return
        except (OSError, TimeoutError):
            pass
        finally:
            await client.close()
        await asyncio.sleep(0.2)
    raise RuntimeError("the server did not become healthy")


async def sign_in(port: int, email: str) -> Client:
    from bench.district_data import BENCH_PASSWORD

    client = Client("127.0.0.1", port)
    await client.get("/login")
    response = await client.post("/login", {"email": email, "password": BENCH_PASSWORD})
    if response.status != 302:
        raise RuntimeError(f"sign-in of {email} failed: {response.status}")
    await client.get("/dashboard")  # the CSRF token of the signed-in session
    return client


async def pair(port: int, office: Client, kind: str, purpose: str, label: str) -> Client:
    """Pair a new device the way an office does: a code on one screen, typed on the other."""
    await office.get("/devices/new")
    page = await office.post("/devices/new", {"kind": kind, "purpose": purpose, "label": label})
    match = _CODE.search(page.text)
    if page.status != 200 or match is None:
        raise RuntimeError(f"no pairing code ({page.status})")
    device = Client("127.0.0.1", port)
    await device.get("/pair")
    answer = await device.post("/pair", {"code": match.group(1).strip()})
    if answer.status != 302 or "passline_device" not in device.cookies:
        raise RuntimeError(f"pairing failed ({answer.status})")
    return device


# The load


async def screen_loop(
    index: int,
    school_id: int,
    device: Client,
    stats: Stats,
    times: tuple[float, float, float, float],
):
    """One screen: its first poll loads the region (like opening the page), then once a second.

    `times`: when the run started, this screen's phase in the second (0-1), when the
    measured window starts and when it stops.
    """
    started, phase, measure_from, stop = times
    version = -1
    # Each screen keeps its own moment in the second, as real screens do: computed from
    # one start, so a late wake-up (this event loop busy) does not bunch screens together.
    next_at = started + phase
    await until(next_at)
    while next_at < stop:
        try:
            response = await device.request("GET", f"{TV_POLL}?v={version}")
            received = time.monotonic()
            stats.first_answer.setdefault(index, received)
            if next_at >= measure_from:
                stats.polls += 1
                stats.poll_ms.append(response.seconds * 1000)
            if response.status == 200:
                match = _VERSION.search(response.body)
                version = int(match.group(1)) if match else version
                for tag in _TAGS.findall(response.body):
                    stats.seen.setdefault((index, school_id, int(tag)), received)
            elif response.status != 204:
                stats.error(f"poll {response.status}")
        except (OSError, TimeoutError, ConnectionError) as failure:
            stats.error(f"poll {type(failure).__name__}")
        next_at += 1.0
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))


async def until(moment: float) -> None:
    await asyncio.sleep(max(0.0, moment - time.monotonic()))


async def lag_loop(stats: Stats, measure_from: float, stop: float, every: float = 0.01):
    """How late this load generator's own event loop wakes up (its CPU share, not the server)."""
    await until(measure_from)
    while time.monotonic() < stop:
        asked = time.monotonic()
        await asyncio.sleep(every)
        stats.lag_ms.append(max(0.0, time.monotonic() - asked - every) * 1000)


async def curb_loop(plan, curb: Client, stats: Stats, window: tuple[float, float, float], every):
    """One school's curb phone: a car every `every` seconds from the start of the run
    (`window`: start, measured from, stop); only cars entered in the measured window
    count, so first writes (statements and templates compiled once per worker) are
    warm-up, as the polls' are."""
    started, measure_from, stop = window
    tags = list(plan.tag_numbers)
    random.shuffle(tags)
    await until(started + random.random() * every)  # noqa: S311
    while tags and time.monotonic() < stop:
        tag = tags.pop()
        measured = time.monotonic() >= measure_from
        try:
            response = await curb.post(
                "/carline/curb/entries",
                {"entry": str(tag), "key": uuid.uuid4().hex},
                headers={"HX-Request": "true"},
            )
            if response.status != 200:
                stats.error(f"curb {response.status}")
            elif measured:
                stats.curb_ms.append(response.seconds * 1000)
                if b"curb-nobody" in response.body:
                    # Its students were called by another car (carpools) or go home another
                    # way today: no screen will show this tag, rightly.
                    stats.nobody_to_call += 1
                else:
                    stats.acked[(plan.id, tag)] = time.monotonic()
        except (OSError, TimeoutError, ConnectionError) as failure:
            stats.error(f"curb {type(failure).__name__}")
        await asyncio.sleep(every)


async def pass_loop(plan, teacher: Client, stats: Stats, window: tuple[float, float, float], every):
    """One school's teacher: starts a pass every `every` seconds and ends it halfway to
    the next (`window` and what is measured: as in `curb_loop`)."""
    started, measure_from, stop = window
    students = list(plan.student_ids)
    random.shuffle(students)
    await until(started + random.random() * every)  # noqa: S311
    while students and time.monotonic() < stop:
        form = {
            "room_id": str(plan.room_id),
            "student_id": str(students.pop()),
            "destination_id": str(plan.destination_id),
        }
        measured = time.monotonic() >= measure_from
        try:
            begun = await teacher.post("/hallpass/passes", form, headers={"HX-Request": "true"})
            if begun.status != 200:
                stats.error(f"pass start {begun.status}")
            else:
                if measured:
                    stats.pass_ms.append(begun.seconds * 1000)
                ids = _PASS_END.findall(begun.text)
                await asyncio.sleep(every / 2)
                if ids:
                    ended = await teacher.post(
                        f"/hallpass/passes/{ids[0]}/end", {}, headers={"HX-Request": "true"}
                    )
                    if ended.status not in OK_STATUSES:
                        stats.error(f"pass end {ended.status}")
        except (OSError, TimeoutError, ConnectionError) as failure:
            stats.error(f"pass {type(failure).__name__}")
        await asyncio.sleep(every / 2)


async def throughput(port: int, path: str, cookies: dict[str, str], seconds: float, clients: int):
    """Requests per second of `path` with `clients` connections in a closed loop."""
    done = 0
    failures = 0
    stop = time.monotonic() + seconds

    async def worker():
        nonlocal done, failures
        client = Client("127.0.0.1", port)
        client.cookies = dict(cookies)
        try:
            while time.monotonic() < stop:
                response = await client.request("GET", path)
                if response.status in OK_STATUSES:
                    done += 1
                else:
                    failures += 1
        finally:
            await client.close()

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return done / (time.monotonic() - started), failures


async def prepare_school(port: int, plan, screens: int):
    """The office starts dismissal and pairs the school's TVs and curb phone, one by one."""
    office = await sign_in(port, plan.office_email)
    start = await office.post("/carline/dismissal/start", {"lanes": "2", "spots_per_lane": "6"})
    if start.status != 302:
        raise RuntimeError(f"could not start dismissal at {plan.code}: {start.status}")
    tvs = [
        await pair(port, office, "display", "dismissal", f"TV {plan.code}-{n}")
        for n in range(screens)
    ]
    curb = await pair(port, office, "scanner", "dismissal", f"Curb {plan.code}")
    await curb.get("/carline/curb")
    await office.close()
    teacher = await sign_in(port, plan.teacher_email)
    await teacher.get("/hallpass/")
    return tvs, curb, teacher


def _process_cpu(stat: Path) -> tuple[str, float] | None:
    """A process's name and CPU time (user + system) so far, from /proc/PID/stat."""
    try:
        name, fields = stat.read_text().split("(", 1)[1].rsplit(")", 1)
    except (OSError, IndexError, ValueError):
        return None  # gone meanwhile, or not Linux
    values = fields.split()
    return name, (int(values[11]) + int(values[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(root_pid: int) -> float:
    """CPU time used so far by a process and its children."""
    pids = [root_pid]
    children = Path(f"/proc/{root_pid}/task/{root_pid}/children")
    if children.exists():
        pids += [int(pid) for pid in children.read_text().split()]
    used = (_process_cpu(Path(f"/proc/{pid}/stat")) for pid in pids)
    return sum(seconds for _name, seconds in filter(None, used))


def postgres_cpu_seconds() -> float:
    """CPU time used so far by this machine's PostgreSQL processes."""
    used = (_process_cpu(stat) for stat in Path("/proc").glob("[0-9]*/stat"))
    return sum(seconds for name, seconds in filter(None, used) if name == "postgres")


async def run(args, plans, port: int, server_pid: int) -> dict:
    stats = Stats()
    per_school = [args.screens // len(plans)] * len(plans)
    for i in range(args.screens % len(plans)):
        per_school[i] += 1
    screens: list[tuple[int, Client]] = []
    curbs, teachers = [], []
    print(f"pairing {args.screens} screens and {len(plans)} curb phones over HTTP...", flush=True)
    prepared = await asyncio.gather(
        *(prepare_school(port, plan, count) for plan, count in zip(plans, per_school, strict=True))
    )
    for plan, (tvs, curb, teacher) in zip(plans, prepared, strict=True):
        screens.extend((plan.id, device) for device in tvs)
        curbs.append(curb)
        teachers.append(teacher)
    print(f"warming up for {args.warmup} s, then measuring for {args.seconds} s...", flush=True)
    started = time.monotonic()
    measure_from = started + args.warmup
    stop = measure_from + args.seconds
    cpu: dict[str, float] = {}

    async def measure_cpu():
        await until(measure_from)
        cpu.update(server=cpu_seconds(server_pid), client=time.process_time())
        cpu.update(database=postgres_cpu_seconds(), wall=time.monotonic())
        await until(stop)
        wall = time.monotonic() - cpu["wall"]
        cpu["server"] = (cpu_seconds(server_pid) - cpu["server"]) / wall
        cpu["client"] = (time.process_time() - cpu["client"]) / wall
        cpu["database"] = (postgres_cpu_seconds() - cpu["database"]) / wall

    tasks = [
        screen_loop(i, school_id, device, stats, (started, random.random(), measure_from, stop))  # noqa: S311
        for i, (school_id, device) in enumerate(screens)
    ]
    tasks += [
        curb_loop(p, c, stats, (started, measure_from, stop), args.car_every)
        for p, c in zip(plans, curbs, strict=True)
    ]
    tasks += [
        pass_loop(p, t, stats, (started, measure_from, stop), args.pass_every)
        for p, t in zip(plans, teachers, strict=True)
    ]
    tasks += [lag_loop(stats, measure_from, stop), measure_cpu()]
    # No garbage collection in this process while it measures, as timeit does: a full
    # collection stops this event loop, and every response in flight then looks that
    # much slower (docs/performance.md). What the run allocates is freed as it goes; the
    # few cycles wait for the collection after it.
    gc.collect()
    gc.disable()
    try:
        await asyncio.gather(*tasks)
    finally:
        gc.enable()
    server_cpu, client_cpu, database_cpu = cpu["server"], cpu["client"], cpu["database"]
    cold_start = max(stats.first_answer.values(), default=started) - started

    latencies, missed = [], 0
    screens_of = {}
    for index, (school_id, _device) in enumerate(screens):
        screens_of.setdefault(school_id, []).append(index)
    for (school_id, tag), acked_at in stats.acked.items():
        if acked_at > stop - 2.5:
            continue  # too late for every screen to have polled again
        for index in screens_of.get(school_id, []):
            seen_at = stats.seen.get((index, school_id, tag))
            if seen_at is None:
                missed += 1
            else:
                latencies.append(max(0.0, seen_at - acked_at) * 1000)
    for _school_id, device in screens:
        await device.close()

    print("measuring idle-poll and trivial-endpoint throughput...", flush=True)
    device_cookies = screens[0][1].cookies
    version_page = await screens[0][1].request("GET", f"{TV_POLL}?v=-1")
    version = int(_VERSION.search(version_page.body).group(1))
    idle_rps, idle_failures = await throughput(
        port,
        f"{TV_POLL}?v={version}",
        device_cookies,
        args.throughput_seconds,
        args.throughput_clients,
    )
    trivial_rps, trivial_failures = await throughput(
        port, "/healthz", {}, args.throughput_seconds, args.throughput_clients
    )
    errors = sum(stats.errors.values()) + missed
    return {
        "screens": args.screens,
        "seconds": args.seconds,
        "db": args.db,
        "schools": len(plans),
        "workers": args.workers,
        "threads": args.threads,
        "cpus": os.cpu_count(),
        "scan_to_screen_ms": {
            "p50": percentile(latencies, 50),
            "p95": percentile(latencies, 95),
            "max": round(max(latencies), 1) if latencies else None,
            "samples": len(latencies),
        },
        "curb_entry_ms": {
            "p50": percentile(stats.curb_ms, 50),
            "p95": percentile(stats.curb_ms, 95),
        },
        "pass_start_ms": {
            "p50": percentile(stats.pass_ms, 50),
            "p95": percentile(stats.pass_ms, 95),
        },
        "poll_ms": {"p50": percentile(stats.poll_ms, 50), "p95": percentile(stats.poll_ms, 95)},
        "polls": stats.polls,
        "warmup_seconds": args.warmup,
        "cold_start_all_screens_ms": round(cold_start * 1000, 1),
        "server_cpu_cores": round(server_cpu, 2),
        "load_generator_cpu_cores": round(client_cpu, 2),
        "postgres_cpu_cores": round(database_cpu, 2),
        "polls_per_second": round(stats.polls / args.seconds, 1),
        "idle_poll_rps": round(idle_rps, 1),
        "trivial_rps": round(trivial_rps, 1),
        "idle_to_trivial_ratio": round(idle_rps / trivial_rps, 3) if trivial_rps else None,
        "cars_entered": len(stats.acked) + stats.nobody_to_call,
        "cars_with_nobody_to_call": stats.nobody_to_call,
        "passes_started": len(stats.pass_ms),
        "errors": errors,
        "error_kinds": {
            **stats.errors,
            **({"screen never showed a car": missed} if missed else {}),
        },
        "throughput_failures": idle_failures + trivial_failures,
        "load_generator_lag_ms": {
            "p50": percentile(stats.lag_ms, 50),
            "p95": percentile(stats.lag_ms, 95),
            "max": round(max(stats.lag_ms), 1) if stats.lag_ms else None,
        },
        "mean_poll_ms": round(statistics.fmean(stats.poll_ms), 1) if stats.poll_ms else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument(
        "--pg-database",
        default=PG_BENCH_DB,
        help="PostgreSQL database to drop and make again for the run (several runs at once "
        "on one server each need their own)",
    )
    parser.add_argument("--screens", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--json", dest="json_out", help="write the results here as JSON")
    parser.add_argument("--schools", type=int, help="default: one per 100 screens")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--car-every", type=float, default=2.0, help="seconds between cars per school"
    )
    parser.add_argument(
        "--pass-every", type=float, default=4.0, help="seconds between passes per school"
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=5.0,
        help="seconds of polling before the measured seconds (every screen opens its page)",
    )
    parser.add_argument("--throughput-seconds", type=float, default=5.0)
    parser.add_argument("--throughput-clients", type=int, default=32)
    args = parser.parse_args(argv)
    schools = args.schools or max(1, args.screens // 100)
    with tempfile.TemporaryDirectory(prefix="passline-bench-") as tmp:
        workdir = Path(tmp)
        database_url = fresh_database(args.db, workdir, args.pg_database)
        env = base_env(database_url, workdir)
        print(f"loading {schools} schools into {args.db}...", flush=True)
        loaded = time.monotonic()
        plans = migrate_and_load(env, schools)
        print(f"  loaded in {time.monotonic() - loaded:.1f} s", flush=True)
        port = 18000 + os.getpid() % 1000
        log = workdir / "gunicorn.log"
        server = start_gunicorn(env, port, args.workers, args.threads, log)
        try:
            asyncio.run(wait_healthy(port))
            results = asyncio.run(run(args, plans, port, server.pid))
        finally:
            server.terminate()
            server.wait(timeout=30)
        server_log = log.read_text(errors="replace")
        results["server_5xx_or_tracebacks"] = server_log.count("Traceback")
    print(json.dumps(results, indent=2))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

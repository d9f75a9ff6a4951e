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
6. With `--push` (both modes in one run): the same load again with every screen on the
   live push stream instead of polling (shared/live_push.py): a second gunicorn with
   gevent workers (`--push-workers`) serves /live/stream only, as deploy/nginx.conf
   routes it, and each screen fetches its region from the app when the stream announces
   a newer version than it shows, as live.js does. `--drop` of the screens (10% by
   default) drop their stream once during the measured window and reconnect after a
   moment, resyncing by the versions the new stream starts with; a car any screen never
   showed counts as an error. Before the load, the idle CPU of both servers with every
   screen's stream open and nothing changing (`idle_cpu_cores`).

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


def start_gunicorn(
    env: dict[str, str], port: int, workers: int, threads: int, log: Path, **extra: str
):
    server_env = {
        **env,
        **extra,
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


async def curb_loop(
    plan, curb: Client, stats: Stats, window: tuple[float, float, float], every, half: int = 0
):
    """One school's curb phone: a car every `every` seconds from the start of the run
    (`window`: start, measured from, stop); only cars entered in the measured window
    count, so first writes (statements and templates compiled once per worker) are
    warm-up, as the polls' are."""
    started, measure_from, stop = window
    # Half the tags for each mode of a run with --push: a car of the push phase is not
    # on the screens already from the poll phase.
    tags = list(plan.tag_numbers)[half::2]
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


async def run(args, plans, port: int, server_pid: int, streams=None) -> dict:
    """The poll phase; then, with `streams` (the stream server's port and pid), the push
    phase on the same screens (its results under "push")."""
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
    if args.push_only:
        # The screens are paired; the polling load is left out (a machine too busy for it).
        return {
            "mode": "push only",
            "screens": args.screens,
            "schools": len(plans),
            "push": await run_push(
                args,
                plans,
                port,
                streams[0],
                [pid for pid in (server_pid, streams[1]) if pid is not None],
                (screens, curbs, teachers),
            ),
        }
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
        curb_loop(p, c, stats, (started, measure_from, stop), args.car_every, 0)
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
    shown = _VERSION.search(version_page.body)
    if shown is None:  # not the region (a 503 of a server too busy): said, and counted
        stats.error(f"region for the throughput: {version_page.status}")
    version = int(shown.group(1)) if shown else 0
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
    results = {
        "mode": "poll",
        "worker_class": "gevent" if args.push and args.push_server == "app" else "gthread",
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
    if streams is not None:
        stream_port, stream_pid = streams
        prepared = ([*screens], curbs, teachers)
        pids = [server_pid] if stream_pid is None else [server_pid, stream_pid]
        results["push"] = await run_push(args, plans, port, stream_port, pids, prepared)
    return results


# Push mode


async def open_stream(port: int, cookies: dict[str, str]):
    """A live push stream as a browser opens it: (reader, writer) after a 200."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
    writer.write(
        f"GET /live/stream?topics=dismissal HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Cookie: {cookie}\r\nAccept: text/event-stream\r\n\r\n".encode()
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
    status = int(head.split(b" ", 2)[1])
    if status != 200:
        writer.close()
        raise ConnectionError(f"stream {status}")
    return reader, writer


async def _chunks(reader):
    """The events of a chunked event stream: (name, data) pairs."""
    buffer = b""
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.strip() or b"0", 16)
        if size == 0:
            return
        buffer += await reader.readexactly(size + 2)
        buffer = buffer[:-2] if buffer.endswith(b"\r\n") else buffer
        while b"\n\n" in buffer:
            block, buffer = buffer.split(b"\n\n", 1)
            name, data = None, b""
            for line in block.split(b"\n"):
                if line.startswith(b"event: "):
                    name = line[7:]
                elif line.startswith(b"data: "):
                    data = line[6:]
            if name is not None:
                yield name, data


#: Push mode: every screen opens its stream at a random moment within this many seconds.
OPEN_SPREAD_SECONDS = 10.0
#: Push mode: a screen waits up to this long at random before it fetches a change, as
#: live.js does (SPREAD_MS), so a school's screens do not fetch in the same moment.
PUSH_SPREAD = 0.15


@dataclass
class PushStats:
    fetches: int = 0
    reconnects: int = 0
    events: int = 0
    open_streams: int = 0


async def push_screen_loop(
    index: int,
    school_id: int,
    device: Client,
    stats: Stats,
    push: PushStats,
    stream_port: int,
    clock: dict,
):
    """One screen on push: its region once (opening the page), then a fetch whenever the
    stream announces a newer version than it shows (a fetch in flight first ends; then
    it fetches again if a newer one came meanwhile). `clock["stop"]` ends it (set once
    every stream is open); `clock["drop"][index]`, if set, is when its stream drops once,
    to reconnect 0.5-2 s later."""
    shown = -1
    wanted = 0
    fetching = False
    dropped = False
    # Screens open their page at different moments, as real ones do: within OPEN_SPREAD.
    await asyncio.sleep(random.random() * OPEN_SPREAD_SECONDS)  # noqa: S311

    in_flight: set = set()

    async def fetch(after: float):
        nonlocal shown, fetching
        await asyncio.sleep(after)
        try:
            while wanted > shown:
                response = await device.request("GET", f"{TV_POLL}?v={shown}")
                received = time.monotonic()
                push.fetches += 1
                if response.status == 200:
                    match = _VERSION.search(response.body)
                    shown = int(match.group(1)) if match else shown
                    for tag in _TAGS.findall(response.body):
                        stats.seen.setdefault((index, school_id, int(tag)), received)
                elif response.status == 204:
                    return  # the version announced is the one shown
                else:
                    stats.error(f"fetch {response.status}")
                    return
        except (OSError, TimeoutError, ConnectionError) as failure:
            stats.error(f"fetch {type(failure).__name__}")
        finally:
            fetching = False

    def until_next() -> float:
        """Seconds until this stream is to drop or the run stops."""
        moments = [clock["stop"]]
        drop_at = clock["drop"].get(index)
        if drop_at is not None and not dropped:
            moments.append(drop_at)
        return min(moments) - time.monotonic()

    while time.monotonic() < clock["stop"]:
        try:
            reader, writer = await open_stream(stream_port, device.cookies)
        except (OSError, TimeoutError, ConnectionError) as failure:
            refused = str(failure).startswith("stream ")
            stats.error(f"{failure}" if refused else f"stream open {type(failure).__name__}")
            await asyncio.sleep(1 + random.random())  # noqa: S311
            continue
        push.open_streams += 1
        try:
            events = _chunks(reader)
            while (timeout := until_next()) > 0:
                try:
                    name, data = await asyncio.wait_for(anext(events), timeout)
                except TimeoutError:
                    break
                push.events += 1
                if name == b"version":
                    wanted = max(wanted, json.loads(data)["v"])
                    if wanted > shown and not fetching:
                        fetching = True
                        task = asyncio.ensure_future(fetch(random.random() * PUSH_SPREAD))  # noqa: S311
                        in_flight.add(task)
                        task.add_done_callback(in_flight.discard)
                elif name == b"end":
                    stats.error("stream ended by the server")
                    break
        except (OSError, ConnectionError, asyncio.IncompleteReadError, StopAsyncIteration):
            stats.error("stream lost")
        finally:
            push.open_streams -= 1
            writer.close()
        drop_at = clock["drop"].get(index)
        if not dropped and drop_at is not None and time.monotonic() >= drop_at:
            dropped = True
            push.reconnects += 1
            await asyncio.sleep(0.5 + 1.5 * random.random())  # noqa: S311


async def run_push(args, plans, port: int, stream_port: int, pids: list[int], prepared) -> dict:
    """The push phase: the same screens, curbs and teachers as the poll phase."""
    stats, push = Stats(), PushStats()
    screens, curbs, teachers = prepared
    print(f"push: opening {len(screens)} streams...", flush=True)
    clock: dict = {"stop": time.monotonic() + 3600, "drop": {}}
    screen_tasks = [
        asyncio.ensure_future(
            push_screen_loop(i, school_id, device, stats, push, stream_port, clock)
        )
        for i, (school_id, device) in enumerate(screens)
    ]
    opening = time.monotonic()
    while push.open_streams < len(screens) and time.monotonic() - opening < 120:
        await asyncio.sleep(0.2)
    opened_in = time.monotonic() - opening
    await asyncio.sleep(5)  # the first fetches (each page's region) settle

    def server_cpu() -> float:
        return sum(cpu_seconds(pid) for pid in pids)

    idle_seconds = 10.0
    print(f"push: {push.open_streams} streams open; idle for {idle_seconds:.0f} s...", flush=True)
    idle_streams, idle_start, idle_wall = push.open_streams, server_cpu(), time.monotonic()
    await asyncio.sleep(idle_seconds)
    idle_cpu = (server_cpu() - idle_start) / (time.monotonic() - idle_wall)

    started = time.monotonic()
    measure_from = started + args.warmup
    stop = measure_from + args.seconds
    clock["stop"] = stop
    for i in random.sample(range(len(screens)), int(len(screens) * args.drop)):
        clock["drop"][i] = measure_from + random.random() * max(1.0, args.seconds - 5)  # noqa: S311
    cpu: dict[str, float] = {}

    async def measure_cpu():
        await until(measure_from)
        cpu.update(server=server_cpu(), client=time.process_time())
        cpu.update(database=postgres_cpu_seconds(), wall=time.monotonic())
        await until(stop)
        wall = time.monotonic() - cpu["wall"]
        cpu["server"] = (server_cpu() - cpu["server"]) / wall
        cpu["client"] = (time.process_time() - cpu["client"]) / wall
        cpu["database"] = (postgres_cpu_seconds() - cpu["database"]) / wall

    print(f"push: warming up for {args.warmup} s, then measuring for {args.seconds} s...")
    window = (started, measure_from, stop)
    tasks = [
        curb_loop(p, c, stats, window, args.car_every, 1) for p, c in zip(plans, curbs, strict=True)
    ]
    tasks += [
        pass_loop(p, t, stats, window, args.pass_every)
        for p, t in zip(plans, teachers, strict=True)
    ]
    tasks += [lag_loop(stats, measure_from, stop), measure_cpu()]
    gc.collect()
    gc.disable()
    try:
        await asyncio.gather(*tasks)
        await asyncio.gather(*screen_tasks)
    finally:
        gc.enable()
    latencies, missed = _scan_to_screen(stats, screens, stop)
    return {
        "mode": "push",
        "push_server": args.push_server,
        "push_workers": args.push_workers if args.push_server == "split" else args.workers,
        "streams_opened_in_s": round(opened_in, 1),
        "streams_open_when_idle": idle_streams,
        "idle_cpu_cores": round(idle_cpu, 3),
        "scan_to_screen_ms": _summary(latencies),
        "curb_entry_ms": _summary(stats.curb_ms, with_max=False),
        "pass_start_ms": _summary(stats.pass_ms, with_max=False),
        "server_cpu_cores": round(cpu["server"], 2),
        "load_generator_cpu_cores": round(cpu["client"], 2),
        "postgres_cpu_cores": round(cpu["database"], 2),
        "region_fetches": push.fetches,
        "events": push.events,
        "screens_dropped_and_reconnected": push.reconnects,
        "cars_entered": len(stats.acked) + stats.nobody_to_call,
        "passes_started": len(stats.pass_ms),
        "errors": sum(stats.errors.values()) + missed,
        "error_kinds": {
            **stats.errors,
            **({"screen never showed a car": missed} if missed else {}),
        },
        "load_generator_lag_ms": _summary(stats.lag_ms),
    }


def _summary(values: list[float], with_max: bool = True) -> dict:
    summary = {"p50": percentile(values, 50), "p95": percentile(values, 95)}
    if with_max:
        summary["max"] = round(max(values), 1) if values else None
    summary["samples"] = len(values)
    return summary


def _scan_to_screen(stats: Stats, screens, stop: float) -> tuple[list[float], int]:
    """Each acknowledged car's delay to each screen of its school, and how many never
    showed it (cars acknowledged in the last 2.5 s are left out)."""
    latencies, missed = [], 0
    screens_of: dict[int, list[int]] = {}
    for index, (school_id, _device) in enumerate(screens):
        screens_of.setdefault(school_id, []).append(index)
    for (school_id, tag), acked_at in stats.acked.items():
        if acked_at > stop - 2.5:
            continue
        for index in screens_of.get(school_id, []):
            seen_at = stats.seen.get((index, school_id, tag))
            if seen_at is None:
                missed += 1
            else:
                latencies.append(max(0.0, seen_at - acked_at) * 1000)
    return latencies, missed


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
    parser.add_argument(
        "--push",
        action="store_true",
        help="then the same load on live push streams (a gevent server for /live/stream)",
    )
    parser.add_argument(
        "--push-only", action="store_true", help="with --push: leave the polling load out"
    )
    parser.add_argument("--push-workers", type=int, default=1, help="gevent workers for streams")
    parser.add_argument(
        "--push-server",
        choices=("split", "app"),
        default="split",
        help="split: a gevent server for /live/stream beside the threaded app (as deployed); "
        "app: the whole app on gevent workers (--workers), streams included",
    )
    parser.add_argument(
        "--drop", type=float, default=0.1, help="share of screens whose stream drops once"
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
        whole_app_on_gevent = args.push and args.push_server == "app"
        extra = {"PASSLINE_WORKER_CLASS": "gevent"} if whole_app_on_gevent else {}
        server = start_gunicorn(env, port, args.workers, args.threads, log, **extra)
        stream_server = stream_log = None
        if args.push and not whole_app_on_gevent:
            # The stream server, as deploy/nginx.conf routes /live/stream: gevent workers,
            # the same app; its own port.
            stream_log = workdir / "gunicorn-streams.log"
            stream_server = start_gunicorn(
                env,
                port + 1,
                args.push_workers,
                1,
                stream_log,
                PASSLINE_WORKER_CLASS="gevent",
                PASSLINE_HOUSEKEEPING="off",
            )
        try:
            asyncio.run(wait_healthy(port))
            if stream_server is not None:
                asyncio.run(wait_healthy(port + 1))
            streams = (port + 1, stream_server.pid) if stream_server is not None else None
            if whole_app_on_gevent:
                streams = (port, None)
            results = asyncio.run(run(args, plans, port, server.pid, streams))
        finally:
            for running in (server, stream_server):
                if running is not None:
                    running.terminate()
                    running.wait(timeout=30)
        server_log = log.read_text(errors="replace")
        results["server_5xx_or_tracebacks"] = server_log.count("Traceback")
        if stream_log is not None:
            stream_text = stream_log.read_text(errors="replace")
            results["push"]["stream_server_tracebacks"] = stream_text.count("Traceback")
            if "Traceback" in stream_text:
                at = stream_text.index("Traceback")
                results["push"]["stream_server_first_traceback"] = stream_text[at : at + 3000]
    print(json.dumps(results, indent=2))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

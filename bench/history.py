"""A year of a big high school's hall passes, and how long the report page takes on it.

    python -m bench.history --db sqlite|postgres [--students 2500] [--days 180] [--runs 3]

Builds a fresh database with the app's own schema (`flask db upgrade`), one school of
`--students` students (about 1.2 passes per student per school day, over `--days`
weekdays ending yesterday; 7 bell periods, 6 destinations, 100 teachers with 5 classes of
25 each; a pass is issued by the student's teacher of that period, or from the kiosk),
then signs an office account and a teacher in through the real sign-in form (Flask's
test client, in this process) and
times the report page: a year and 30 days, median of `--runs` after one warm-up, with the
statements each request ran (`--reuse DIR` keeps the database and reuses it). Three ways:

- "passes": no day summarized (the one statement over the raw passes);
- "summary": after `flask hallpass summarize` (its time is printed too);
- "per table" (before issue 25's third part): the old per-table functions and the
  materialized pass list, called directly with the same scope and filter.

`--csv` (or `--csv-only`) also times the CSV of every pass through the route, a year and
30 days, for the office: the first chunk, the whole file, its size and how much the
process's peak memory grew; `--keep-summary` reuses the last run's summary.

Audit events and the car line are not built (the report page does not read them).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from zoneinfo import ZoneInfo

from bench.district import ROOT, base_env, fresh_database

PG_DATABASE = "passline_bench_history"
PASSWORD = "bench-history-password-1"  # noqa: S105  (a throwaway benchmark account)
TZ = "America/Chicago"
PERIODS = [(clock(8 + n), clock(8 + n, 50)) for n in range(7)]
DESTINATIONS = [("Restroom", 5, 60), ("Water", 3, 10), ("Nurse", 15, 8), ("Office", 10, 8),
                ("Library", 15, 8), ("Counselor", 20, 6)]  # fmt: skip


def build(students: int, days: int) -> dict:
    """The school, its people and its passes (bulk inserts, in this process's app)."""
    from sqlalchemy import insert, select, text

    from hallpass.models import Destination, HallPass
    from shared.extensions import db
    from shared.models import (
        BellPeriod,
        Enrollment,
        Membership,
        Room,
        School,
        SchoolClass,
        Student,
        User,
        class_teachers,
    )
    from shared.passwords import hash_password

    rng = random.Random(25)  # noqa: S311  (repeatable made-up history, not a secret)
    school = School(name="Big High School", code="BHS", timezone=TZ, settings={})
    db.session.add(school)
    db.session.flush()
    sid = school.id
    secret = hash_password(PASSWORD)
    office = User(email="office@bench.example", name="Office", password_hash=secret)
    teachers = [
        User(email=f"t{n}@bench.example", name=f"Teacher {n:03d}", password_hash=secret)
        for n in range(100)
    ]
    db.session.add_all([office, *teachers])
    db.session.flush()
    db.session.add(Membership(user_id=office.id, school_id=sid, role="office"))
    db.session.add_all(Membership(user_id=t.id, school_id=sid, role="teacher") for t in teachers)
    rooms = [Room(school_id=sid, name=f"{100 + n}") for n in range(100)]
    places = [
        Destination(school_id=sid, name=name, time_limit_minutes=limit)
        for name, limit, _ in DESTINATIONS
    ]
    db.session.add_all([*rooms, *places])
    for weekday in range(5):
        for n, (start, end) in enumerate(PERIODS):
            db.session.add(
                BellPeriod(
                    school_id=sid, name=str(n + 1), weekday=weekday, start_time=start, end_time=end
                )
            )
    db.session.flush()
    db.session.execute(
        insert(Student),
        [
            {"school_id": sid, "student_number": f"{100000 + n}", "first_name": f"F{n}",
             "last_name": f"L{rng.randint(0, 5000):04d}", "grade": str(9 + n % 4)}
            for n in range(students)
        ],
    )  # fmt: skip
    student_ids = list(db.session.scalars(select(Student.id).where(Student.school_id == sid)))
    classes = []
    for t in range(len(teachers)):
        for p in range(5):
            classes.append(
                SchoolClass(school_id=sid, name=f"C{t}-{p}", room_id=rooms[t].id, period=str(p + 1))
            )
    db.session.add_all(classes)
    db.session.flush()
    db.session.execute(
        insert(class_teachers),
        [{"class_id": c.id, "user_id": teachers[n // 5].id} for n, c in enumerate(classes)],
    )
    enrollments = []
    #: student -> period index -> the teacher of their class then (who issues their passes)
    teacher_of: dict[int, dict[int, User]] = {}
    for n, c in enumerate(classes):
        for k in range(25):
            student = student_ids[(n * 25 + k) % len(student_ids)]
            enrollments.append({"class_id": c.id, "student_id": student})
            teacher_of.setdefault(student, {})[n % 5] = teachers[n // 5]
    db.session.execute(insert(Enrollment), enrollments)
    db.session.commit()

    tz = ZoneInfo(TZ)
    today = datetime.now(tz).date()
    day, school_days = today - timedelta(days=1), []
    while len(school_days) < days:
        if day.weekday() < 5:
            school_days.append(day)
        day -= timedelta(days=1)
    weights = [w for _, _, w in DESTINATIONS]
    batch, total = [], 0
    for day in reversed(school_days):
        for student in student_ids:
            for _ in range(rng.choice((0, 0, 1, 1, 1, 2, 2, 2)) if rng.random() < 0.9 else 3):
                n = rng.randrange(len(PERIODS))
                start = datetime.combine(day, PERIODS[n][0], tzinfo=tz) + timedelta(
                    minutes=rng.randint(-5, 49)
                )
                place = rng.choices(places, weights)[0]
                minutes = max(1.0, rng.gauss(place.time_limit_minutes * 0.8, 3))
                mine = teacher_of.get(student, {}).get(n)
                teacher = mine if rng.random() < 0.75 else None
                batch.append(
                    {"school_id": sid, "student_id": student, "destination_id": place.id,
                     "from_room_id": rooms[rng.randrange(100)].id,
                     "source": "teacher" if teacher else "kiosk",
                     "issued_by_id": teacher.id if teacher else None, "status": "ended",
                     "started_at": start.astimezone(UTC),
                     "ended_at": (start + timedelta(minutes=minutes)).astimezone(UTC),
                     "ended_by": "staff", "time_limit_minutes": place.time_limit_minutes,
                     "urgent": False, "token": secrets.token_hex(16)}
                )  # fmt: skip
        if len(batch) >= 20000:
            db.session.execute(insert(HallPass), batch)
            db.session.commit()
            total += len(batch)
            batch = []
    if batch:
        db.session.execute(insert(HallPass), batch)
        total += len(batch)
    db.session.commit()
    with db.engine.connect() as connection:
        connection.execute(text("ANALYZE"))
        connection.commit()
    return {
        "school_id": sid,
        "office": office.email,
        "teacher": teachers[0].email,
        "teacher_id": teachers[0].id,
        "passes": total,
        "first": school_days[-1],
        "today": today,
    }


class Statements:
    """Counts the statements the engine runs."""

    def __init__(self, engine):
        from sqlalchemy import event

        self.count = 0
        event.listen(engine, "before_cursor_execute", self._one)

    def _one(self, *args):
        self.count += 1


def timed(fn, runs: int, counter: Statements) -> tuple[float, int]:
    fn()  # warm-up (templates, statement caches, the page cache of the database)
    seconds = []
    for _ in range(runs):
        before = counter.count
        started = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - started)
        statements = counter.count - before
    return statistics.median(seconds) * 1000, statements


def measure(app, built: dict, runs: int, counter: Statements, label: str) -> list[tuple]:
    """The report page through the test client, signed in, for each viewer and range."""
    year = {"from": built["first"].isoformat(), "to": built["today"].isoformat()}
    month = {
        "from": (built["today"] - timedelta(days=29)).isoformat(),
        "to": built["today"].isoformat(),
    }
    rows = []
    for who in ("office", "teacher"):
        client = app.test_client()
        answer = client.post("/login", data={"email": built[who], "password": PASSWORD})
        assert answer.status_code == 302, answer.status_code
        for name, args in (("a year", year), ("30 days", month)):
            status = []

            def page(client=client, args=args, status=status):
                status.append(client.get("/hallpass/reports", query_string=args).status_code)

            ms, statements = timed(page, runs, counter)
            rows.append((label, who, name, ms, statements))
            print(
                f"{label:9} {who:8} {name:8} {ms:9.1f} ms {statements:3d} statements "
                f"(status {sorted(set(status))})",
                flush=True,
            )
    return rows


def measure_csv(app, built: dict, runs: int, counter: Statements) -> None:
    """The CSV of every pass of a year and of 30 days (office), through the test client,
    streamed: the first chunk's time, the whole file's, its size, and how much the
    process's peak memory grew (a streamed file should not grow it with its size)."""
    import resource

    client = app.test_client()
    answer = client.post("/login", data={"email": built["office"], "password": PASSWORD})
    assert answer.status_code == 302, answer.status_code
    for name, first in (("a year", built["first"]), ("30 days", built["today"] - timedelta(29))):
        args = {"from": first.isoformat(), "to": built["today"].isoformat(), "kind": "passes"}
        firsts, totals, size, lines = [], [], 0, 0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        for n in range(runs + 1):  # the first a warm-up
            before = counter.count
            started = time.perf_counter()
            response = client.get("/hallpass/reports/export.csv", query_string=args)
            assert response.status_code == 200, response.status_code
            chunks = iter(response.response)
            head = next(chunks)
            got_first = time.perf_counter() - started
            size, lines = len(head), head.count(b"\n")
            for chunk in chunks:
                size += len(chunk)
                lines += chunk.count(b"\n")
            response.close()
            if n:
                firsts.append(got_first * 1000)
                totals.append((time.perf_counter() - started) * 1000)
            statements = counter.count - before
        grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak
        print(
            f"csv       office   {name:8} first chunk {statistics.median(firsts):7.1f} ms, "
            f"whole {statistics.median(totals):8.1f} ms, {size / 1e6:.1f} MB, {lines - 1:,} "
            f"passes, {statements} statements, peak memory +{grown / 1024:.0f} MB",
            flush=True,
        )


def measure_per_table(app, built: dict, runs: int, counter: Statements) -> None:
    """The page's figures the old way: one statement per table and the materialized list."""
    from sqlalchemy.exc import OperationalError

    from hallpass.reports import figures, lines
    from hallpass.reports.scope import ReportFilter, Scope
    from shared.extensions import db
    from shared.models import School

    with app.test_request_context():
        school = db.session.get(School, built["school_id"])
        for who, scope in (
            ("office", Scope(school)),
            ("teacher", Scope(school, teacher_id=built["teacher_id"])),
        ):
            for name, first in (
                ("a year", built["first"]),
                ("30 days", built["today"] - timedelta(days=29)),
            ):
                flt = ReportFilter(first, built["today"])

                def old(scope=scope, flt=flt):
                    now = datetime.now(UTC)
                    for table in (figures.totals, figures.by_destination, figures.by_teacher,
                                  figures.by_period, figures.by_student, figures.by_day,
                                  figures.by_hour):  # fmt: skip
                        table(scope, flt, now)
                    lines.pass_lines(scope, flt, now)[: lines.PAGE_PASSES]

                try:
                    ms, statements = timed(old, runs, counter)
                except OperationalError as error:  # the statement timeout
                    db.session.rollback()
                    print(f"per table {who:8} {name:8} failed: {str(error.orig).splitlines()[0]}")
                    continue
                print(f"per table {who:8} {name:8} {ms:9.1f} ms {statements:3d} statements")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--students", type=int, default=2500)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pg-database", default=PG_DATABASE)
    parser.add_argument("--per-table", action="store_true", help="also time the old way")
    parser.add_argument("--summary-only", action="store_true", help="skip the passes alone")
    parser.add_argument("--csv", action="store_true", help="also time the CSV of every pass")
    parser.add_argument("--csv-only", action="store_true", help="time the CSV only")
    parser.add_argument(
        "--keep-summary", action="store_true", help="reuse the summary of the last run"
    )
    parser.add_argument(
        "--reuse", metavar="DIR", help="keep the database in DIR (SQLite) and reuse it when built"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="passline-bench-history-") as scratch:
        workdir = Path(args.reuse or scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        marker = workdir / f"built-{args.db}-{args.students}-{args.days}.json"
        if marker.exists():
            url = (
                f"sqlite:///{workdir / 'bench.sqlite3'}"
                if args.db == "sqlite"
                else f"postgresql://postgres@127.0.0.1:5432/{args.pg_database}"
            )
            env = base_env(url, workdir)
        else:
            env = base_env(fresh_database(args.db, workdir, args.pg_database), workdir)
            subprocess.run(
                [sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
                cwd=ROOT, env=env, check=True, capture_output=True,
            )  # fmt: skip
        os.environ.update(
            {k: env[k] for k in ("DATABASE_URL", "PASSLINE_INSTANCE_PATH", "SECRET_KEY")}
        )
        os.environ["PASSLINE_HOUSEKEEPING"] = "off"
        from sqlalchemy import text

        from shared import create_app
        from shared.extensions import db

        app = create_app({"WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False})
        with app.app_context():
            if marker.exists():
                built = json.loads(marker.read_text())
                for key in ("first", "today"):
                    built[key] = date.fromisoformat(built[key])
                if not (args.csv_only or args.keep_summary):
                    # Start from the passes alone again.
                    db.session.execute(text("DELETE FROM hall_pass_summary_days"))
                    db.session.commit()
            else:
                started = time.perf_counter()
                built = build(args.students, args.days)
                print(
                    f"built {built['passes']:,} passes of {args.students:,} students over "
                    f"{args.days} school days in {time.perf_counter() - started:.1f} s",
                    flush=True,
                )
                if args.reuse:
                    marker.write_text(json.dumps(built, default=str))
            counter = Statements(db.engine)
        if args.csv_only:
            measure_csv(app, built, args.runs, counter)
            return 0
        if not args.summary_only:
            measure(app, built, args.runs, counter, "passes")
        with app.app_context():
            from hallpass.reports import summary

            started = time.perf_counter()
            days = summary.summarize_closed_days(budget_seconds=None)
            db.session.commit()
            with db.engine.connect() as connection:  # as autovacuum would, soon after
                connection.execute(text("ANALYZE hall_pass_summaries"))
                connection.commit()
            print(f"summarized {days} days in {time.perf_counter() - started:.1f} s", flush=True)
        measure(app, built, args.runs, counter, "summary")
        if args.csv:
            measure_csv(app, built, args.runs, counter)
        if args.per_table:
            measure_per_table(app, built, args.runs, counter)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""A district's OneRoster export on one database: dry run, apply, re-run, and one big school.

    python -m bench.roster_district --db sqlite|postgres [--students 50000] [--schools 40]
        [--school-students 2500] [--before DIR] [--keep DIR]

Writes a OneRoster 1.1 bundle (orgs, academicSessions, classes, users with one parent per
student listed at the district org, enrollments) of `--students` students in `--schools`
school orgs: about 6.5 classes per student and a teacher per class, so the default is
about 337,000 enrollment rows and 82 MB unzipped, the district of issue 25. Then, on a
fresh database (`flask db upgrade`), each step is a child process of its own, timed (wall
clock) with its peak memory (ru_maxrss from os.wait4):

1. `flask roster import BUNDLE --district --create-schools --timezone ... --dry-run`;
2. the same without --dry-run (every school created and imported);
3. the same again (the re-run: nothing changes, nothing is duplicated);
4. one school's own bundle of `--school-students` students: `flask roster import
   --school BIG` dry run, then apply.

`--before DIR` also runs, in a source tree of the code before issue 25's roster part
(`git archive <commit> | tar -x -C DIR`), the one-school dry run of the district bundle
that was all it could do, with its 50 MB limit lifted (it refused the bundle otherwise).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import random
import subprocess
import sys
import tempfile
import time
import zipfile
from datetime import date, timedelta
from pathlib import Path

from bench.district import ROOT, base_env, fresh_database

PG_DATABASE = "passline_bench_roster"
TZ = "America/Chicago"
PERIODS = 7
CLASS_SIZE = 25
FIRST = [
    "Ana",
    "Ben",
    "Chloe",
    "Dev",
    "Eli",
    "Fatima",
    "Gus",
    "Hana",
    "Ivan",
    "June",
    "Kofi",
    "Lena",
    "Mateo",
    "Nia",
    "Omar",
    "Priya",
]
LAST = [
    "Garcia",
    "Smith",
    "Nguyen",
    "Okafor",
    "Patel",
    "Kim",
    "Lopez",
    "Brown",
    "Haddad",
    "Ivanova",
    "Jones",
    "Mendez",
]

USERS = ["sourcedId", "status", "dateLastModified", "enabledUser", "orgSourcedIds", "role",
         "username", "userIds", "givenName", "familyName", "middleName", "identifier", "email",
         "sms", "phone", "agentSourcedIds", "grades", "password"]  # fmt: skip
CLASSES = ["sourcedId", "status", "dateLastModified", "title", "grades", "courseSourcedId",
           "classCode", "classType", "location", "schoolSourcedId", "termSourcedIds",
           "subjects", "subjectCodes", "periods"]  # fmt: skip
ENROLLMENTS = ["sourcedId", "status", "dateLastModified", "classSourcedId", "schoolSourcedId",
               "userSourcedId", "role", "primary", "beginDate", "endDate"]  # fmt: skip


def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class _Member:
    """A CSV member of the zip, written row by row to a file beside it (never held whole),
    then added to the zip (which takes one member at a time)."""

    def __init__(self, archive: zipfile.ZipFile, name: str, header: list[str]) -> None:
        self.archive, self.name = archive, name
        self.path = Path(archive.filename + f".{name}")
        self.text = self.path.open("w", encoding="utf-8", newline="")
        self.writer = csv.writer(self.text, lineterminator="\n")
        self.writer.writerow(header)

    def row(self, *values) -> None:
        self.writer.writerow(values)

    def close(self) -> None:
        self.text.close()
        self.archive.write(self.path, self.name)
        self.path.unlink()


def write_bundle(path: Path, students: int, schools: int, seed: int = 25) -> dict[str, int]:
    """A OneRoster 1.1 district bundle at `path`; the numbers of rows written."""
    rng = random.Random(seed)  # noqa: S311  (made-up people, not secrets)
    today = date.today()
    start, end = today - timedelta(days=120), today + timedelta(days=200)
    district, year, term = _uuid(rng), _uuid(rng), _uuid(rng)
    counts = {"users": 0, "classes": 0, "enrollments": 0}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        archive.writestr(
            "manifest.csv",
            "propertyName,value\nmanifest.version,1.0\noneroster.version,1.1\n"
            "file.users,bulk\nfile.orgs,bulk\nfile.classes,bulk\nfile.enrollments,bulk\n"
            "file.academicSessions,bulk\nfile.courses,absent\nfile.demographics,absent\n",
        )
        archive.writestr(
            "academicSessions.csv",
            "sourcedId,status,dateLastModified,title,type,startDate,endDate,parentSourcedId,"
            f"schoolYear\n{year},,,Year,schoolYear,{start},{end},,{end.year}\n"
            f"{term},,,Full Year,term,{start},{end},{year},{end.year}\n",
        )
        orgs = io.StringIO()
        orgs.write("sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId\n")
        orgs.write(f"{district},,,Bench Unified School District,district,BUSD,\n")
        org_ids = [_uuid(rng) for _ in range(schools)]
        for number, org in enumerate(org_ids, start=1):
            orgs.write(f"{org},,,Bench High School {number},school,BHS{number:02d},{district}\n")
        archive.writestr("orgs.csv", orgs.getvalue())
        users = _Member(archive, "users.csv", USERS)
        classes = _Member(archive, "classes.csv", CLASSES)
        enrollments = _Member(archive, "enrollments.csv", ENROLLMENTS)
        student_number = 100000
        for index, org in enumerate(org_ids):
            size = students // schools + (1 if index < students % schools else 0)
            class_count = max(PERIODS, round(size * 6.5 / CLASS_SIZE))
            teachers = [_uuid(rng) for _ in range(max(1, class_count // 6))]
            for number, teacher in enumerate(teachers):
                users.row(teacher, "", "", "true", org, "teacher", f"t{index}x{number}", "",
                          rng.choice(FIRST), rng.choice(LAST), "", f"T{index}-{number}",
                          f"t{number}@s{index}.bench.example", "", "", "", "", "")  # fmt: skip
            by_period: list[list[str]] = [[] for _ in range(PERIODS)]
            for number in range(class_count):
                class_id, period = _uuid(rng), number % PERIODS
                by_period[period].append(class_id)
                teacher = teachers[number % len(teachers)]
                classes.row(class_id, "", "", f"Course {number} - Period {period + 1}", "09",
                            "", f"C{number}", "scheduled", f"Room {100 + number % 60}", org,
                            term, "", "", str(period + 1))  # fmt: skip
                enrollments.row(_uuid(rng), "", "", class_id, org, teacher, "teacher", "true",
                                "", "")  # fmt: skip
                counts["classes"] += 1
                counts["enrollments"] += 1
            for _ in range(size):
                student_number += 1
                student, parent = _uuid(rng), _uuid(rng)
                first, last = rng.choice(FIRST), rng.choice(LAST)
                users.row(student, "", "", "true", org, "student", f"s{student_number}", "",
                          first, last, "", str(student_number), "", "", "", parent,
                          rng.choice(["09", "10", "11", "12"]), "")  # fmt: skip
                users.row(parent, "", "", "true", district, "parent", "", "",
                          rng.choice(FIRST), last, "", "",
                          f"parent{student_number}@families.example", "",
                          f"555-{student_number % 10000:04d}", student, "", "")  # fmt: skip
                counts["users"] += 2
                periods = rng.sample(range(PERIODS), 6 + (rng.random() < 0.5))
                for period in periods:
                    enrollments.row(_uuid(rng), "", "", rng.choice(by_period[period]), org,
                                    student, "student", "false", "", "")  # fmt: skip
                    counts["enrollments"] += 1
            counts["users"] += len(teachers)
        for member in (users, classes, enrollments):
            member.close()
    with zipfile.ZipFile(path) as archive:
        counts["unzipped_mb"] = round(sum(m.file_size for m in archive.infolist()) / 2**20, 1)
    counts["zipped_mb"] = round(path.stat().st_size / 2**20, 1)
    return counts


def run_child(argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> tuple[float, ...]:
    """One step as a child process: (wall seconds, peak RSS in MB, CPU seconds).

    The CPU seconds (user + system) are given because on a machine shared with other work
    the wall time includes waiting for a CPU, and the CPU time does not."""
    started = time.perf_counter()
    with log.open("ab") as out:
        out.write(f"$ {' '.join(argv)}\n".encode())
        out.flush()
        child = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=out)  # noqa: S603
        _pid, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:6])}... failed ({child.returncode}); see {log}")
    return wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def flask(*args: str) -> list[str]:
    return [sys.executable, "-m", "flask", "--app", "wsgi", *args]


#: The one-school dry run of the old code, its 50 MB limit lifted (run in --before DIR).
BEFORE = """
import sys
from shared import create_app
import shared.roster.files as files
files.MAX_TOTAL_BYTES = 10 ** 10
from shared import roster
from shared.extensions import db
from shared.models import School
app = create_app()
with app.app_context():
    school = db.session.query(School).filter_by(code="BHS01").one()
    plan = roster.plan_import(school, roster.read_path(sys.argv[1]))
    print(plan.summary_lines(), len(plan.errors), "errors")
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--students", type=int, default=50_000)
    parser.add_argument("--schools", type=int, default=40)
    parser.add_argument("--school-students", type=int, default=2_500)
    parser.add_argument("--pg-database", default=PG_DATABASE)
    parser.add_argument("--before", metavar="DIR", help="the old code's source tree")
    parser.add_argument("--keep", metavar="DIR", help="work (and keep the bundles) in DIR")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="passline-bench-roster-") as scratch:
        workdir = Path(args.keep or scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        log = workdir / "bench-roster.log"
        bundle = workdir / f"district-{args.students}-{args.schools}.zip"
        if not bundle.exists():
            started = time.perf_counter()
            counts = write_bundle(bundle, args.students, args.schools)
            print(f"district bundle: {counts} in {time.perf_counter() - started:.1f} s")
        single = workdir / f"school-{args.school_students}.zip"
        if not single.exists():
            write_bundle(single, args.school_students, 1, seed=26)
        env = base_env(fresh_database(args.db, workdir, args.pg_database), workdir)
        env["PASSLINE_HOUSEKEEPING"] = "off"
        subprocess.run(  # noqa: S603  (this interpreter, our own arguments)
            flask("db", "upgrade"), cwd=ROOT, env=env, check=True, capture_output=True
        )
        district = ["roster", "import", str(bundle), "--district", "--create-schools",
                    "--timezone", TZ]  # fmt: skip
        steps = [
            ("district dry run (no school yet)", flask(*district, "--dry-run")),
            ("district apply (40 schools created)", flask(*district)),
            ("district re-run (nothing changes)", flask(*district)),
            ("district dry run (schools exist)", flask(*district, "--dry-run")),
        ]
        print(f"{args.db}, {args.students:,} students in {args.schools} schools:")
        for label, command in steps:
            wall, rss, cpu = run_child(command, env, ROOT, log)
            print(f"  {label}: {wall:.1f} s (CPU {cpu:.1f} s), peak {rss:.0f} MB", flush=True)
        if args.before:
            before = Path(args.before)
            old_env = {**env, "PYTHONPATH": str(before)}
            command = [sys.executable, "-c", BEFORE, str(bundle)]
            wall, rss, cpu = run_child(command, old_env, before, log)
            print(
                f"  before: one school's dry run of the bundle: {wall:.1f} s (CPU {cpu:.1f} s), "
                f"peak {rss:.0f} MB"
            )
        run_child(flask("school", "create", "--code", "BIG", "--name", "Big High School",
                        "--timezone", TZ), env, ROOT, log)  # fmt: skip
        for label, extra in (("dry run", ["--dry-run"]), ("apply", [])):
            wall, rss, cpu = run_child(
                flask("roster", "import", str(single), "--school", "BIG", *extra), env, ROOT, log
            )
            print(f"  one {args.school_students:,}-student school, {label}: {wall:.1f} s "
                  f"(CPU {cpu:.1f} s), peak {rss:.0f} MB", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

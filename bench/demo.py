"""How long `flask demo` takes: a new district's first try of passline starts with it.

    python -m bench.demo --db sqlite|postgres --runs N

Each run makes a fresh database (as bench/district.py does), migrates it with
`flask db upgrade` (not timed) and then times `flask demo` as a whole process: the demo
school with its roster and its weeks of hall pass and car line history. It prints each
run and the minimum, median and maximum. The tests check what the demo holds; how fast it
loads is measured here, on a quiet machine, not asserted by a test.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.district import ROOT, base_env, fresh_database


def flask(env: dict[str, str], *args: str) -> None:
    subprocess.run(  # noqa: S603  (our own flask command, with our arguments)
        [sys.executable, "-m", "flask", "--app", "wsgi", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )


def time_one_demo_load(kind: str) -> float:
    with tempfile.TemporaryDirectory(prefix="passline-bench-demo-") as workdir:
        env = base_env(fresh_database(kind, Path(workdir)), Path(workdir))
        flask(env, "db", "upgrade")
        started = time.perf_counter()
        flask(env, "demo")
        return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    seconds = []
    for run in range(1, args.runs + 1):
        seconds.append(time_one_demo_load(args.db))
        print(f"run {run}: flask demo {seconds[-1]:.2f} s", flush=True)
    print(
        f"flask demo on {args.db}: min {min(seconds):.2f} s, "
        f"median {statistics.median(seconds):.2f} s, max {max(seconds):.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

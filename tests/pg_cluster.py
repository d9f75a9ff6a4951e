"""A PostgreSQL cluster of the test's own (initdb + pg_ctl), for tests that break the database.

Never the shared server on 5432: outage tests stop, kill and freeze (SIGSTOP) their own
cluster and start it again on the same port, so the app's DATABASE_URL stays the same
across the outage. initdb refuses to run as root; as root the cluster belongs to the
`postgres` system user (run through `runuser`).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.gunicorn_server import free_port


def _find(program: str) -> str | None:
    found = shutil.which(program) or shutil.which(program, path="/usr/local/bin")
    if found:
        return found
    # Debian keeps the server programs out of PATH, under /usr/lib/postgresql/<version>/bin.
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{program}"), reverse=True):
        return str(candidate)
    return None


INITDB = _find("initdb")
PG_CTL = _find("pg_ctl")


def _run_as() -> list[str]:
    """How to run the cluster's programs: as ourselves, or as `postgres` when we are root."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return ["unavailable"]
    runuser = shutil.which("runuser")
    return [runuser, "-u", "postgres", "--"] if runuser else ["unavailable"]


RUN_AS = _run_as()
needs_initdb = pytest.mark.skipif(
    INITDB is None or PG_CTL is None or RUN_AS == ["unavailable"],
    reason="no initdb/pg_ctl (or no unprivileged postgres user to run them as root)",
)


@dataclass
class OwnPostgres:
    port: int
    directory: Path

    @property
    def data(self) -> Path:
        return self.directory / "data"

    databases: int = 0

    def new_database(self) -> str:
        """An empty database of its own in the cluster (one per test); its URL."""
        import psycopg

        self.databases += 1
        name = f"passline_{self.databases}"
        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True
        ) as connection:
            connection.execute(f"CREATE DATABASE {name}")
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def _pg_ctl(self, *arguments: str) -> None:
        # The installed pg_ctl with fixed arguments, no shell.
        subprocess.run(  # noqa: S603
            [*RUN_AS, PG_CTL, "-D", str(self.data), *arguments],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
        )

    def start(self) -> None:
        """Start (or start again) on the same port; returns once it accepts connections."""
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._pg_ctl("-l", str(self.directory / "server.log"), "-o", options, "-w", "start")

    def stop(self) -> None:
        """Stop it at once (`immediate`: as a crash would, no clean shutdown)."""
        self._pg_ctl("-m", "immediate", "-w", "stop")

    def _pids(self) -> list[int]:
        """The postmaster and every process it started (backends, writer, checkpointer)."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        pids = [postmaster]
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError, IndexError, ValueError):
                # /proc/<pid>/stat: "pid (name) state ppid ..."; name may hold spaces.
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == postmaster:
                    pids.append(int(entry.name))
        return pids

    def freeze(self) -> None:
        """SIGSTOP every process of the cluster: connections stay open and never answer."""
        for pid in self._pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        for pid in self._pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    def answers(self) -> bool:
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5),
        ):
            return True
        return False


@contextlib.contextmanager
def own_postgres() -> Iterator[OwnPostgres]:
    """A fresh cluster (no database of passline's yet: see `new_database`), removed afterwards."""
    # Not under pytest's tmp_path: as root, the postgres user could not enter it.
    directory = Path(tempfile.mkdtemp(prefix="passline-pg-"))
    if RUN_AS:
        shutil.chown(directory, "postgres", "postgres")
    cluster = OwnPostgres(port=free_port(), directory=directory)
    subprocess.run(  # noqa: S603 (the installed initdb, fixed arguments)
        [*RUN_AS, INITDB, "-D", str(cluster.data), "-A", "trust", "-U", "postgres", "--no-sync"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=120,
    )
    cluster.start()
    try:
        yield cluster
    finally:
        with contextlib.suppress(Exception):
            cluster.thaw()
        with contextlib.suppress(Exception):
            cluster.stop()
        # Leave nothing running even if pg_ctl could not stop it.
        with contextlib.suppress(Exception):
            for pid in cluster._pids():
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)
        shutil.rmtree(directory, ignore_errors=True)

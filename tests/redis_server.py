"""A Redis server of the test's own, on a free port, for tests that stop and start Redis.

Never the shared one on 6379: outage tests kill their own server and start it again on
the same port, so the app's REDIS_URL stays the same across the outage.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.gunicorn_server import free_port

REDIS_SERVER = shutil.which("redis-server")

needs_redis_server = pytest.mark.skipif(REDIS_SERVER is None, reason="no redis-server installed")


@dataclass
class OwnRedis:
    port: int
    directory: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start (or start again) on the same port; returns once it answers."""
        assert self.process is None or self.process.poll() is not None
        arguments = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        arguments += ["--appendonly", "no", "--dir", str(self.directory)]
        with open(self.directory / f"redis-{self.port}.log", "ab") as log:
            # The installed redis-server with fixed arguments, no shell.
            self.process = subprocess.Popen(  # noqa: S603
                [REDIS_SERVER, *arguments], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock,
            ):
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        """Kill it (as a crash would): connections are refused from now on."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@contextlib.contextmanager
def own_redis(directory: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(port=free_port(), directory=directory)
    server.start()
    try:
        yield server
    finally:
        server.stop()

"""Start the real app under gunicorn (gunicorn.conf.py) for tests that need real processes."""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill_hard(self) -> None:
        """SIGKILL the master and every worker at once, as a power cut or OOM kill would."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


def http_get(url: str, timeout: float = 5) -> tuple[int, dict[str, str], bytes]:
    """GET an http:// URL of the test server: status, headers, body."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        connection.request("GET", parts.path + ("?" + parts.query if parts.query else ""))
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def wait_healthy(url: str, process: subprocess.Popen, log_path: Path, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited:\n{log_path.read_text(errors='replace')}")
        with contextlib.suppress(OSError):
            if http_get(url + "/healthz", timeout=2)[0] == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not become healthy:\n{log_path.read_text(errors='replace')}")


@contextlib.contextmanager
def running_gunicorn(
    database_url: str, instance: Path, *, workers: int = 3, threads: int = 4, **extra_env: str
) -> Iterator[Server]:
    """gunicorn with `workers` processes on a free port, stopped (SIGTERM) afterwards."""
    port = free_port()
    log_path = instance / f"gunicorn-{port}.log"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "PASSLINE_INSTANCE_PATH": str(instance),
        "SECRET_KEY": "test-secret-key",
        "PASSLINE_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": str(workers),
        "PASSLINE_THREADS": str(threads),
        "PASSLINE_HOUSEKEEPING": "off",
        # Generous waits, as in conftest's app (races on a busy machine check invariants);
        # an empty value gives the app's default (tests/shared/test_outages.py).
        "DATABASE_LOCK_TIMEOUT": "30",
        "DATABASE_STATEMENT_TIMEOUT": "30",
        **extra_env,
    }
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "wsgi:app"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: `kill_hard` reaches the workers
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process, log_path)
        yield Server(url=url, process=process, log_path=log_path, env=env)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class Browser:
    """A tiny HTTP client with a cookie jar, for talking to the gunicorn under test."""

    def __init__(self, base_url: str, timeout: float = 30):
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port
        self.timeout = timeout
        self.cookies: dict[str, str] = {}

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def request(
        self, method: str, path: str, form: dict[str, str] | None = None, headers=None
    ) -> tuple[int, dict[str, str], str]:
        connection = self.connection()
        all_headers = dict(headers or {})
        if self.cookies:
            all_headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            all_headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            connection.request(method, path, body=body, headers=all_headers)
            response = connection.getresponse()
            for name, value in response.getheaders():
                if name.lower() == "set-cookie":
                    cookie_name, _, rest = value.partition("=")
                    cookie_value = rest.split(";", 1)[0]
                    if "expires=thu, 01 jan 1970" in value.lower() or not cookie_value:
                        self.cookies.pop(cookie_name, None)
                    else:
                        self.cookies[cookie_name] = cookie_value
            return response.status, dict(response.getheaders()), response.read().decode()
        finally:
            connection.close()

    def get(self, path: str, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path: str, form: dict[str, str], **kwargs):
        return self.request("POST", path, form=form, **kwargs)

    def csrf_token(self, path: str) -> str:
        """The CSRF token of the page at `path` (from its form or its htmx headers)."""
        _status, _headers, html = self.get(path)
        match = re.search(r'name="csrf_token" value="([^"]+)"', html) or re.search(
            r'"X-CSRFToken": "([^"]+)"', html
        )
        assert match, f"no CSRF token on {path}"
        return match.group(1)


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over a Unix socket (a reverse proxy listening on one, as in the two-host test)."""

    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


class UnixBrowser(Browser):
    """A `Browser` that reaches the server through a Unix socket."""

    def __init__(self, socket_path: str | Path, timeout: float = 30):
        super().__init__("http://localhost", timeout=timeout)
        self.socket_path = str(socket_path)

    def connection(self) -> http.client.HTTPConnection:
        return UnixHTTPConnection(self.socket_path, self.timeout)

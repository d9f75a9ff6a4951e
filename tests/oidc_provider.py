"""A real OpenID provider for the single sign-on tests: `oidc-provider` on Node, on 127.0.0.1.

The provider is tests/oidc/provider.mjs (panva's certified `oidc-provider`, pinned in
tests/oidc/package-lock.json). `running_provider` installs its packages with `npm ci` the
first time (node_modules is not in git), starts it with the clients and users a test
gives it, and stops it afterwards. Without Node the tests that need it are skipped with
the reason; `.ci/run` installs Node.

Besides the well-behaved provider at its issuer, the script serves misbehaving ones at
`<issuer>/rogue/<mode>` (see the script): the same sign-in page and token endpoint, and
then an ID token with a wrong audience, an expired one, a forged signature...
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import requests

HERE = Path(__file__).resolve().parent / "oidc"
NODE = shutil.which("node")
NPM = shutil.which("npm")

needs_node = pytest.mark.skipif(
    NODE is None or NPM is None,
    reason="the single sign-on tests need Node 20+ and npm (Debian: apt-get install nodejs npm)",
)


@dataclass
class OwnProvider:
    issuer: str
    process: subprocess.Popen
    log: list[str]

    def rogue(self, mode: str) -> str:
        """The issuer URL of a provider that misbehaves as `mode` says."""
        return f"{self.issuer}/rogue/{mode}"

    def rotate_keys(self) -> None:
        """From now on the 'rotated' provider signs with a new key, published in its JWKS."""
        requests.post(f"{self.issuer}/test/rotate", timeout=5).raise_for_status()


def install_packages() -> None:
    """`npm ci` in tests/oidc when its node_modules is missing (a clean clone)."""
    if (HERE / "node_modules" / "oidc-provider").is_dir():
        return
    done = subprocess.run(  # noqa: S603  (npm from PATH, fixed arguments)
        [NPM, "ci", "--no-audit", "--no-fund"],
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        raise RuntimeError(f"npm ci failed in {HERE}:\n{done.stdout}\n{done.stderr}")


@contextlib.contextmanager
def running_provider(
    folder: Path, clients: list[dict], users: dict[str, dict]
) -> Iterator[OwnProvider]:
    """The provider with these clients and users, on a free port, killed afterwards."""
    install_packages()
    config = folder / "oidc-config.json"
    config.write_text(json.dumps({"port": 0, "clients": clients, "users": users}))
    process = subprocess.Popen(  # noqa: S603  (node from PATH and our own script)
        [NODE, str(HERE / "provider.mjs"), str(config)],
        cwd=HERE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    log: list[str] = []
    ready = threading.Event()
    found: dict[str, str] = {}

    def read() -> None:
        for line in process.stdout:
            log.append(line.rstrip())
            if line.startswith("READY "):
                found["issuer"] = line.split()[1]
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        if not ready.wait(30) or "issuer" not in found:
            raise RuntimeError("the OpenID provider did not start:\n" + "\n".join(log))
        yield OwnProvider(issuer=found["issuer"], process=process, log=log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()


def sign_in_at_provider(authorize_url: str, username: str, password: str, app_origin: str):
    """What a person does at the provider: open its page, sign in; the redirect back.

    Returns the URL the provider sends the browser back to (on `app_origin`).
    """
    browser = requests.Session()
    page = browser.get(authorize_url, timeout=10)
    page.raise_for_status()
    assert "/interaction/" in page.url, page.text[:500]
    answer = browser.post(
        page.url.rstrip("/") + "/login",
        data={"login": username, "password": password},
        allow_redirects=False,
        timeout=10,
    )
    for _ in range(10):
        location = answer.headers.get("Location", "")
        assert answer.status_code in (302, 303), answer.text[:500]
        target = urljoin(answer.url, location)
        if target.startswith(app_origin):
            return target
        answer = browser.get(target, allow_redirects=False, timeout=10)
    raise AssertionError("the provider never sent the browser back")


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")

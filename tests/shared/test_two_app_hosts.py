# ruff: noqa: S603  (every command run here is our own: ip, nginx, gunicorn)
"""A district's deployment: two app hosts behind nginx on one PostgreSQL, and one host dies.

Each app host is a network namespace of its own with gunicorn on its own address; nginx
runs in a third namespace, joined to each host by a veth pair, and balances between them.
No address outside those namespaces is used: the test reaches nginx through Unix
sockets (one for the balanced site, one per host for "this request goes to host A"), and
the hosts reach the one PostgreSQL through its Unix socket.

During a dismissal, screens poll the dismissal TV and a curb phone enters cars through
the proxy, resending an entry with the same client key until it is acknowledged (as its
outbox does). Host A's gunicorn is then killed with SIGKILL. Every acknowledged car must
be in the queue exactly once, the screens must keep updating through host B, and a
sign-out or a device revocation made on one host must be refused on the other at once.

Needs root (for `ip netns`), Debian's nginx (`.ci/run` installs it) and PostgreSQL.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from carline.models import Dismissal, QueueEntry
from shared.models import Family, Student
from tests.gunicorn_server import ROOT, UnixBrowser
from tests.helpers import PASSWORD

CARS = 60
SCREENS = 8
PORT = 8000
#: Each host's address and nginx's address on the same veth pair.
HOSTS = {"a": ("10.231.1.2", "10.231.1.1"), "b": ("10.231.2.2", "10.231.2.1")}
TV_POLL = "/carline/tv/calls"
_TAGS = re.compile(r'class="tv-way">(\d+)<')
_VERSION = re.compile(r"[?&]v=(\d+)")
_CODE = re.compile(r'class="pairing-code"[^>]*>([^<]+)<')
HX = {"HX-Request": "true"}


def _missing() -> str | None:
    url = os.environ.get("TEST_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        return "two app hosts share one PostgreSQL (set TEST_DATABASE_URL)"
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("ip", "nginx"):
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            return f"{tool} is not installed (.ci/run installs nginx)"
    return None


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(_missing() is not None, reason=_missing() or ""),
]


IP = shutil.which("ip") or "/usr/sbin/ip"


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


def nginx_binary() -> str:
    return shutil.which("nginx") or "/usr/sbin/nginx"


@contextlib.contextmanager
def namespaces():
    """The proxy's namespace and one per app host, joined by veth pairs; removed after."""
    tag = f"{os.getpid() % 100000}"
    proxy = f"plp{tag}"
    names = {"proxy": proxy, **{host: f"pl{host}{tag}" for host in HOSTS}}
    try:
        for name in names.values():
            sh(IP, "netns", "add", name)
            sh(IP, "-n", name, "link", "set", "lo", "up")
        for host, (address, proxy_address) in HOSTS.items():
            outer, inner = f"vp{host}{tag}", f"vh{host}{tag}"
            sh(
                IP,
                "link",
                "add",
                outer,
                "netns",
                proxy,
                "type",
                "veth",
                "peer",
                "name",
                inner,
                "netns",
                names[host],
            )
            sh(IP, "-n", proxy, "addr", "add", f"{proxy_address}/30", "dev", outer)
            sh(IP, "-n", names[host], "addr", "add", f"{address}/30", "dev", inner)
            sh(IP, "-n", proxy, "link", "set", outer, "up")
            sh(IP, "-n", names[host], "link", "set", inner, "up")
        yield names
    finally:
        for name in names.values():
            subprocess.run([IP, "netns", "del", name], capture_output=True)


NGINX_CONF = """
daemon off;
worker_processes 1;
user root;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    log_format upstream '$upstream_addr $status';
    access_log {dir}/nginx-access.log upstream;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    upstream passline {{
        server {a}:{port} max_fails=1 fail_timeout=10s;
        server {b}:{port} max_fails=1 fail_timeout=10s;
    }}
    upstream host_a {{ server {a}:{port}; }}
    upstream host_b {{ server {b}:{port}; }}
    proxy_set_header Host $host;
    proxy_set_header X-Forwarded-For $remote_addr;
    proxy_set_header X-Forwarded-Proto http;
    proxy_connect_timeout 2s;
    proxy_read_timeout 20s;
    proxy_next_upstream error timeout;
    server {{ listen unix:{dir}/proxy.sock; location / {{ proxy_pass http://passline; }} }}
    server {{ listen unix:{dir}/a.sock; location / {{ proxy_pass http://host_a; }} }}
    server {{ listen unix:{dir}/b.sock; location / {{ proxy_pass http://host_b; }} }}
}}
"""


@dataclass
class Deployment:
    dir: Path
    hosts: dict[str, subprocess.Popen] = field(default_factory=dict)

    def socket(self, name: str) -> Path:
        return self.dir / f"{name}.sock"

    def browser(self, name: str = "proxy", timeout: float = 10) -> UnixBrowser:
        return UnixBrowser(self.socket(name), timeout=timeout)

    def kill_host(self, host: str) -> None:
        """SIGKILL the host's gunicorn, master and workers at once (a crashed server)."""
        os.killpg(self.hosts[host].pid, signal.SIGKILL)
        self.hosts[host].wait(timeout=10)


def unix_socket_url(test_url: str, connection) -> str:
    """The test database's URL through the server's Unix socket (the hosts' only way to it)."""
    directory = connection.execute(text("SHOW unix_socket_directories")).scalar().split(",")[0]
    url = make_url(test_url)
    return (
        url.set(host=None, port=None)
        .update_query_dict({"host": directory.strip(), "port": str(url.port or 5432)})
        .render_as_string(hide_password=False)
    )


def wait_healthy(deployment: Deployment, host: str, seconds: float = 40) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if deployment.hosts[host].poll() is not None:
            raise RuntimeError((deployment.dir / f"gunicorn-{host}.log").read_text())
        with contextlib.suppress(OSError):
            if deployment.browser(host, timeout=2).get("/healthz")[0] == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"host {host} did not become healthy")


@contextlib.contextmanager
def deployed(database_url: str, workdir: Path):
    with namespaces() as names:
        deployment = Deployment(dir=workdir)
        conf = workdir / "nginx.conf"
        conf.write_text(NGINX_CONF.format(dir=workdir, a=HOSTS["a"][0], b=HOSTS["b"][0], port=PORT))
        with open(workdir / "nginx.out", "wb") as nginx_out:
            nginx = subprocess.Popen(
                [IP, "netns", "exec", names["proxy"], nginx_binary(), "-c", str(conf)],
                stdout=nginx_out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            for host, (address, _) in HOSTS.items():
                instance = workdir / f"instance-{host}"
                instance.mkdir()
                env = {
                    **os.environ,
                    "DATABASE_URL": database_url,
                    "PASSLINE_INSTANCE_PATH": str(instance),
                    "SECRET_KEY": "two-hosts-secret",  # the same on every app server
                    "PASSLINE_BIND": f"{address}:{PORT}",
                    "WEB_CONCURRENCY": "2",
                    "PASSLINE_THREADS": "2",
                    "PASSLINE_HOUSEKEEPING": "off",
                    "PROXY_COUNT": "1",
                }
                env.pop("REDIS_URL", None)
                with open(workdir / f"gunicorn-{host}.log", "wb") as log:
                    deployment.hosts[host] = subprocess.Popen(
                        [
                            IP,
                            "netns",
                            "exec",
                            names[host],
                            sys.executable,
                            "-m",
                            "gunicorn",
                            "wsgi:app",
                        ],
                        cwd=ROOT,
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
            for host in HOSTS:
                wait_healthy(deployment, host)
            yield deployment
        finally:
            for process in deployment.hosts.values():
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGTERM)
                    try:
                        process.wait(timeout=20)
                    except subprocess.TimeoutExpired:
                        os.killpg(process.pid, signal.SIGKILL)
                        process.wait()
            os.killpg(nginx.pid, signal.SIGTERM)
            nginx.wait(timeout=10)


def sign_in(browser: UnixBrowser, email: str) -> UnixBrowser:
    token = browser.csrf_token("/login")
    status, _, _ = browser.post(
        "/login", {"email": email, "password": PASSWORD, "csrf_token": token}
    )
    assert status == 302
    browser.token = browser.csrf_token("/dashboard")
    return browser


def pair_display(office: UnixBrowser, device: UnixBrowser, label: str) -> UnixBrowser:
    _, _, page = office.post(
        "/devices/new",
        {"kind": "display", "purpose": "dismissal", "label": label, "csrf_token": office.token},
    )
    code = _CODE.search(page).group(1).strip()
    token = device.csrf_token("/pair")
    status, _, _ = device.post("/pair", {"code": code, "csrf_token": token})
    assert status == 302 and "passline_device" in device.cookies
    return device


def same_cookies(browser: UnixBrowser, other: str, deployment: Deployment) -> UnixBrowser:
    """The same browser (its cookies) talking to another socket: host A, host B or the proxy."""
    twin = deployment.browser(other)
    twin.cookies = browser.cookies  # shared: a cookie the server ends is gone from both
    twin.token = getattr(browser, "token", None)
    return twin


@pytest.fixture
def district(app, db, school, make_user, tmp_path):
    for n in range(1, CARS + 1):
        family = Family(school_id=school.id, tag_number=n)
        family.students.append(
            Student(school_id=school.id, student_number=f"{n}", first_name=f"S{n}", last_name="K")
        )
        db.session.add(family)
    db.session.commit()
    office = make_user(school, "admin", "office")
    test_url = os.environ["TEST_DATABASE_URL"]
    with db.engine.connect() as connection:
        url = unix_socket_url(test_url, connection)
    with deployed(url, tmp_path) as deployment:
        yield deployment, office


def test_sign_out_and_revocation_on_one_host_are_refused_on_the_other(district):
    deployment, office_user = district
    office_a = sign_in(deployment.browser("a"), office_user.email)
    office_b = same_cookies(office_a, "b", deployment)
    assert office_b.get("/dashboard")[0] == 200, "a session made on host A works on host B"

    tv_b = pair_display(office_b, deployment.browser("b"), "Gym TV")
    tv_a = same_cookies(tv_b, "a", deployment)
    for tv in (tv_a, tv_b):
        assert tv.get(f"{TV_POLL}?v=-1", headers=HX)[0] == 200

    # Polls keep coming on host A while host B revokes the TV.
    _, _, devices_page = office_a.get("/devices")
    revoke_path = re.search(r'action="(/devices/\d+/revoke)"', devices_page).group(1)
    stop = threading.Event()
    acknowledged_at: list[float] = []
    served_after: list[int] = []

    def poll_on_a():
        poller = same_cookies(tv_b, "a", deployment)
        while not stop.is_set():
            sent = time.monotonic()
            status = poller.get(f"{TV_POLL}?v=-1", headers=HX)[0]
            if acknowledged_at and sent > acknowledged_at[0] and status in (200, 204):
                served_after.append(status)

    pollers = [threading.Thread(target=poll_on_a) for _ in range(4)]
    for poller in pollers:
        poller.start()
    time.sleep(1)
    status, _, _ = office_b.post(revoke_path, {"csrf_token": office_b.token})
    acknowledged_at.append(time.monotonic())
    assert status == 302
    time.sleep(1)
    stop.set()
    for poller in pollers:
        poller.join(10)
    assert served_after == [], f"{len(served_after)} polls served after the revoke"
    assert tv_a.get(f"{TV_POLL}?v=-1", headers=HX)[0] in (401, 403)

    # Signing out on host B ends the session on host A too: the old cookie is refused there.
    copied = dict(office_b.cookies)
    status, _, _ = office_b.post("/logout", {"csrf_token": office_b.token})
    assert status == 302
    stale = deployment.browser("a")
    stale.cookies = copied
    status, headers, _ = stale.get("/dashboard")
    assert status == 302 and "/login" in headers["Location"]
    assert stale.get("/devices", headers=HX)[0] == 401


def test_one_host_killed_mid_dismissal_loses_nothing(district, db):
    deployment, office_user = district
    office = sign_in(deployment.browser(), office_user.email)
    status, _, _ = office.post(
        "/carline/dismissal/start",
        {"lanes": "1", "spots_per_lane": "3", "csrf_token": office.token},
    )
    assert status == 302
    screens = [pair_display(office, deployment.browser(), f"TV {n}") for n in range(SCREENS)]

    stop = threading.Event()
    statuses: Counter[str] = Counter()
    seen: dict[int, float] = {}  # tag -> when a screen first showed it
    last_fresh: list[float] = []  # when a screen last got an answer (200 or 204)
    acknowledged: dict[int, float] = {}
    killed_at: list[float] = []

    def screen(device: UnixBrowser):
        version = -1
        while not stop.is_set():
            try:
                status, _, body = device.get(f"{TV_POLL}?v={version}", headers=HX)
            except OSError as failure:
                statuses[f"poll {type(failure).__name__}"] += 1
                time.sleep(0.2)
                continue
            now = time.monotonic()
            statuses[f"poll {status}"] += 1
            if status in (200, 204):
                last_fresh.append(now)
            if status == 200:
                match = _VERSION.search(body)
                version = int(match.group(1)) if match else version
                for tag in _TAGS.findall(body):
                    seen.setdefault(int(tag), now)
            time.sleep(0.25)

    def curb_phone():
        curb = sign_in(deployment.browser(), office_user.email)
        for tag in range(1, CARS + 1):
            key = uuid.uuid4().hex  # the outbox keeps the key until the entry is acknowledged
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    status, _, _ = curb.post(
                        "/carline/curb/entries",
                        {"entry": str(tag), "key": key, "csrf_token": curb.token},
                        headers=HX,
                    )
                except OSError as failure:
                    statuses[f"curb {type(failure).__name__}"] += 1
                    time.sleep(0.2)
                    continue
                statuses[f"curb {status}"] += 1
                if status == 200:
                    acknowledged[tag] = time.monotonic()
                    break
                time.sleep(0.2)
            time.sleep(0.1)

    def killer():
        """Kills host A while requests are in flight, once a third of the cars are in."""
        while len(acknowledged) < CARS // 3:
            time.sleep(0.01)
        time.sleep(0.05)
        killed_at.append(time.monotonic())
        deployment.kill_host("a")

    threads = [threading.Thread(target=screen, args=(s,)) for s in screens]
    for thread in threads:
        thread.start()
    phone = threading.Thread(target=curb_phone)
    phone.start()
    threading.Thread(target=killer, daemon=True).start()
    phone.join(180)
    time.sleep(2)  # the screens' last polls
    stop.set()
    for thread in threads:
        thread.join(10)

    assert killed_at, "host A was never killed"
    served_by = Counter(
        line.split()[0] for line in (deployment.dir / "nginx-access.log").read_text().splitlines()
    )
    assert served_by[f"{HOSTS['a'][0]}:{PORT}"] > 0, "host A served nothing before it died"
    assert sorted(acknowledged) == list(range(1, CARS + 1)), "the curb could not go on"
    db.session.rollback()
    dismissal = db.session.scalars(select(Dismissal)).one()
    tags = [
        entry.family.tag_number
        for entry in db.session.scalars(
            select(QueueEntry)
            .where(QueueEntry.dismissal_id == dismissal.id)
            .order_by(QueueEntry.position)
        )
    ]
    doubled = [tag for tag, count in Counter(tags).items() if count > 1]
    assert doubled == [], "a resent entry was counted twice"
    assert sorted(tags) == list(range(1, CARS + 1)), "an acknowledged car was lost"

    after_kill = [at for at in last_fresh if at > killed_at[0]]
    assert after_kill, "no screen was answered after the kill"
    recovered_in = after_kill[0] - killed_at[0]
    late_cars = {tag: at for tag, at in acknowledged.items() if at > killed_at[0]}
    slowest = max(seen[tag] - at for tag, at in late_cars.items() if tag in seen)
    errors = sum(n for name, n in statuses.items() if not name.endswith((" 200", " 204")))
    print(
        f"\ntwo hosts: {sum(statuses.values())} requests, {errors} errors during the failover "
        f"({dict(statuses)}), screens answered again {recovered_in:.2f} s after the kill, "
        f"slowest car after the kill on a screen in {slowest:.2f} s; served by {dict(served_by)}"
    )
    assert recovered_in < 5
    assert slowest < 5, "screens did not keep updating through host B"
    assert set(late_cars) <= set(seen), "a car acknowledged after the kill never reached a screen"

# ruff: noqa: S603  (every command run here is our own: nginx, systemd-analyze)
"""The deployment kit (deploy/) as it ships: its nginx site in front of a real gunicorn,
over TLS, and its systemd units as systemd reads them.

The site file is used as it is, with only what a district fills in replaced (the
certificate, the listening addresses, the app's address, the package folder), so a
change to the shipped file is a change to what is tested. Requests go through nginx:
HTTP is sent to HTTPS; a sign-in from 127.0.0.2 is recorded in the audit log with that
address (one proxy hop, `PROXY_COUNT=1`), not the proxy's 127.0.0.1; a roster file over
nginx's default 1 MB limit reaches passline; a live poll answers through the kept-open
upstream connections; static files come from nginx with a year's cache, and gunicorn
never sees them.

Needs Debian's nginx (`.ci/run` installs it).
"""

from __future__ import annotations

import datetime as dt
import http.client
import ipaddress
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import select

from shared import live
from shared.models import AuditEvent
from tests.gunicorn_server import Browser, free_port, running_gunicorn
from tests.helpers import PASSWORD

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
HOST = "passline.example.org"
#: The client's own loopback address, so nginx's view of it differs from gunicorn's.
CLIENT = "127.0.0.2"

needs_nginx = pytest.mark.skipif(not os.path.exists(NGINX), reason="needs Debian's nginx")

MAIN_CONF = """
daemon off;
worker_processes 1;
{user}
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    access_log {dir}/access.log;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    include {dir}/passline.conf;
}}
"""


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for HOST and 127.0.0.1, and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(HOST), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "passline.pem", folder / "passline.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def site_conf(
    cert: Path, key: Path, http_port: int, https_port: int, app_port: int, stream_port: int
) -> str:
    """deploy/nginx/passline.conf with what a district fills in, and nothing else, replaced."""
    text = (DEPLOY / "nginx" / "passline.conf").read_text()
    filled = {
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "listen [::]:80;\n": "",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
        "listen [::]:443 ssl http2;\n": "",
        "server 127.0.0.1:8000;": f"server 127.0.0.1:{app_port};",
        "server 127.0.0.1:8001;": f"server 127.0.0.1:{stream_port};",
        "server 127.0.0.1:8000 backup;": f"server 127.0.0.1:{app_port} backup;",
        "/etc/ssl/certs/passline.example.org.pem": str(cert),
        "/etc/ssl/private/passline.example.org.key": str(key),
        "/opt/passline/site-packages": str(ROOT),  # `passline static-root` of this checkout
    }
    for placeholder, value in filled.items():
        assert placeholder in text, f"deploy/nginx/passline.conf no longer has {placeholder!r}"
        text = text.replace(placeholder, value)
    return text


class TLSBrowser(Browser):
    """The tests' browser over HTTPS to nginx, from CLIENT, naming HOST."""

    def __init__(self, port: int, cafile: Path):
        super().__init__(f"https://127.0.0.1:{port}")
        self.context = ssl.create_default_context(cafile=str(cafile))

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPSConnection(
            self.host,
            self.port,
            timeout=self.timeout,
            context=self.context,
            source_address=(CLIENT, 0),
        )

    def request(self, method, path, form=None, headers=None):
        # A browser names the page it comes from; over HTTPS Flask-WTF checks it.
        named = {"Host": HOST, "Referer": f"https://{HOST}{path}"}
        return super().request(method, path, form, {**named, **(headers or {})})


def wait_listening(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nginx stopped:\n{log.read_text() if log.exists() else ''}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError("nginx did not start listening")


@pytest.fixture
def proxied(app, tmp_path):
    """gunicorn (PROXY_COUNT=1) behind the shipped nginx site; (browser, http port, server)."""
    cert, key = self_signed(tmp_path)
    http_port, https_port = free_port(), free_port()
    database_url = app.config["SQLALCHEMY_DATABASE_URI"]
    with (
        running_gunicorn(database_url, tmp_path, workers=2, threads=2, PROXY_COUNT="1") as server,
        # The stream instance, as deploy/systemd/passline-streams.service runs it.
        running_gunicorn(
            database_url, tmp_path, workers=1, PROXY_COUNT="1", PASSLINE_WORKER_CLASS="gevent"
        ) as streams,
    ):
        app_port = int(server.url.rsplit(":", 1)[1])
        stream_port = int(streams.url.rsplit(":", 1)[1])
        (tmp_path / "passline.conf").write_text(
            site_conf(cert, key, http_port, https_port, app_port, stream_port)
        )
        user = "user root;" if os.geteuid() == 0 else ""  # temp files and static as root
        (tmp_path / "nginx.conf").write_text(MAIN_CONF.format(dir=tmp_path, user=user))
        nginx = subprocess.Popen(
            [NGINX, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_listening(https_port, nginx, tmp_path / "error.log")
            yield TLSBrowser(https_port, cert), http_port, server
        finally:
            nginx.send_signal(signal.SIGQUIT)
            nginx.wait(timeout=20)


def multipart(field: str, filename: str, content: bytes, **fields: str) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; '
            f'filename="{filename}"\r\nContent-Type: text/csv\r\n\r\n'
        ).encode()
        + content
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


@needs_nginx
def test_the_shipped_nginx_site_in_front_of_passline(db, school, make_user, proxied, tmp_path):
    browser, http_port, server = proxied
    admin = make_user(school, "admin")

    # Plain HTTP is sent to HTTPS.
    connection = http.client.HTTPConnection("127.0.0.1", http_port, timeout=10)
    connection.request("GET", "/login", headers={"Host": HOST})
    answer = connection.getresponse()
    assert answer.status == 301
    assert answer.getheader("Location") == f"https://{HOST}/login"
    connection.close()

    # Signing in through the proxy: secure cookies, HSTS, and the client's own address.
    token = browser.csrf_token("/login")
    status, headers, _ = browser.post(
        "/login", {"email": admin.email, "password": PASSWORD, "csrf_token": token}
    )
    assert status == 302, headers
    assert "Strict-Transport-Security" in headers  # passline saw https (X-Forwarded-Proto)
    db.session.rollback()  # see what gunicorn committed
    login = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "auth.login").order_by(AuditEvent.id.desc())
    ).first()
    assert login is not None and login.client_address == CLIENT

    # A roster file of 1.6 MB (nginx's default limit is 1 MB) reaches passline.
    rows = "".join(f"{900000 + n},Student{n},Family{n},,7,\n" for n in range(50_000))
    content = "student_number,first_name,last_name,preferred_name,grade,sourced_id\n" + rows
    assert len(content) > 1_500_000
    token = browser.csrf_token("/admin/roster/")
    body, content_type = multipart("file", "students.csv", content.encode(), csrf_token=token)
    connection = browser.connection()
    cookie = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
    connection.request(
        "POST",
        "/admin/roster/upload",
        body=body,
        headers={
            "Host": HOST,
            "Referer": f"https://{HOST}/admin/roster/",
            "Content-Type": content_type,
            "Cookie": cookie,
        },
    )
    answer = connection.getresponse()
    answer.read()
    connection.close()
    assert answer.status == 302, answer.status
    assert "/admin/roster/preview/" in answer.getheader("Location")

    # Static files: from nginx, cached a year, under the fingerprinted URL the page names.
    _, _, page = browser.get("/admin/roster/")
    stylesheet = re.search(r'href="(/static/css/app\.css\?s=[0-9a-f]+)"', page)
    assert stylesheet, "the page's stylesheet URL carries no fingerprint"
    status, headers, css = browser.get(stylesheet.group(1))
    assert status == 200 and "body" in css
    assert headers.get("Cache-Control") == "max-age=31536000"
    status, _, _ = browser.get("/carline/static/carline/curb.js")
    assert status == 200

    # A live poll of the hallway region through the proxy.
    status, _, _ = browser.get("/hallpass/hallway/list?v=0", headers={"HX-Request": "true"})
    assert status in (200, 204)

    # A live push stream through the proxy: each event passes at once, unbuffered.
    connection = browser.connection()
    cookie = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
    connection.request(
        "GET", "/live/stream?topics=hallway", headers={"Host": HOST, "Cookie": cookie}
    )
    stream = connection.getresponse()
    assert stream.status == 200 and stream.getheader("Content-Type").startswith("text/event-stream")
    assert _next_event(stream) == ("version", '{"topic":"hallway","v":0}')
    live.bump(school.id, "hallway")
    db.session.commit()
    assert _next_event(stream) == ("version", '{"topic":"hallway","v":1}')
    connection.close()

    gunicorn_log = server.log()
    assert "/static/css/app.css" not in gunicorn_log  # nginx served it
    assert "POST /admin/roster/upload" in gunicorn_log


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="needs systemd-analyze")
def _next_event(stream) -> tuple[str, str]:
    """The next server-sent event of a streamed answer (name, data), comments skipped."""
    name = data = None
    while True:
        line = stream.readline().decode().rstrip("\n")
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            data = line[6:]
        elif not line and name is not None:
            return name, data


def test_the_systemd_units_are_valid(tmp_path):
    """systemd-analyze reads every unit of deploy/systemd/ without a complaint, with the
    `passline` command where the units expect it replaced by this environment's."""
    passline = str(Path(sys.executable).parent / "passline")
    analyze = shutil.which("systemd-analyze")
    units = sorted((DEPLOY / "systemd").glob("passline*"))
    assert {u.name for u in units} >= {
        "passline.service",
        "passline-streams.service",
        "passline-purge.service",
        "passline-purge.timer",
        "passline-housekeeping.service",
        "passline-housekeeping.timer",
    }
    for unit in units:
        text = unit.read_text()
        if unit.suffix == ".service":
            assert "/opt/passline/bin/passline " in text, unit.name
        (tmp_path / unit.name).write_text(text.replace("/opt/passline/bin/passline", passline))
    checked = subprocess.run(
        [analyze, "verify", "--man=no", *[str(tmp_path / u.name) for u in units]],
        capture_output=True,
        text=True,
        timeout=60,
    )
    complaints = [
        line
        for line in (checked.stdout + checked.stderr).splitlines()
        # Not the units' business: the machine's own units systemd reads on the way.
        if any(u.name in line for u in units)
    ]
    assert checked.returncode == 0 and not complaints, checked.stdout + checked.stderr

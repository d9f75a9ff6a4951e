"""A real SMTP server of the test's own (aiosmtpd) on 127.0.0.1 and a free port.

It keeps every message it accepts, parsed, and can be stopped and started again on the
same port, so a test sees the app's mail go out, fail while the server is down, and go
out once it is back. With `user`/`password` it requires SMTP AUTH (PLAIN or LOGIN) and
refuses a mail sent without it.
"""

from __future__ import annotations

import email
import email.policy
import shutil
import ssl
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.gunicorn_server import free_port


class _Keeper:
    """aiosmtpd handler: keeps each message; refuses mail before AUTH when it is required."""

    def __init__(self, server: OwnSMTP):
        self.server = server

    async def handle_MAIL(self, smtp_server, session, envelope, address, mail_options):
        if self.server.user and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        return "250 OK"

    async def handle_DATA(self, smtp_server, session, envelope):
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        with self.server.lock:
            self.server.messages.append(message)
        return "250 Message accepted for delivery"


@dataclass
class OwnSMTP:
    port: int = field(default_factory=free_port)
    user: str | None = None
    password: str | None = None
    messages: list[EmailMessage] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    controller: Controller | None = None
    #: (certificate, key) files: STARTTLS is offered and required before MAIL, or with
    #: `implicit_tls` the connection is TLS from the start.
    tls: tuple[str, str] | None = None
    implicit_tls: bool = False
    #: Called once the messages have arrived, before `wait_for` returns them: the app's
    #: mail sender records each one as sent just after the server took it, and a test that
    #: writes to SQLite next must not race that write.
    settle: Callable[[], object] | None = None

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == self.user
            and auth_data.password.decode() == self.password
        )
        # handled=False: aiosmtpd answers the failure (535) itself.
        return AuthResult(success=ok, handled=False)

    def start(self) -> None:
        """Start (or start again) on the same port; returns once it accepts connections."""
        assert self.controller is None
        options: dict = {}
        if self.user:
            # AUTH over a plain connection: only ever on 127.0.0.1, in the tests.
            options = {"authenticator": self._authenticate, "auth_require_tls": False}
        if self.tls:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*self.tls)
            if self.implicit_tls:
                options["ssl_context"] = context
            else:
                options.update(tls_context=context, require_starttls=True)
        self.controller = Controller(
            _Keeper(self), hostname="127.0.0.1", port=self.port, ready_timeout=10, **options
        )
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def wait_for(self, count: int, timeout: float = 15.0) -> list[EmailMessage]:
        """The messages once at least `count` have arrived (fails after `timeout` s)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                arrived = list(self.messages) if len(self.messages) >= count else None
            if arrived is not None:
                if self.settle is not None:
                    self.settle()
                return arrived
            time.sleep(0.05)
        raise AssertionError(f"{count} message(s) expected, {len(self.messages)} arrived")


OPENSSL = shutil.which("openssl")


def self_signed_certificate(folder: Path) -> tuple[str, str]:
    """A certificate for localhost and 127.0.0.1, valid a day: (certificate, key) files,
    the certificate being its own CA (give it to the app as SMTP_CA_FILE)."""
    cert, key = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    subprocess.run(  # noqa: S603 - fixed arguments
        [
            OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return str(cert), str(key)

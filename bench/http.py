"""A small asyncio HTTP/1.1 client with keep-alive and a cookie jar, for the load generator.

One `Client` is one browser: one connection kept open (reopened when the server closes
it), its own cookies, and the CSRF token of the last page it read. It does just what the
benchmark needs, with as little CPU per request as possible, so the measurement is
the server's time and not the client's.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from dataclasses import dataclass
from urllib.parse import urlencode

_CSRF = re.compile(r'"X-CSRFToken": "([^"]+)"|name="csrf_token" value="([^"]+)"')


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class Client:
    def __init__(self, host: str, port: int, timeout: float = 10.0):
        self.host, self.port, self.timeout = host, port, timeout
        self.cookies: dict[str, str] = {}
        self.csrf: str | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self._writer.wait_closed()
            self._reader = self._writer = None

    async def _connect(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)

    async def request(
        self,
        method: str,
        path: str,
        form: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        """Send one request (retrying once on a connection the server had closed)."""
        body = urlencode(form).encode() if form is not None else b""
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        if self.cookies:
            lines.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        if form is not None:
            lines.append("Content-Type: application/x-www-form-urlencoded")
        if method != "GET":
            lines.append(f"Content-Length: {len(body)}")
            if self.csrf:
                lines.append(f"X-CSRFToken: {self.csrf}")
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}")
        raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
        for attempt in (1, 2):
            if self._writer is None:
                await self._connect()
            started = time.perf_counter()
            try:
                self._writer.write(raw)
                response = await asyncio.wait_for(self._read(), self.timeout)
            except (ConnectionError, asyncio.IncompleteReadError) as error:
                await self.close()
                if attempt == 2:
                    raise ConnectionError(f"{method} {path}: {error}") from error
                continue
            except TimeoutError:
                await self.close()
                raise
            response.seconds = time.perf_counter() - started
            if response.headers.get("connection", "").lower() == "close":
                await self.close()
            return response
        raise AssertionError("unreachable")

    async def _read(self) -> Response:
        head = await self._reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in header_lines:
            if not line:
                continue
            name, _, value = line.partition(":")
            name, value = name.strip().lower(), value.strip()
            if name == "set-cookie":
                self._store_cookie(value)
            headers[name] = value
        length = int(headers.get("content-length", "0"))
        body = await self._reader.readexactly(length) if length else b""
        return Response(status, headers, body, 0.0)

    def _store_cookie(self, header: str) -> None:
        pair = header.split(";", 1)[0]
        name, _, value = pair.partition("=")
        if not value or "expires=thu, 01 jan 1970" in header.lower():
            self.cookies.pop(name, None)
        else:
            self.cookies[name] = value

    async def get(self, path: str, **kwargs) -> Response:
        response = await self.request("GET", path, **kwargs)
        if response.status == 200 and b"csrf" in response.body.lower():
            match = _CSRF.search(response.text)
            if match:
                self.csrf = match.group(1) or match.group(2)
        return response

    async def post(self, path: str, form: dict[str, str], **kwargs) -> Response:
        if form is not None and self.csrf and "csrf_token" not in form:
            form = {**form, "csrf_token": self.csrf}
        return await self.request("POST", path, form=form, **kwargs)

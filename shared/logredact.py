"""gunicorn's access log for passline: no tokens or free text, no flood of polls, JSON
on request.

Pass, room and tag QR links carry opaque tokens in their paths; search terms and the like
could reach a query string. Access log lines keep the route shape and the numbers (ids,
versions, dates) and replace everything else that could identify a person or open a door.

Every screen of a school polls its live regions every few seconds, nearly always answered
204 (unchanged): one line each would bury the rest of the log. Those polls are counted
instead, one line a minute ("live polls unchanged: N in 60 s", written with the first
line after the minute; `PASSLINE_POLL_COUNT_SECONDS` changes the minute), unless
`PASSLINE_LOG_POLLS=on`. A poll that brings a change
(200) is logged like any request.

`PASSLINE_LOG_FORMAT=json` writes each access line as one JSON object (time, client,
method, path, status, bytes, ms) for a log collector; the default is text with a
timestamp.
"""

import json
import os
import re
import threading
import time
from datetime import UTC, datetime

from gunicorn.glogging import Logger

#: A path segment that looks like a token: long and made of URL-safe characters.
_TOKEN_SEGMENT = re.compile(r"(?<=/)[A-Za-z0-9_\-.~]{20,}(?=/|$|\?)")
_QUERY_VALUE = re.compile(r"=([^&]*)")
_SAFE_VALUE = re.compile(r"[0-9:\-]{0,20}")
REDACTED = "[redacted]"


def redact_path(path: str | None) -> str:
    """The path with token-like segments replaced."""
    return _TOKEN_SEGMENT.sub(REDACTED, path or "")


def redact_query(query: str | None) -> str:
    """The query string with every value that is not a number or a date replaced."""
    return _QUERY_VALUE.sub(
        lambda m: "=" + (m[1] if _SAFE_VALUE.fullmatch(m[1]) else REDACTED), query or ""
    )


def redact_uri(uri: str | None) -> str:
    """A request URI (path and query) with tokens and free text replaced."""
    path, _, query = (uri or "").partition("?")
    return redact_path(path) + ("?" + redact_query(query) if query else "")


class RedactingLogger(Logger):
    """gunicorn's logger, with request line, path, query and referrer redacted."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        method, protocol = environ.get("REQUEST_METHOD", "-"), environ.get("SERVER_PROTOCOL", "-")
        atoms["r"] = f"{method} {redact_uri(environ.get('RAW_URI'))} {protocol}"
        atoms["U"] = redact_path(environ.get("PATH_INFO"))
        atoms["q"] = redact_query(environ.get("QUERY_STRING"))
        atoms["f"] = redact_uri(environ.get("HTTP_REFERER", "-"))
        atoms["{referer}i"] = atoms["f"]
        atoms.pop("{cookie}i", None)
        return atoms

    def __init__(self, cfg):
        super().__init__(cfg)
        self.log_polls = os.environ.get("PASSLINE_LOG_POLLS", "off").lower() in ("1", "on", "true")
        self.json = os.environ.get("PASSLINE_LOG_FORMAT", "text").lower() == "json"
        self._polls_lock = threading.Lock()
        self._polls, self._polls_since = 0, time.monotonic()
        self.polls_every = float(os.environ.get("PASSLINE_POLL_COUNT_SECONDS", "") or 60)

    def access(self, resp, req, environ, request_time):
        if not self.access_log_enabled:
            return
        if not self.log_polls and _unchanged_poll(environ, resp):
            with self._polls_lock:
                self._polls += 1
            self._report_polls()
            return
        self._report_polls()
        if not self.json:
            super().access(resp, req, environ, request_time)
            return
        atoms = self.atoms(resp, req, environ, request_time)
        self._write(
            {
                "client": atoms["h"],
                "method": environ.get("REQUEST_METHOD", "-"),
                "path": atoms["U"],
                "query": atoms["q"],
                "status": int(atoms["s"]) if str(atoms["s"]).isdigit() else atoms["s"],
                "bytes": atoms["B"],
                "ms": int(atoms["M"]),
            }
        )

    def _report_polls(self) -> None:
        """The count of unchanged polls, once a minute (`PASSLINE_POLL_COUNT_SECONDS`)."""
        with self._polls_lock:
            seconds = time.monotonic() - self._polls_since
            if seconds < self.polls_every or not self._polls:
                return
            count, self._polls, self._polls_since = self._polls, 0, time.monotonic()
        if self.json:
            self._write({"live_polls_unchanged": count, "seconds": round(seconds)})
        else:
            self.access_log.info("live polls unchanged: %d in %d s", count, round(seconds))

    def _write(self, fields: dict) -> None:
        line = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"), **fields}
        self.access_log.info(json.dumps(line))


def _unchanged_poll(environ: dict, resp) -> bool:
    """A live region's poll (a GET with its shown version, `v`) answered 204."""
    return (
        environ.get("REQUEST_METHOD") == "GET"
        and re.search(r"(?:^|&)v=\d+(?:&|$)", environ.get("QUERY_STRING", "")) is not None
        and str(getattr(resp, "status", "")).startswith("204")
    )

"""Keep tokens and free text out of access logs.

Pass, room and tag QR links carry opaque tokens in their paths; search terms and the like
could reach a query string. Access log lines keep the route shape and the numbers (ids,
versions, dates) and replace everything else that could identify a person or open a door.
"""

import re

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

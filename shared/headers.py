"""Security headers on every response: a strict CSP, no framing, no sniffing, HSTS on HTTPS.

The Content-Security-Policy admits only this origin: no inline scripts, no inline styles,
no eval (htmx is configured with `allowEval: false`), and no page may frame ours. Camera
video (static/js/scanner.js) plays a MediaStream, which needs no media-src exception; QR
codes are inline SVG markup, not data: URLs.
"""

from flask import Response, g, request

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "media-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
#: One year, as HSTS preload lists expect; sent only over HTTPS.
HSTS = "max-age=31536000; includeSubDomains"


#: (name, value) of the headers every response carries unless its view set them.
_ALWAYS = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(self), microphone=(), geolocation=()"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)


def poll_headers(secure: bool) -> list[tuple[str, str]]:
    """The headers of a poll answered before Flask runs (poll_shortcut.PollShortcut): what
    `add_security_headers` gives a signed-in caller's response, and Vary: Cookie."""
    headers = [*_ALWAYS, ("Cache-Control", "no-store"), ("Vary", "Cookie")]
    if secure:
        headers.append(("Strict-Transport-Security", HSTS))
    return headers


def add_security_headers(response: Response) -> Response:
    """after_request: the headers every passline response carries."""
    headers = response.headers
    # One pass over the few headers present: werkzeug's setdefault raises and catches a
    # KeyError per missing header, and every response of a polling screen passes here.
    present = {name.lower() for name, _value in headers.items()}
    missing = [(name, value) for name, value in _ALWAYS if name.lower() not in present]
    if request.is_secure and "strict-transport-security" not in present:
        missing.append(("Strict-Transport-Security", HSTS))
    if g.get("principal") is not None and "cache-control" not in present:
        # Anything a signed-in user or paired device sees may name students.
        missing.append(("Cache-Control", "no-store"))
    headers.extend(missing)
    return response

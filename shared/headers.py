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


def add_security_headers(response: Response) -> Response:
    """after_request: the headers every passline response carries."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(self), microphone=(), geolocation=()")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", HSTS)
    if g.get("principal") is not None:
        # Anything a signed-in user or paired device sees may name students.
        headers.setdefault("Cache-Control", "no-store")
    return response

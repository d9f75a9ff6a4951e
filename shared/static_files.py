"""Static file URLs that change when the files do, so they can be cached for a year.

A reverse proxy serves /static/, /hallpass/static/ and /carline/static/ straight from the
installed package with a year's cache (deploy/nginx/passline.conf): a browser then never
asks again, so a new release must reach it under new URLs. Every URL built with
`url_for(<blueprint>.static, ...)` gets `?s=<fingerprint>`, a short hash of the names,
sizes and modification times of all the app's static files, computed once at start: it
changes with any upgrade that changes a file, and only then.
"""

from __future__ import annotations

import hashlib
import os

from flask import Flask


def fingerprint(app: Flask) -> str:
    """A short hash of every static file of the app and its blueprints."""
    digest = hashlib.sha256()
    folders = [app.static_folder, *(bp.static_folder for bp in app.blueprints.values())]
    for folder in sorted(f for f in folders if f and os.path.isdir(f)):
        for root, dirs, files in os.walk(folder):
            dirs.sort()
            for name in sorted(files):
                path = os.path.join(root, name)
                stat = os.stat(path)
                relative = os.path.relpath(path, folder)
                digest.update(f"{folder}:{relative}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:12]


def register(app: Flask) -> None:
    """Add `s=<fingerprint>` to every static file URL (after the blueprints are registered).

    Not `v`: that is a live region's shown version (shared/live.py), read off pages.
    """
    version = fingerprint(app)

    @app.url_defaults
    def _static_version(endpoint: str, values: dict) -> None:
        if endpoint == "static" or endpoint.endswith(".static"):
            values.setdefault("s", version)

"""The source of the running passline, offered to everyone who uses it over the network.

passline is under the GNU AGPL (LICENSE): section 13 asks that users interacting with it
remotely be offered its Corresponding Source. Every page (except paired devices' screens,
which nobody browses from) has a "Source" link in its footer: to PASSLINE_SOURCE_URL when
the district publishes its copy somewhere, else to /source, which sends a zip of the code
this server runs (its packages, templates, static files, migrations and the licence), so a
district that changed passline offers its changes without doing anything.
"""

from __future__ import annotations

import io
import sys
import zipfile
from importlib import metadata
from pathlib import Path

from flask import Flask

from shared.config import CODE_ROOT

#: Files of a source checkout that go with the packages, when passline runs from one.
CHECKOUT_FILES = ("LICENSE", "README.md", "pyproject.toml", "requirements.lock", "wsgi.py")


def version() -> str:
    """The installed passline's version (the footer shows it)."""
    try:
        return metadata.version("passline")
    except metadata.PackageNotFoundError:
        return "unknown"


def _licence_text() -> str | None:
    """LICENSE from the checkout, else the one the installed wheel carries."""
    checkout = CODE_ROOT / "LICENSE"
    if checkout.is_file():
        return checkout.read_text()
    try:
        files = metadata.distribution("passline").files or []
    except metadata.PackageNotFoundError:
        return None
    for file in files:
        if file.name == "LICENSE":
            return file.read_text()
    return None


def _package_files(root: Path, prefix: str):
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            yield path, f"{prefix}/{path.relative_to(root).as_posix()}"


def _package_roots(app: Flask) -> list[Path]:
    """The folders of the top-level packages the app runs: the core and each blueprint's
    (found from the registered blueprints: the core imports none of them)."""
    names = {"shared", *(bp.import_name.split(".")[0] for bp in app.blueprints.values())}
    return sorted(Path(sys.modules[name].__file__).resolve().parent for name in names)


def source_zip(app: Flask) -> bytes:
    """A zip of the code this process runs (built once per app, about 0.5 MB)."""
    cached = app.extensions.get("passline_source_zip")
    if cached is None:
        cached = app.extensions["passline_source_zip"] = _build_zip(app)
    return cached


def _build_zip(app: Flask) -> bytes:
    from shared import migrations_directory

    buffer = io.BytesIO()
    top = f"passline-{version()}"
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for root in _package_roots(app):
            for path, name in _package_files(root, f"{top}/{root.name}"):
                if name.startswith(f"{top}/shared/migrations/"):
                    continue  # added once, below, from wherever they are
                archive.write(path, name)
        for path, name in _package_files(Path(migrations_directory()), f"{top}/migrations"):
            archive.write(path, name)
        for extra in CHECKOUT_FILES:
            if extra != "LICENSE" and (CODE_ROOT / extra).is_file():
                archive.write(CODE_ROOT / extra, f"{top}/{extra}")
        licence = _licence_text()
        if licence is not None:
            archive.writestr(f"{top}/LICENSE", licence)
    return buffer.getvalue()

"""The input of an import: reading it safely, keeping an upload, and the sample sets.

`read_upload` / `read_path` turn a .zip, a directory or a single .csv into a `Bundle` of
CSV files, refusing unsafe input (zip bombs, path traversal, other file types) with a
`RosterFileError`. A bundle does not hold its files' contents: each file is a source
(`ZipMember`, a path on disk, or bytes) that `rows.read_table` opens and reads row by row
when the import needs it, so a district's export is never decoded whole in memory.

The zip guard tells a compressed bomb from a real export by two settings (app config,
from the environment; docs/roster-import.md): ROSTER_MAX_MB, the most uncompressed data a
bundle may hold (1024 MB by default, room for a district of well over 100,000 students),
and ROSTER_MAX_RATIO, how many times a member larger than 1 MB may expand (100 by default:
CSV exports compress 3 to 10 times, a zip bomb a thousand times). The sizes a zip states
are checked before anything is read, and every member is read through once (its CRC
checked, nothing kept) so a damaged file is refused at upload, not halfway through an import.

Between the preview and the apply step an upload is kept on disk under a random token
(`store_upload`, `load_upload`, `discard_upload`), readable only by the school that
uploaded it. `sample_zip` serves the sample sets in shared/samples.
"""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import time as clock
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from flask import current_app, has_app_context
from flask_babel import gettext as _

from shared.errors import InvalidInput, NotFound
from shared.roster.results import CSV_KINDS

MAX_ZIP_MEMBERS = 50
#: The defaults of ROSTER_MAX_MB and ROSTER_MAX_RATIO (see the module docstring).
DEFAULT_MAX_MB = 1024
DEFAULT_MAX_RATIO = 100
#: Members up to this size are not held to the ratio (a small file of blanks may
#: compress well and can do no harm).
RATIO_FLOOR_BYTES = 1024 * 1024
#: Kept for callers that want the default limit in bytes.
MAX_TOTAL_BYTES = DEFAULT_MAX_MB * 1024 * 1024
UPLOAD_SUFFIXES = (".csv", ".zip")
#: The sample sets (one directory each), in shared/samples.
SAMPLES_DIR = Path(__file__).parent.parent / "samples"
#: "oneroster" is OneRoster 1.1 (its path is used by links and scripts); "oneroster-1.2" a
#: bulk 1.2 export and "oneroster-1.2-delta" a 1.2 delta that follows it.
SAMPLE_SETS = ("oneroster", "oneroster-1.2", "oneroster-1.2-delta", "csv")

#: An uploaded file waiting for its preview / apply step: a random token, nothing else.
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{32}$")
UPLOAD_MAX_AGE_SECONDS = 24 * 3600
_CHUNK = 1024 * 1024


class RosterFileError(InvalidInput):
    """The upload cannot be read at all: wrong type, damaged, unsafe or too large."""


@dataclass(frozen=True)
class Limits:
    """How much a bundle may hold (ROSTER_MAX_MB) and expand (ROSTER_MAX_RATIO)."""

    max_bytes: int = MAX_TOTAL_BYTES
    max_ratio: int = DEFAULT_MAX_RATIO

    @property
    def max_mb(self) -> int:
        return self.max_bytes // 2**20


def limits() -> Limits:
    """The limits of the running app (its config), else the defaults."""
    if not has_app_context():
        return Limits()
    config = current_app.config
    return Limits(
        int(config.get("ROSTER_MAX_MB", DEFAULT_MAX_MB)) * 2**20,
        int(config.get("ROSTER_MAX_RATIO", DEFAULT_MAX_RATIO)),
    )


# --------------------------------------------------------------------------- reading input


@dataclass(frozen=True)
class ZipMember:
    """One file of a zip archive (on disk, or the bytes of an upload), opened when read."""

    archive: Path | bytes
    name: str
    size: int


#: Where a CSV file's bytes are: in memory, a file on disk, a zip member, or (a district
#: import, shared/roster/district.py) the rows of one school already split out.
Source = Any


@contextmanager
def open_source(source: Source) -> Iterator[IO[bytes]]:
    """The source's bytes as a binary stream (bytes, a path or a zip member)."""
    if isinstance(source, bytes | bytearray):
        yield io.BytesIO(source)
    elif isinstance(source, Path):
        with source.open("rb") as handle:
            yield handle
    elif isinstance(source, ZipMember):
        archive = source.archive
        where = archive if isinstance(archive, Path) else io.BytesIO(archive)
        with zipfile.ZipFile(where) as z, z.open(source.name) as handle:
            yield handle
    else:
        raise TypeError(f"not a file source: {source!r}")


@dataclass(frozen=True)
class Bundle:
    """The CSV files of one import: a source for each, by lower-case file name."""

    files: dict[str, Source]
    #: Names of files that were found but are not part of a roster.
    ignored: tuple[str, ...] = ()
    #: A district import's school bundle: users.csv sourcedId -> row of the users that
    #: are in the export but not in this school's rows (so they are known, not missing).
    elsewhere: dict[str, int] = field(default_factory=dict)

    @property
    def is_oneroster(self) -> bool:
        """A OneRoster export: orgs.csv and users.csv, or (a delta may hold neither) a
        manifest.csv, which passline CSV files never have."""
        return ("orgs.csv" in self.files and "users.csv" in self.files) or (
            "manifest.csv" in self.files
        )


def read_upload(data: bytes, filename: str) -> Bundle:
    """Read an uploaded .csv or .zip file into a bundle, refusing unsafe or unknown input."""
    name = _base_name(filename)
    if upload_suffix(name) == ".zip":
        return _read_zip(data)
    return _single_csv(name, data, len(data))


def read_path(path: str | os.PathLike[str]) -> Bundle:
    """Read a .zip file, a single .csv file or a directory of CSV files into a bundle."""
    path = Path(path)
    if path.is_dir():
        return _read_directory(path)
    if not path.is_file():
        raise RosterFileError(f"{path} is not a file or a directory.")
    name = _base_name(path.name)
    if upload_suffix(name) == ".zip":
        return _read_zip(path)
    return _single_csv(name, path, path.stat().st_size)


def _single_csv(name: str, source: Source, size: int) -> Bundle:
    if size > limits().max_bytes:
        raise _too_large(size)
    if name.removesuffix(".csv") not in CSV_KINDS:
        raise RosterFileError(
            _(
                "A single CSV file must be named after what it holds: %(names)s. Upload a "
                "OneRoster export as one .zip file.",
                names=", ".join(f"{kind}.csv" for kind in CSV_KINDS),
            )
        )
    return Bundle(files={name: source})


def upload_suffix(filename: str) -> str:
    """The file's suffix, '.csv' or '.zip'; any other type is refused."""
    suffix = Path(_base_name(filename)).suffix
    if suffix not in UPLOAD_SUFFIXES:
        raise RosterFileError(_("Upload a .csv file or a .zip file of CSV files."))
    return suffix


def _base_name(filename: str) -> str:
    return filename.replace("\\", "/").rsplit("/", 1)[-1].strip().lower()


def _too_large(size: int) -> RosterFileError:
    return RosterFileError(
        _(
            "The files hold %(size)d MB of data, more than the %(num)d MB this server "
            "accepts (district IT can raise ROSTER_MAX_MB).",
            size=-(-size // 2**20),
            num=limits().max_mb,
        )
    )


def _bomb(member: zipfile.ZipInfo, ratio: int) -> RosterFileError:
    return RosterFileError(
        _(
            "%(file)s in the zip file expands %(ratio)d times (%(size)d MB from %(packed)d "
            "KB); a roster export compresses at most %(max)d times, so this looks like a "
            "zip bomb and was refused.",
            file=member.filename,
            ratio=member.file_size // max(member.compress_size, 1),
            size=-(-member.file_size // 2**20),
            packed=-(-member.compress_size // 1024),
            max=ratio,
        )
    )


def _read_zip(data: Path | bytes) -> Bundle:
    guard = limits()
    try:
        archive = zipfile.ZipFile(data if isinstance(data, Path) else io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as exc:
        raise RosterFileError(_("The .zip file is damaged or is not a zip file.")) from exc
    with archive:
        members = archive.infolist()
        if len(members) > MAX_ZIP_MEMBERS:
            raise RosterFileError(
                _(
                    "The zip file holds %(num)d entries; a roster export has at most %(max)d.",
                    num=len(members),
                    max=MAX_ZIP_MEMBERS,
                )
            )
        for member in members:
            too_dense = member.file_size > guard.max_ratio * max(member.compress_size, 1)
            if member.file_size > RATIO_FLOOR_BYTES and too_dense:
                raise _bomb(member, guard.max_ratio)
        total = sum(member.file_size for member in members)
        if total > guard.max_bytes:
            raise _too_large(total)
        files: dict[str, Source] = {}
        ignored: list[str] = []
        for member in members:
            name = _member_name(member.filename)
            if name is None:
                continue
            if not name.endswith(".csv"):
                ignored.append(member.filename)
                continue
            if name in files:
                raise RosterFileError(_("The zip file holds two files named %(file)s.", file=name))
            _check_member(archive, member)
            files[name] = ZipMember(data, member.filename, member.file_size)
    return _bundle(files, ignored)


def _member_name(raw: str) -> str | None:
    """The lower-case file name of a zip entry; None for folders and system files."""
    name = raw.replace("\\", "/")
    parts = name.split("/")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or ".." in parts:
        raise RosterFileError(
            _("The zip file holds an unsafe path (%(path)s); it was refused.", path=repr(raw))
        )
    if name.endswith("/") or parts[0] == "__MACOSX" or parts[-1].startswith("."):
        return None
    return parts[-1].lower()


def _check_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> None:
    """Read the member through once (nothing kept): damaged or unreadable is refused now.

    zipfile never gives more bytes than the member's stated size and checks its CRC at
    the end, so the sizes the guard checked are the sizes the import will read."""
    try:
        with archive.open(member) as handle:
            while handle.read(_CHUNK):
                pass
    except (zipfile.BadZipFile, zlib.error, RuntimeError, NotImplementedError, EOFError) as exc:
        raise RosterFileError(
            _(
                "%(file)s in the zip file cannot be read (damaged, encrypted or compressed in "
                "an unsupported way).",
                file=member.filename,
            )
        ) from exc


def _read_directory(path: Path) -> Bundle:
    entries = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() == ".csv")
    if len(entries) > MAX_ZIP_MEMBERS:
        raise RosterFileError(f"{path} holds more than {MAX_ZIP_MEMBERS} CSV files.")
    total = sum(entry.stat().st_size for entry in entries)
    if total > limits().max_bytes:
        raise _too_large(total)
    files: dict[str, Source] = {}
    for entry in entries:
        name = entry.name.lower()
        if name in files:
            raise RosterFileError(f"{path} holds two files named {name}.")
        files[name] = entry
    return _bundle(files, [])


def _bundle(files: dict[str, Source], ignored: list[str]) -> Bundle:
    bundle = Bundle(files=files, ignored=tuple(ignored))
    if bundle.is_oneroster:
        return bundle
    known = {f"{kind}.csv" for kind in CSV_KINDS}
    if not known & files.keys():
        raise RosterFileError(
            _(
                "No roster files found: expected a OneRoster export (orgs.csv, users.csv...) "
                "or passline CSV files named %(names)s.",
                names=", ".join(sorted(known)),
            )
        )
    return Bundle(
        files={name: data for name, data in files.items() if name in known},
        ignored=tuple(ignored) + tuple(sorted(files.keys() - known)),
    )


# --------------------------------------------------------------------------- stored uploads


@dataclass(frozen=True)
class StoredUpload:
    """An upload kept between its preview and its apply step."""

    token: str
    school_id: int
    user_id: int | None
    #: "roster.zip", or the kind's file name of a single CSV ("students.csv").
    name: str


def store_upload(
    folder: Path, data: bytes, filename: str, *, school_id: int, user_id: int | None
) -> str:
    """Keep a readable upload as <token><suffix> (mode 0600) with a JSON sidecar; the token."""
    read_upload(data, filename)
    suffix = upload_suffix(filename)
    name = _base_name(filename) if suffix == ".csv" else "roster.zip"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    _remove_stale(folder)
    token = secrets.token_urlsafe(24)
    meta = {"school_id": school_id, "user_id": user_id, "name": name}
    _write_private(folder / f"{token}{suffix}", data)
    _write_private(folder / f"{token}.json", json.dumps(meta).encode())
    return token


def _gone() -> NotFound:
    return NotFound(_("This upload is not (or no longer) here; upload the file again."))


def stored_upload(folder: Path, token: str, *, school_id: int) -> StoredUpload:
    """The upload with this token if it belongs to this school (NotFound otherwise)."""
    if not TOKEN_RE.fullmatch(token):
        raise _gone()
    try:
        meta = json.loads((folder / f"{token}.json").read_text())
    except (OSError, ValueError):
        raise _gone() from None
    if not isinstance(meta, dict) or meta.get("school_id") != school_id:
        raise _gone()
    return StoredUpload(token, school_id, meta.get("user_id"), str(meta.get("name", "")))


def load_upload(folder: Path, token: str, *, school_id: int) -> tuple[StoredUpload, Bundle]:
    """The stored upload of this school with this token, read again (NotFound otherwise)."""
    upload = stored_upload(folder, token, school_id=school_id)
    path = folder / f"{token}{upload_suffix(upload.name)}"
    if not path.is_file():
        raise _gone()
    if upload_suffix(upload.name) == ".zip":
        return upload, _read_zip(path)
    return upload, read_upload(path.read_bytes(), upload.name)


def discard_upload(folder: Path, token: str, *, school_id: int) -> None:
    """Delete a stored upload of this school and its sidecar."""
    stored_upload(folder, token, school_id=school_id)
    for suffix in (*UPLOAD_SUFFIXES, ".json"):
        (folder / f"{token}{suffix}").unlink(missing_ok=True)


def _write_private(path: Path, data: bytes) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def _remove_stale(folder: Path) -> None:
    """Delete uploads nobody applied or discarded within a day."""
    oldest = clock.time() - UPLOAD_MAX_AGE_SECONDS
    for path in folder.iterdir():
        ours = TOKEN_RE.fullmatch(path.stem) and path.suffix in (".json", *UPLOAD_SUFFIXES)
        if ours and path.stat().st_mtime < oldest:
            path.unlink(missing_ok=True)


def sample_zip(name: str) -> bytes:
    """The sample set `name` (one of SAMPLE_SETS) as a zip file."""
    if name not in SAMPLE_SETS:
        raise NotFound(_("There is no such sample."))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted((SAMPLES_DIR / name).glob("*.csv")):
            archive.write(path, path.name)
    return buffer.getvalue()

"""The input of an import: reading it safely, keeping an upload, and the sample sets.

`read_upload` / `read_path` turn a .zip, a directory or a single .csv into a `Bundle` of
raw CSV files, refusing unsafe input (zip bombs, path traversal, other file types) with a
`RosterFileError`. Between the preview and the apply step an upload is kept on disk under
a random token (`store_upload`, `load_upload`, `discard_upload`), readable only by the
school that uploaded it. `sample_zip` serves the sample sets in shared/samples.
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
from dataclasses import dataclass
from pathlib import Path

from shared.errors import InvalidInput, NotFound
from shared.roster.results import CSV_KINDS

MAX_ZIP_MEMBERS = 50
MAX_TOTAL_BYTES = 50 * 1024 * 1024
UPLOAD_SUFFIXES = (".csv", ".zip")
#: The sample sets (one directory each), in shared/samples.
SAMPLES_DIR = Path(__file__).parent.parent / "samples"
SAMPLE_SETS = ("oneroster", "csv")

#: An uploaded file waiting for its preview / apply step: a random token, nothing else.
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{32}$")
UPLOAD_MAX_AGE_SECONDS = 24 * 3600


class RosterFileError(InvalidInput):
    """The upload cannot be read at all: wrong type, damaged, unsafe or too large."""


# --------------------------------------------------------------------------- reading input


@dataclass(frozen=True)
class Bundle:
    """The CSV files of one import, as raw bytes by lower-case file name."""

    files: dict[str, bytes]
    #: Names of files that were found but are not part of a roster.
    ignored: tuple[str, ...] = ()

    @property
    def is_oneroster(self) -> bool:
        return "orgs.csv" in self.files and "users.csv" in self.files


def read_upload(data: bytes, filename: str) -> Bundle:
    """Read an uploaded .csv or .zip file into a bundle, refusing unsafe or unknown input."""
    name = _base_name(filename)
    if upload_suffix(name) == ".zip":
        return _read_zip(data)
    if len(data) > MAX_TOTAL_BYTES:
        raise RosterFileError(f"{name} is larger than {MAX_TOTAL_BYTES // 2**20} MB.")
    if name.removesuffix(".csv") not in CSV_KINDS:
        raise RosterFileError(
            "A single CSV file must be named after what it holds: "
            + ", ".join(f"{kind}.csv" for kind in CSV_KINDS)
            + ". Upload a OneRoster export as one .zip file."
        )
    return Bundle(files={name: data})


def read_path(path: str | os.PathLike[str]) -> Bundle:
    """Read a .zip file, a single .csv file or a directory of CSV files into a bundle."""
    path = Path(path)
    if path.is_dir():
        return _read_directory(path)
    if not path.is_file():
        raise RosterFileError(f"{path} is not a file or a directory.")
    upload_suffix(path.name)
    if path.stat().st_size > MAX_TOTAL_BYTES:
        raise RosterFileError(f"{path.name} is larger than {MAX_TOTAL_BYTES // 2**20} MB.")
    return read_upload(path.read_bytes(), path.name)


def upload_suffix(filename: str) -> str:
    """The file's suffix, '.csv' or '.zip'; any other type is refused."""
    suffix = Path(_base_name(filename)).suffix
    if suffix not in UPLOAD_SUFFIXES:
        raise RosterFileError("Upload a .csv file or a .zip file of CSV files.")
    return suffix


def _base_name(filename: str) -> str:
    return filename.replace("\\", "/").rsplit("/", 1)[-1].strip().lower()


def _too_large() -> RosterFileError:
    return RosterFileError(
        f"The files hold more than {MAX_TOTAL_BYTES // 2**20} MB of data; "
        "this is not a roster export."
    )


def _read_zip(data: bytes) -> Bundle:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as exc:
        raise RosterFileError("The .zip file is damaged or is not a zip file.") from exc
    with archive:
        members = archive.infolist()
        if len(members) > MAX_ZIP_MEMBERS:
            raise RosterFileError(
                f"The zip file holds {len(members)} entries; a roster export has at most "
                f"{MAX_ZIP_MEMBERS}."
            )
        if sum(member.file_size for member in members) > MAX_TOTAL_BYTES:
            raise _too_large()
        files: dict[str, bytes] = {}
        ignored: list[str] = []
        budget = MAX_TOTAL_BYTES
        for member in members:
            name = _member_name(member.filename)
            if name is None:
                continue
            if not name.endswith(".csv"):
                ignored.append(member.filename)
                continue
            if name in files:
                raise RosterFileError(f"The zip file holds two files named {name}.")
            files[name] = _read_member(archive, member, budget)
            budget -= len(files[name])
    return _bundle(files, ignored)


def _member_name(raw: str) -> str | None:
    """The lower-case file name of a zip entry; None for folders and system files."""
    name = raw.replace("\\", "/")
    parts = name.split("/")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or ".." in parts:
        raise RosterFileError(f"The zip file holds an unsafe path ({raw!r}); it was refused.")
    if name.endswith("/") or parts[0] == "__MACOSX" or parts[-1].startswith("."):
        return None
    return parts[-1].lower()


def _read_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo, budget: int) -> bytes:
    try:
        with archive.open(member) as handle:
            content = handle.read(budget + 1)
    except (zipfile.BadZipFile, zlib.error, RuntimeError, NotImplementedError, EOFError) as exc:
        raise RosterFileError(
            f"{member.filename} in the zip file cannot be read "
            "(damaged, encrypted or compressed in an unsupported way)."
        ) from exc
    if len(content) > budget:
        raise _too_large()
    return content


def _read_directory(path: Path) -> Bundle:
    entries = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() == ".csv")
    if len(entries) > MAX_ZIP_MEMBERS:
        raise RosterFileError(f"{path} holds more than {MAX_ZIP_MEMBERS} CSV files.")
    if sum(entry.stat().st_size for entry in entries) > MAX_TOTAL_BYTES:
        raise _too_large()
    files: dict[str, bytes] = {}
    for entry in entries:
        name = entry.name.lower()
        if name in files:
            raise RosterFileError(f"{path} holds two files named {name}.")
        files[name] = entry.read_bytes()
    return _bundle(files, [])


def _bundle(files: dict[str, bytes], ignored: list[str]) -> Bundle:
    bundle = Bundle(files=files, ignored=tuple(ignored))
    if bundle.is_oneroster:
        return bundle
    known = {f"{kind}.csv" for kind in CSV_KINDS}
    if not known & files.keys():
        raise RosterFileError(
            "No roster files found: expected a OneRoster export (orgs.csv, users.csv...) "
            "or passline CSV files named " + ", ".join(sorted(known)) + "."
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
    return NotFound("This upload is not (or no longer) here; upload the file again.")


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
    try:
        data = (folder / f"{token}{upload_suffix(upload.name)}").read_bytes()
    except OSError:
        raise _gone() from None
    return upload, read_upload(data, upload.name)


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
    """The sample set `name` ("oneroster" or "csv") as a zip file."""
    if name not in SAMPLE_SETS:
        raise NotFound("There is no such sample.")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted((SAMPLES_DIR / name).glob("*.csv")):
            archive.write(path, path.name)
    return buffer.getvalue()

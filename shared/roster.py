"""Roster import for one school: passline CSV files or a OneRoster v1.1 CSV bundle.

The work has three steps, and only the last one writes:

1. `read_upload` / `read_path` turn a .zip, a directory or a single .csv into a `Bundle`
   of raw CSV files, refusing unsafe input (zip bombs, path traversal, other file types).
2. `plan_import` parses and checks every row, compares the result with the school's
   data (each kind loaded once into dicts) and returns a `Plan`: what would be created,
   changed, deactivated or removed, plus row errors (file, row, column, reason) and warnings.
   This is the dry run; it never writes.
3. `apply_import` writes a plan without errors inside the caller's transaction (flush
   only) and records one `roster.import` audit event. The caller commits once.

Rows are matched to existing data by key (sourced id, student number, email, class id,
tag number), so importing again updates instead of duplicating. Students and classes
missing from an import that contains them are deactivated, never deleted. Staff created
by an import have no password, and an import never grants the admin role.
The columns are documented in docs/roster-import.md.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import secrets
import time as clock
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from functools import cached_property
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import selectinload

from shared import audit
from shared.errors import InvalidInput, NotFound
from shared.extensions import db
from shared.models import (
    ROLES,
    ROOM_KINDS,
    WEEKDAYS,
    BellPeriod,
    Enrollment,
    Family,
    Membership,
    Room,
    School,
    SchoolClass,
    Student,
    User,
)
from shared.staff import EMAIL_RE

MAX_ZIP_MEMBERS = 50
MAX_TOTAL_BYTES = 50 * 1024 * 1024
UPLOAD_SUFFIXES = (".csv", ".zip")
#: The passline CSV files, by kind; a file is named after its kind ("students.csv").
CSV_KINDS = ("staff", "rooms", "students", "classes", "enrollments", "bell_schedule", "families")
KIND_LABELS = {
    "staff": "Staff",
    "rooms": "Rooms",
    "students": "Students",
    "classes": "Classes",
    "enrollments": "Enrollments",
    "bell_schedule": "Bell schedule",
    "families": "Families",
}
ACTIONS = ("created", "changed", "deactivated", "removed")
#: The actions that can happen to each kind.
KIND_ACTIONS = {
    "staff": ("created", "changed"),
    "rooms": ("created", "changed"),
    "students": ("created", "changed", "deactivated"),
    "classes": ("created", "changed", "deactivated"),
    "enrollments": ("created", "removed"),
    "bell_schedule": ("created", "changed", "removed"),
    "families": ("created", "changed"),
}
#: Roles an import may grant; the admin role is only ever given on the Staff page.
IMPORT_ROLES = tuple(role for role in ROLES if role != "admin")
#: OneRoster staff roles and the passline role each one gets.
ONEROSTER_STAFF_ROLES = {"teacher": "teacher", "administrator": "staff", "aide": "staff"}
SAMPLES_DIR = Path(__file__).parent / "samples"
SAMPLE_SETS = ("oneroster", "csv")

#: An uploaded file waiting for its preview / apply step: a random token, nothing else.
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{32}$")
UPLOAD_MAX_AGE_SECONDS = 24 * 3600

_GRADES = ("PK", "K", *(str(n) for n in range(1, 13)))
_FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_CLOCK_RE = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_MAX_TAG = 2**31 - 1
#: Values per IN (...) list in bulk queries.
_CHUNK = 500

Where = tuple[str, int]


class RosterFileError(InvalidInput):
    """The upload cannot be read at all: wrong type, damaged, unsafe or too large."""


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class RowError:
    """One problem in the input. `row` counts like a spreadsheet: the header is row 1."""

    file: str
    row: int | None
    column: str | None
    reason: str

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f" row {self.row}"
        if self.column:
            where += f", column {self.column}"
        return f"{where}: {self.reason}"


@dataclass
class Change:
    """One row to create, change, deactivate or remove, as shown in the preview."""

    label: str
    detail: str = ""
    #: The existing database row (or enrollment id) the change applies to.
    target: Any = field(default=None, repr=False)
    #: The imported record a creation is made from.
    record: Any = field(default=None, repr=False)
    #: New column values of a changed row.
    updates: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class KindChanges:
    """The changes of one kind (students, classes...)."""

    created: list[Change] = field(default_factory=list)
    changed: list[Change] = field(default_factory=list)
    deactivated: list[Change] = field(default_factory=list)
    removed: list[Change] = field(default_factory=list)

    def counts(self, actions: tuple[str, ...] = ACTIONS) -> dict[str, int]:
        """How many changes of each action."""
        return {action: len(getattr(self, action)) for action in actions}

    def total(self) -> int:
        """How many changes in all."""
        return sum(self.counts().values())


@dataclass
class Plan:
    """What an import would do to one school; `apply_import` carries it out."""

    school: School
    #: "oneroster" or "csv".
    format: str
    kinds: dict[str, KindChanges] = field(
        default_factory=lambda: {kind: KindChanges() for kind in CSV_KINDS}
    )
    #: Kinds the import contains (a kind it does not contain is left alone).
    present: list[str] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: The OneRoster org sourcedId to store in School.sourced_id when applied.
    school_sourced_id: str | None = None
    existing: _Existing | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return not self.errors

    def counts(self) -> dict[str, dict[str, int]]:
        """Counts per kind and action, for the kinds in the import or with changes."""
        return {
            kind: changes.counts(KIND_ACTIONS[kind])
            for kind, changes in self.kinds.items()
            if kind in self.present or changes.total()
        }

    def summary_lines(self) -> list[str]:
        """One readable line per kind, e.g. 'Students: 25 created, 1 changed, 0 deactivated'."""
        return [
            f"{KIND_LABELS[kind]}: " + ", ".join(f"{n} {action}" for action, n in counts.items())
            for kind, counts in self.counts().items()
        ]


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


# --------------------------------------------------------------------------- CSV rows


@dataclass
class _Row:
    file: str
    line: int
    values: dict[str, str]

    def get(self, column: str) -> str:
        return self.values.get(column.lower(), "")


def _read_table(
    bundle: Bundle, name: str, required: tuple[str, ...], errors: list[RowError]
) -> list[_Row] | None:
    """The data rows of one CSV file, or None when the file itself is unusable."""
    try:
        text = bundle.files[name].decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        errors.append(
            RowError(name, None, None, f"not UTF-8 text (byte {exc.start}); save it as CSV UTF-8")
        )
        return None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [column.strip().lower() for column in next(reader, [])]
        problem = _header_problem(name, header, required, errors)
        if problem:
            return None
        rows = []
        for number, values in enumerate(reader, start=2):
            if not any(value.strip() for value in values):
                continue
            if any(value.strip() for value in values[len(header) :]):
                errors.append(
                    RowError(name, number, None, f"more values than the {len(header)} columns")
                )
                continue
            cells = {c: v.strip() for c, v in zip(header, values, strict=False) if c}
            rows.append(_Row(name, number, cells))
    except csv.Error as exc:
        errors.append(RowError(name, reader.line_num, None, f"not valid CSV: {exc}"))
        return None
    return rows


def _header_problem(
    name: str, header: list[str], required: tuple[str, ...], errors: list[RowError]
) -> bool:
    if not any(header):
        errors.append(RowError(name, None, None, "the file is empty"))
        return True
    named = [column for column in header if column]
    problem = False
    for column in sorted({c for c in named if named.count(c) > 1}):
        errors.append(RowError(name, 1, column, "the column appears twice"))
        problem = True
    for column in required:
        if column.lower() not in header:
            errors.append(RowError(name, 1, column, "required column is missing"))
            problem = True
    return problem


def _limit(column: Any) -> int:
    return column.type.length


class _Cells:
    """The cells of one row, read and checked; every problem becomes a RowError."""

    def __init__(self, row: _Row, errors: list[RowError]) -> None:
        self.row = row
        self.errors = errors
        self.ok = True

    @property
    def where(self) -> Where:
        return (self.row.file, self.row.line)

    def get(self, column: str) -> str:
        return self.row.get(column)

    def fail(self, column: str | None, reason: str) -> None:
        self.errors.append(RowError(self.row.file, self.row.line, column, reason))
        self.ok = False

    def text(self, column: str, limit: int, *, required: bool = True) -> str | None:
        value = self.get(column)
        if not value:
            if required:
                self.fail(column, "a value is required")
            return None
        if len(value) > limit:
            self.fail(column, f"longer than {limit} characters")
            return None
        return value

    def email(self, column: str, value: str) -> str | None:
        email = value.strip().lower()
        if not email:
            self.fail(column, "an email address is required")
            return None
        if len(email) > _limit(User.email) or not EMAIL_RE.match(email):
            self.fail(column, f"{value!r} is not a valid email address")
            return None
        return email


def _split(value: str, pattern: str = r"[;,]") -> list[str]:
    return [part.strip() for part in re.split(pattern, value) if part.strip()]


def _collect(
    rows: list[_Row],
    errors: list[RowError],
    parse: Callable[[_Cells], list[tuple[Any, Any]]],
    key_column: str,
) -> dict[Any, Any]:
    """Parse every row into keyed records; a key seen twice is an error on the later row."""
    records: dict[Any, Any] = {}
    seen: dict[Any, int] = {}
    for row in rows:
        cells = _Cells(row, errors)
        parsed = parse(cells)
        if not cells.ok:
            continue
        for key, record in parsed:
            if key in seen:
                cells.fail(key_column, f"{_show_key(key)} is already on row {seen[key]}")
                break
            seen[key] = row.line
            records[key] = record
    return records


def _show_key(key: Any) -> str:
    if isinstance(key, tuple):
        return " / ".join(WEEKDAYS[k] if isinstance(k, int) else str(k) for k in key)
    return repr(key)


# --------------------------------------------------------------------------- records


@dataclass
class StaffRecord:
    email: str
    name: str
    roles: frozenset[str]
    sourced_id: str | None
    where: Where


@dataclass
class RoomRecord:
    name: str
    kind: str
    where: Where | None


@dataclass
class StudentRecord:
    student_number: str
    first_name: str
    last_name: str
    preferred_name: str | None
    grade: str | None
    sourced_id: str | None
    where: Where

    def columns(self) -> dict[str, Any]:
        return {
            "student_number": self.student_number,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "preferred_name": self.preferred_name,
            "grade": self.grade,
            "sourced_id": self.sourced_id,
        }


@dataclass
class ClassRecord:
    key: str
    name: str
    room: str | None
    period: str | None
    teacher_emails: list[str]
    where: Where


@dataclass
class BellRecord:
    period: str
    weekday: int
    start: time
    end: time
    where: Where


@dataclass
class FamilyRecord:
    tag_number: int
    student_numbers: list[str]
    #: None when the file has no pickup_adults column (the stored text is kept).
    pickup_adults: str | None
    where: Where


@dataclass
class Roster:
    """What an import says about the school, per kind; None means "not in this import"."""

    staff: dict[str, StaffRecord] | None = None
    rooms: dict[str, RoomRecord] | None = None
    students: dict[str, StudentRecord] | None = None
    classes: dict[str, ClassRecord] | None = None
    enrollments: dict[tuple[str, str], Where] | None = None
    bell_schedule: dict[tuple[str, int], BellRecord] | None = None
    families: dict[int, FamilyRecord] | None = None


# --------------------------------------------------------------------------- value checks


def _csv_grade(value: str) -> str | None:
    """'K', 'PK' or '1'..'12' from common spellings ('KG', '07'); None if not a grade."""
    grade = value.strip().upper()
    if grade in ("KG", "0", "00"):
        return "K"
    if grade.isdigit():
        grade = str(int(grade))
    return grade if grade in _GRADES else None


#: OneRoster (CEDS) grade codes without a K-12 grade; they import as "no grade".
_ONEROSTER_NO_GRADE = {"13", "PS", "UG", "OTHER"}
_ONEROSTER_PRE_K = {"IT", "PR", "PK", "TK"}


def _oneroster_grade(value: str) -> tuple[bool, str | None]:
    """(known, grade) for a OneRoster grade code such as '07', 'KG' or 'PK'."""
    code = value.strip().upper()
    if not code or code in _ONEROSTER_NO_GRADE:
        return True, None
    if code in _ONEROSTER_PRE_K:
        return True, "PK"
    grade = _csv_grade(code)
    return grade is not None, grade


def _weekday(token: str) -> int:
    token = token.strip().lower()
    if token.isdigit() and int(token) <= 6:
        return int(token)
    if len(token) >= 3:
        for number, name in enumerate(_FULL_DAY_NAMES):
            if name.startswith(token):
                return number
    raise ValueError(f"{token!r} is not a weekday (use Mon..Sun or 0-6)")


def parse_days(value: str) -> list[int]:
    """Weekday numbers (0 = Monday) from 'Mon-Fri', 'Mon,Wed', 'Tue Thu' or '0-4'."""
    days: set[int] = set()
    for part in _split(re.sub(r"\s*-\s*", "-", value), r"[,;\s]+"):
        first, dash, last = part.partition("-")
        start = _weekday(first)
        end = _weekday(last) if dash else start
        if end < start:
            raise ValueError(f"{part!r} runs backwards; write the earlier day first")
        days.update(range(start, end + 1))
    if not days:
        raise ValueError("no weekday given")
    return sorted(days)


def _parse_clock(value: str) -> time:
    match = _CLOCK_RE.match(value.strip())
    if match is None:
        raise ValueError(f"{value!r} is not a time like 08:15 (24-hour HH:MM)")
    return time(int(match.group(1)), int(match.group(2)))


def _parse_date(value: str) -> date:
    return date.fromisoformat(value.strip()[:10])


# --------------------------------------------------------------------------- passline CSV


def _parse_staff_row(cells: _Cells) -> list[tuple[Any, Any]]:
    email = cells.email("email", cells.get("email"))
    name = cells.text("name", _limit(User.name))
    roles = {role.lower() for role in _split(cells.get("roles"), r"[;,\s]+")}
    if not roles:
        cells.fail("roles", "at least one role is required")
    elif "admin" in roles:
        cells.fail("roles", "the admin role is not given by an import; give it on the Staff page")
    elif not roles <= set(IMPORT_ROLES):
        unknown = ", ".join(sorted(roles - set(IMPORT_ROLES)))
        cells.fail("roles", f"unknown role {unknown}; use {', '.join(IMPORT_ROLES)}")
    sourced_id = cells.text("sourced_id", _limit(User.sourced_id), required=False)
    if not cells.ok:
        return []
    return [(email, StaffRecord(email, name, frozenset(roles), sourced_id, cells.where))]


def _parse_room_row(cells: _Cells) -> list[tuple[Any, Any]]:
    name = cells.text("name", _limit(Room.name))
    kind = cells.get("kind").lower() or "classroom"
    if kind not in ROOM_KINDS:
        cells.fail("kind", f"unknown room kind {kind!r}; use {', '.join(ROOM_KINDS)}")
    if not cells.ok:
        return []
    return [(name.casefold(), RoomRecord(name, kind, cells.where))]


def _parse_student_row(cells: _Cells) -> list[tuple[Any, Any]]:
    number = cells.text("student_number", _limit(Student.student_number))
    first = cells.text("first_name", _limit(Student.first_name))
    last = cells.text("last_name", _limit(Student.last_name))
    preferred = cells.text("preferred_name", _limit(Student.preferred_name), required=False)
    grade = None
    if cells.get("grade"):
        grade = _csv_grade(cells.get("grade"))
        if grade is None:
            cells.fail("grade", f"{cells.get('grade')!r} is not a grade; use PK, K or 1-12")
    sourced_id = cells.text("sourced_id", _limit(Student.sourced_id), required=False)
    if not cells.ok:
        return []
    record = StudentRecord(number, first, last, preferred, grade, sourced_id, cells.where)
    return [(number, record)]


def _parse_class_row(cells: _Cells) -> list[tuple[Any, Any]]:
    key = cells.text("class_id", _limit(SchoolClass.sourced_id))
    name = cells.text("name", _limit(SchoolClass.name))
    room = cells.text("room", _limit(Room.name), required=False)
    period = cells.text("period", _limit(SchoolClass.period), required=False)
    emails = [cells.email("teacher_emails", e) for e in _split(cells.get("teacher_emails"))]
    if not cells.ok:
        return []
    teachers = list(dict.fromkeys(e for e in emails if e))
    return [(key, ClassRecord(key, name, room, period, teachers, cells.where))]


def _parse_enrollment_row(cells: _Cells) -> list[tuple[Any, Any]]:
    key = cells.text("class_id", _limit(SchoolClass.sourced_id))
    number = cells.text("student_number", _limit(Student.student_number))
    return [((key, number), cells.where)] if cells.ok else []


def _parse_bell_row(cells: _Cells) -> list[tuple[Any, Any]]:
    period = cells.text("period", _limit(BellPeriod.name))
    days: list[int] = []
    start = end = None
    for column, parse in (("days", parse_days), ("start", _parse_clock), ("end", _parse_clock)):
        if not cells.get(column):
            cells.fail(column, "a value is required")
            continue
        try:
            value = parse(cells.get(column))
        except ValueError as exc:
            cells.fail(column, str(exc))
            continue
        if column == "days":
            days = value
        elif column == "start":
            start = value
        else:
            end = value
    if start is not None and end is not None and start >= end:
        cells.fail("end", "the period must end after it starts")
    if not cells.ok:
        return []
    return [((period, day), BellRecord(period, day, start, end, cells.where)) for day in days]


def _parse_family_row(cells: _Cells) -> list[tuple[Any, Any]]:
    raw_tag = cells.get("tag_number")
    tag = int(raw_tag) if raw_tag.isdigit() else 0
    if not 0 < tag <= _MAX_TAG:
        cells.fail("tag_number", f"{raw_tag!r} is not a positive whole number")
    numbers = list(dict.fromkeys(_split(cells.get("student_numbers"))))
    if not numbers:
        cells.fail("student_numbers", "at least one student number is required")
    adults = None
    if "pickup_adults" in cells.row.values:
        adults = "\n".join(_split(cells.get("pickup_adults"), r";"))
    if not cells.ok:
        return []
    return [(tag, FamilyRecord(tag, numbers, adults, cells.where))]


_CSV_FILES: dict[str, tuple[tuple[str, ...], Callable[[_Cells], list], str]] = {
    "staff": (("email", "name", "roles"), _parse_staff_row, "email"),
    "rooms": (("name", "kind"), _parse_room_row, "name"),
    "students": (
        ("student_number", "first_name", "last_name"),
        _parse_student_row,
        "student_number",
    ),
    "classes": (("class_id", "name"), _parse_class_row, "class_id"),
    "enrollments": (("class_id", "student_number"), _parse_enrollment_row, "student_number"),
    "bell_schedule": (("period", "days", "start", "end"), _parse_bell_row, "days"),
    "families": (("tag_number", "student_numbers"), _parse_family_row, "tag_number"),
}


def _parse_csv_bundle(bundle: Bundle, plan: Plan) -> Roster:
    roster = Roster()
    for kind, (required, parse, key_column) in _CSV_FILES.items():
        name = f"{kind}.csv"
        if name not in bundle.files:
            continue
        plan.present.append(kind)
        rows = _read_table(bundle, name, required, plan.errors)
        if rows is not None:
            setattr(roster, kind, _collect(rows, plan.errors, parse, key_column))
    return roster


# --------------------------------------------------------------------------- OneRoster


def _deleted(row: _Row) -> bool:
    """A OneRoster row marked for deletion (or a disabled user)."""
    return (
        row.get("status").lower() in ("tobedeleted", "inactive")
        or row.get("enabledUser").lower() == "false"
    )


class _OneRosterReader:
    """Turns the OneRoster files into a Roster for the chosen school org."""

    def __init__(self, bundle: Bundle, plan: Plan, today: date, org_sourced_id: str | None) -> None:
        self.bundle = bundle
        self.plan = plan
        self.today = today
        self.wanted_org = org_sourced_id or plan.school.sourced_id
        self.roster = Roster()
        #: users.csv sourcedId -> ("student", number) / ("staff", email) / ("skip", "").
        self.users: dict[str, tuple[str, str]] = {}

    def table(self, name: str, required: tuple[str, ...]) -> list[_Row] | None:
        if name not in self.bundle.files:
            return None
        return _read_table(self.bundle, name, required, self.plan.errors)

    def read(self) -> Roster:
        self.check_manifest()
        org = self.choose_org()
        if org is None:
            return self.roster
        self.read_users(org)
        class_rows = self.table("classes.csv", ("sourcedId", "title", "schoolSourcedId"))
        if class_rows is not None:
            self.read_classes(class_rows, org)
            self.read_enrollments()
        return self.roster

    def check_manifest(self) -> None:
        rows = self.table("manifest.csv", ("propertyName", "value")) or []
        for row in rows:
            version = row.get("value")
            if row.get("propertyName") == "oneroster.version" and version not in ("1.0", "1.1"):
                self.plan.warnings.append(
                    f"manifest.csv says OneRoster version {version}; passline reads version 1.1."
                )

    def choose_org(self) -> str | None:
        rows = self.table("orgs.csv", ("sourcedId", "name", "type"))
        if rows is None:
            return None
        schools = [r for r in rows if r.get("type").lower() == "school" and not _deleted(r)]
        chosen = [r for r in rows if self.wanted_org and r.get("sourcedId") == self.wanted_org]
        if chosen or len(schools) == 1:
            org = (chosen or schools)[0]
            if org.get("sourcedId") != self.plan.school.sourced_id:
                self.plan.school_sourced_id = org.get("sourcedId")
                self.plan.warnings.append(
                    f"This school is linked to the OneRoster org {org.get('name')!r} "
                    f"(sourcedId {self.plan.school_sourced_id})."
                )
            return org.get("sourcedId")
        found = ", ".join(f"{r.get('name')} ({r.get('sourcedId')})" for r in schools) or "none"
        self.plan.errors.append(
            RowError(
                "orgs.csv",
                None,
                "sourcedId",
                f"cannot tell which school org is this school; school orgs found: {found}. "
                "Set the school's OneRoster sourcedId (flask roster import --org SOURCEDID).",
            )
        )
        return None

    def read_users(self, org: str) -> None:
        rows = self.table(
            "users.csv", ("sourcedId", "orgSourcedIds", "role", "givenName", "familyName")
        )
        if rows is None:
            return
        self.plan.present += ["staff", "students"]
        staff: dict[str, StaffRecord] = {}
        students: dict[str, StudentRecord] = {}
        sourced_rows: dict[str, int] = {}
        for row in rows:
            cells = _Cells(row, self.plan.errors)
            sourced_id = cells.text("sourcedId", _limit(User.sourced_id))
            if sourced_id is None:
                continue
            if sourced_id in sourced_rows:
                cells.fail(
                    "sourcedId", f"{sourced_id!r} is already on row {sourced_rows[sourced_id]}"
                )
                continue
            sourced_rows[sourced_id] = row.line
            self.users[sourced_id] = ("skip", "")
            role = cells.get("role").lower()
            if org not in _split(cells.get("orgSourcedIds")) or _deleted(cells.row):
                continue
            if role == "student":
                self.read_student(cells, sourced_id, students)
            elif role in ONEROSTER_STAFF_ROLES:
                self.read_staff(cells, sourced_id, ONEROSTER_STAFF_ROLES[role], staff)
        self.roster.staff = staff
        self.roster.students = students

    def read_student(
        self, cells: _Cells, sourced_id: str, students: dict[str, StudentRecord]
    ) -> None:
        column = "identifier" if cells.get("identifier") else "username"
        number = cells.text(column, _limit(Student.student_number))
        if number is None:
            return
        first = cells.text("givenName", _limit(Student.first_name))
        last = cells.text("familyName", _limit(Student.last_name))
        preferred = cells.text("preferredFirstName", _limit(Student.preferred_name), required=False)
        grades = _split(cells.get("grades"))
        known, grade = _oneroster_grade(grades[0] if grades else "")
        if not known:
            cells.fail("grades", f"{grades[0]!r} is not a OneRoster grade code")
        if number in students:
            cells.fail(
                column, f"student number {number!r} is already on row {students[number].where[1]}"
            )
        if not cells.ok:
            return
        students[number] = StudentRecord(
            number, first, last, preferred, grade, sourced_id, cells.where
        )
        self.users[sourced_id] = ("student", number)

    def read_staff(
        self, cells: _Cells, sourced_id: str, role: str, staff: dict[str, StaffRecord]
    ) -> None:
        email = cells.email("email", cells.get("email"))
        name = f"{cells.get('givenName')} {cells.get('familyName')}".strip()
        if not name or len(name) > _limit(User.name):
            cells.fail("givenName", f"the name must have 1 to {_limit(User.name)} characters")
        if email in staff:
            cells.fail("email", f"{email!r} is already on row {staff[email].where[1]}")
        if not cells.ok:
            return
        staff[email] = StaffRecord(email, name, frozenset({role}), sourced_id, cells.where)
        self.users[sourced_id] = ("staff", email)

    def current_terms(self) -> set[str] | None:
        """Sessions that cover today; None without academicSessions.csv."""
        rows = self.table("academicsessions.csv", ("sourcedId", "startDate", "endDate"))
        if rows is None:
            return None
        current = set()
        for row in rows:
            cells = _Cells(row, self.plan.errors)
            try:
                start, end = _parse_date(row.get("startDate")), _parse_date(row.get("endDate"))
            except ValueError:
                cells.fail("startDate", "startDate and endDate must be dates like 2026-08-01")
                continue
            if start <= self.today <= end and not _deleted(cells.row):
                current.add(row.get("sourcedId"))
        return current

    def read_classes(self, rows: list[_Row], org: str) -> None:
        self.plan.present.append("classes")
        current = self.current_terms()
        mine = [r for r in rows if r.get("schoolSourcedId") == org and not _deleted(r)]
        in_term = [r for r in mine if current and current & set(_split(r.get("termSourcedIds")))]
        if in_term:
            if len(in_term) < len(mine):
                self.plan.warnings.append(
                    f"Classes of terms that do not cover {self.today.isoformat()} were left out: "
                    f"{len(mine) - len(in_term)}."
                )
            mine = in_term
        else:
            why = (
                "There is no academicSessions.csv"
                if current is None
                else f"No class has a term covering {self.today.isoformat()}"
            )
            self.plan.warnings.append(f"{why}; all {len(mine)} classes of the school are imported.")
        classes: dict[str, ClassRecord] = {}
        for row in mine:
            cells = _Cells(row, self.plan.errors)
            key = cells.text("sourcedId", _limit(SchoolClass.sourced_id))
            name = cells.text("title", _limit(SchoolClass.name))
            room = cells.text("location", _limit(Room.name), required=False)
            periods = _split(cells.get("periods"))
            period = periods[0] if periods else None
            if period is not None and len(period) > _limit(SchoolClass.period):
                cells.fail("periods", f"longer than {_limit(SchoolClass.period)} characters")
            if key in classes:
                cells.fail("sourcedId", f"{key!r} is already on row {classes[key].where[1]}")
            if cells.ok:
                classes[key] = ClassRecord(key, name, room, period, [], cells.where)
        self.roster.classes = classes

    def read_enrollments(self) -> None:
        rows = self.table("enrollments.csv", ("classSourcedId", "userSourcedId", "role"))
        if rows is None:
            return
        self.plan.present.append("enrollments")
        enrollments: dict[tuple[str, str], Where] = {}
        classes = self.roster.classes or {}
        for row in rows:
            cells = _Cells(row, self.plan.errors)
            school_class = classes.get(row.get("classSourcedId"))
            if school_class is None or _deleted(cells.row) or self.ended(cells):
                continue
            user = self.users.get(row.get("userSourcedId"))
            if user is None:
                cells.fail("userSourcedId", f"{row.get('userSourcedId')!r} is not in users.csv")
                continue
            kind, key = user
            role = row.get("role").lower()
            if role == "student" and kind == "student":
                enrollments.setdefault((school_class.key, key), cells.where)
            elif role == "teacher" and kind == "staff" and key not in school_class.teacher_emails:
                school_class.teacher_emails.append(key)
            elif role == "student" and kind == "staff":
                cells.fail("role", "this user is staff, not a student")
        self.roster.enrollments = enrollments

    def ended(self, cells: _Cells) -> bool:
        if not cells.get("endDate"):
            return False
        try:
            return _parse_date(cells.get("endDate")) < self.today
        except ValueError:
            cells.fail("endDate", "endDate must be a date like 2027-06-30")
            return True


# --------------------------------------------------------------------------- planning


class _Existing:
    """The school's current rows, each kind loaded once (on first use) into dicts."""

    def __init__(self, school_id: int) -> None:
        self.school_id = school_id
        #: Accounts by email: staff of this school plus accounts named by the import.
        self.accounts: dict[str, User] = {}

    @cached_property
    def rooms(self) -> dict[str, Room]:
        rooms = db.session.scalars(
            select(Room).where(Room.school_id == self.school_id).order_by(Room.id)
        )
        by_name: dict[str, Room] = {}
        for room in rooms:
            by_name.setdefault(room.name.casefold(), room)
        return by_name

    @cached_property
    def students(self) -> list[Student]:
        return list(
            db.session.scalars(
                select(Student).where(Student.school_id == self.school_id).order_by(Student.id)
            )
        )

    @cached_property
    def students_by_number(self) -> dict[str, Student]:
        return {student.student_number: student for student in self.students}

    @cached_property
    def students_by_sourced_id(self) -> dict[str, Student]:
        return {s.sourced_id: s for s in self.students if s.sourced_id}

    @cached_property
    def classes(self) -> dict[str, SchoolClass]:
        """Classes that came from an import (they have a class id), by class id."""
        query = (
            select(SchoolClass)
            .where(SchoolClass.school_id == self.school_id, SchoolClass.sourced_id.is_not(None))
            .options(selectinload(SchoolClass.teachers), selectinload(SchoolClass.room))
        )
        return {c.sourced_id: c for c in db.session.scalars(query)}

    @cached_property
    def enrollments(self) -> dict[tuple[int, int], int]:
        """(class id, student id) -> enrollment id, for the classes of `classes`."""
        rows = db.session.execute(
            select(Enrollment.id, Enrollment.class_id, Enrollment.student_id)
            .join(SchoolClass, SchoolClass.id == Enrollment.class_id)
            .where(SchoolClass.school_id == self.school_id, SchoolClass.sourced_id.is_not(None))
        )
        return {(row.class_id, row.student_id): row.id for row in rows}

    @cached_property
    def bell_periods(self) -> dict[tuple[str, int], BellPeriod]:
        periods = db.session.scalars(
            select(BellPeriod).where(BellPeriod.school_id == self.school_id)
        )
        return {(p.name, p.weekday): p for p in periods}

    @cached_property
    def families(self) -> dict[int, Family]:
        families = db.session.scalars(
            select(Family)
            .where(Family.school_id == self.school_id)
            .options(selectinload(Family.students))
        )
        return {family.tag_number: family for family in families}

    def load_accounts(self, emails: Iterable[str]) -> None:
        """Load this school's staff and the accounts with these emails (memberships too)."""
        members = select(Membership.user_id).where(Membership.school_id == self.school_id)
        query = select(User).options(selectinload(User.memberships))
        found = list(db.session.scalars(query.where(User.id.in_(members))))
        wanted = sorted(set(emails) - {user.email.lower() for user in found})
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            found += db.session.scalars(query.where(func.lower(User.email).in_(chunk)))
        self.accounts = {user.email.lower(): user for user in found}

    def user_sourced_ids(self, sourced_ids: set[str]) -> dict[str, int]:
        """sourced id -> id of the account holding it, for the given ids."""
        if not sourced_ids:
            return {}
        rows = db.session.execute(
            select(User.sourced_id, User.id).where(User.sourced_id.in_(sorted(sourced_ids)))
        )
        return {row.sourced_id: row.id for row in rows}


def plan_import(
    school: School,
    bundle: Bundle,
    *,
    today: date | None = None,
    org_sourced_id: str | None = None,
) -> Plan:
    """Check a bundle against the school's data: what an import would do, and row errors."""
    today = today or datetime.now(ZoneInfo(school.timezone)).date()
    plan = Plan(school=school, format="oneroster" if bundle.is_oneroster else "csv")
    if bundle.ignored:
        plan.warnings.append("Ignored (not part of a roster): " + ", ".join(bundle.ignored))
    if bundle.is_oneroster:
        roster = _OneRosterReader(bundle, plan, today, org_sourced_id).read()
    else:
        roster = _parse_csv_bundle(bundle, plan)
    _Planner(plan, roster).run()
    return plan


class _Planner:
    """Compares a Roster with the school's rows and fills the plan with changes."""

    def __init__(self, plan: Plan, roster: Roster) -> None:
        self.plan = plan
        self.roster = roster
        self.school = plan.school
        self.existing = _Existing(plan.school.id)
        plan.existing = self.existing
        #: Student number -> existing student id, or None for a student to create.
        self.student_refs: dict[str, int | None] = {}
        #: Class id -> existing class id, or None for a class to create.
        self.class_refs: dict[str, int | None] = {}
        #: Room names (casefolded) that exist or will be created.
        self.room_names: set[str] = set()

    def changes(self, kind: str) -> KindChanges:
        return self.plan.kinds[kind]

    def error(self, where: Where, column: str | None, reason: str) -> None:
        self.plan.errors.append(RowError(where[0], where[1], column, reason))

    def run(self) -> None:
        self.check_school_link()
        if self.roster.staff is not None or self.roster.classes is not None:
            self.existing.load_accounts(self.roster.staff or ())
        self.plan_rooms()
        self.plan_staff()
        self.plan_students()
        self.plan_classes()
        self.plan_enrollments()
        self.plan_bell_schedule()
        self.plan_families()

    def check_school_link(self) -> None:
        sourced_id = self.plan.school_sourced_id
        if sourced_id is None:
            return
        other = db.session.scalar(
            select(School).where(School.sourced_id == sourced_id, School.id != self.school.id)
        )
        if other is not None:
            reason = f"this export is for {other.name} ({other.code}), not for {self.school.name}"
            self.plan.errors.append(RowError("orgs.csv", None, "sourcedId", reason))

    # rooms ----------------------------------------------------------------

    def plan_rooms(self) -> None:
        self.room_names = set(self.existing.rooms) if self.wants_rooms() else set()
        if self.roster.rooms is None:
            return
        for key, record in self.roster.rooms.items():
            self.room_names.add(key)
            room = self.existing.rooms.get(key)
            if room is None:
                self.changes("rooms").created.append(
                    Change(record.name, record.kind, record=record)
                )
                continue
            updates: dict[str, Any] = {}
            if room.kind != record.kind:
                updates["kind"] = record.kind
            if not room.active:
                updates["active"] = True
            if updates:
                self.changes("rooms").changed.append(
                    Change(room.name, _describe(room, updates), target=room, updates=updates)
                )

    def wants_rooms(self) -> bool:
        return self.roster.rooms is not None or self.roster.classes is not None

    def room_for_class(self, name: str | None) -> None:
        """Plan a classroom for a class's room when no such room exists yet."""
        if name is None or name.casefold() in self.room_names:
            return
        self.room_names.add(name.casefold())
        self.changes("rooms").created.append(
            Change(name, "classroom, named by a class", record=RoomRecord(name, "classroom", None))
        )

    # staff ----------------------------------------------------------------

    def plan_staff(self) -> None:
        records = self.roster.staff
        if records is None:
            return
        owners = self.existing.user_sourced_ids(
            {r.sourced_id for r in records.values() if r.sourced_id}
        )
        for email, record in records.items():
            user = self.existing.accounts.get(email)
            sourced_id = self.staff_sourced_id(record, user, owners)
            if user is None:
                roles = ", ".join(sorted(record.roles))
                self.changes("staff").created.append(
                    Change(
                        f"{record.name} <{email}>",
                        f"{roles}; no password until an admin sets one",
                        record=record,
                        updates={"sourced_id": sourced_id},
                    )
                )
                continue
            updates = self.staff_updates(user, record, sourced_id)
            if updates:
                self.changes("staff").changed.append(
                    Change(
                        f"{user.name} <{email}>",
                        _describe(user, updates),
                        target=user,
                        updates=updates,
                    )
                )

    def staff_sourced_id(
        self, record: StaffRecord, user: User | None, owners: dict[str, int]
    ) -> str | None:
        """The SIS id to store on the account, if it is free and the account has none."""
        if record.sourced_id is None or (user is not None and user.sourced_id is not None):
            return None
        owner = owners.get(record.sourced_id)
        if owner is None:
            return record.sourced_id
        if user is None or owner != user.id:
            self.plan.warnings.append(
                f"The SIS id {record.sourced_id} of {record.email} belongs to another account; "
                "it is not stored."
            )
        return None

    def staff_updates(
        self, user: User, record: StaffRecord, sourced_id: str | None
    ) -> dict[str, Any]:
        held = {m.role for m in user.memberships if m.school_id == self.school.id}
        updates: dict[str, Any] = {}
        if record.roles - held:
            updates["roles"] = sorted(record.roles - held)
        only_here = all(m.school_id == self.school.id for m in user.memberships)
        if user.name != record.name and only_here and not user.is_district_admin:
            updates["name"] = record.name
        if sourced_id is not None:
            updates["sourced_id"] = sourced_id
        return updates

    # students -------------------------------------------------------------

    def plan_students(self) -> None:
        records = self.roster.students
        if records is None:
            if self.roster.enrollments is not None or self.roster.families is not None:
                self.student_refs = {
                    s.student_number: s.id for s in self.existing.students if s.active
                }
            return
        claimed: dict[int, StudentRecord] = {}
        for number, record in records.items():
            student, conflict = self.match_student(record, claimed)
            self.student_refs[number] = student.id if student else None
            if conflict:
                self.error(record.where, "student_number", f"{number!r} {conflict}")
                continue
            if student is None:
                grade = f"grade {record.grade}" if record.grade else ""
                self.changes("students").created.append(
                    Change(_student_label(record), grade, record=record)
                )
                continue
            updates = {k: v for k, v in record.columns().items() if getattr(student, k) != v}
            if record.sourced_id is None:
                updates.pop("sourced_id", None)
            if not student.active:
                updates["active"] = True
            if updates:
                self.changes("students").changed.append(
                    Change(
                        _student_label(record),
                        _describe(student, updates),
                        target=student,
                        updates=updates,
                    )
                )
        for student in self.existing.students:
            if student.active and student.id not in claimed:
                self.changes("students").deactivated.append(
                    Change(
                        f"{student.first_name} {student.last_name} ({student.student_number})",
                        target=student,
                    )
                )

    def match_student(
        self, record: StudentRecord, claimed: dict[int, StudentRecord]
    ) -> tuple[Student | None, str | None]:
        """(existing student, None) for a row, by sourced id else number; or (None, conflict)."""
        by_number = self.existing.students_by_number.get(record.student_number)
        student = self.existing.students_by_sourced_id.get(record.sourced_id or "")
        if student is None and by_number is not None:
            if record.sourced_id and by_number.sourced_id not in (None, record.sourced_id):
                return None, f"belongs to another student (SIS id {by_number.sourced_id})"
            student = by_number
        elif student is not None and by_number not in (None, student):
            return None, "belongs to another student at this school"
        if student is not None and student.id in claimed:
            file, row = claimed[student.id].where
            return None, f"is the same student as {file} row {row}"
        if student is not None:
            claimed[student.id] = record
        return student, None

    # classes --------------------------------------------------------------

    def plan_classes(self) -> None:
        records = self.roster.classes
        if records is None:
            if self.roster.enrollments is not None:
                self.class_refs = {k: c.id for k, c in self.existing.classes.items() if c.active}
            return
        staff_emails = set(self.roster.staff or ()) | set(self.existing.accounts)
        for key, record in records.items():
            school_class = self.existing.classes.get(key)
            self.class_refs[key] = school_class.id if school_class else None
            unknown = [e for e in record.teacher_emails if e not in staff_emails]
            if unknown:
                self.error(
                    record.where,
                    "teacher_emails",
                    f"not staff of this school and not in staff.csv: {', '.join(unknown)}",
                )
                continue
            self.room_for_class(record.room)
            if school_class is None:
                self.changes("classes").created.append(
                    Change(f"{record.name} ({key})", _class_summary(record), record=record)
                )
                continue
            updates = _class_updates(school_class, record)
            if updates:
                self.changes("classes").changed.append(
                    Change(
                        f"{record.name} ({key})",
                        _describe(school_class, updates),
                        target=school_class,
                        updates=updates,
                    )
                )
        for key, school_class in self.existing.classes.items():
            if school_class.active and key not in records:
                self.changes("classes").deactivated.append(
                    Change(f"{school_class.name} ({key})", target=school_class)
                )

    # enrollments ----------------------------------------------------------

    def plan_enrollments(self) -> None:
        pairs = self.roster.enrollments
        if pairs is None:
            return
        keep: set[tuple[int, int]] = set()
        for (class_key, number), where in pairs.items():
            if class_key not in self.class_refs:
                self.error(where, "class_id", f"unknown class {class_key!r}")
                continue
            if number not in self.student_refs:
                self.error(where, "student_number", f"unknown student number {number!r}")
                continue
            class_id, student_id = self.class_refs[class_key], self.student_refs[number]
            if (class_id, student_id) in self.existing.enrollments:
                keep.add((class_id, student_id))
                continue
            self.changes("enrollments").created.append(
                Change(f"{number} in {class_key}", record=(class_key, number))
            )
        classes = {c.id: c for c in self.existing.classes.values()}
        students = {s.id: s for s in self.existing.students}
        for pair, enrollment_id in self.existing.enrollments.items():
            if pair not in keep:
                label = f"{students[pair[1]].student_number} in {classes[pair[0]].sourced_id}"
                self.changes("enrollments").removed.append(Change(label, target=enrollment_id))

    # bell schedule --------------------------------------------------------

    def plan_bell_schedule(self) -> None:
        records = self.roster.bell_schedule
        if records is None:
            return
        for key, record in records.items():
            period = self.existing.bell_periods.get(key)
            label = f"{WEEKDAYS[record.weekday]} {record.period}"
            times = f"{record.start:%H:%M}-{record.end:%H:%M}"
            if period is None:
                self.changes("bell_schedule").created.append(Change(label, times, record=record))
            elif (period.start_time, period.end_time) != (record.start, record.end):
                updates = {"start_time": record.start, "end_time": record.end}
                self.changes("bell_schedule").changed.append(
                    Change(label, times, target=period, updates=updates)
                )
        for key, period in self.existing.bell_periods.items():
            if key not in records:
                label = f"{WEEKDAYS[period.weekday]} {period.name}"
                self.changes("bell_schedule").removed.append(Change(label, target=period))

    # families -------------------------------------------------------------

    def plan_families(self) -> None:
        records = self.roster.families
        if records is None:
            return
        for tag, record in records.items():
            unknown = [n for n in record.student_numbers if n not in self.student_refs]
            if unknown:
                self.error(
                    record.where,
                    "student_numbers",
                    f"unknown student number {', '.join(unknown)}",
                )
                continue
            family = self.existing.families.get(tag)
            label = f"Tag {tag}"
            if family is None:
                detail = f"{len(record.student_numbers)} students"
                self.changes("families").created.append(Change(label, detail, record=record))
                continue
            updates = self.family_updates(family, record)
            if updates:
                detail = ", ".join("reactivated" if k == "active" else k for k in updates)
                self.changes("families").changed.append(
                    Change(label, detail, target=family, updates=updates)
                )

    def family_updates(self, family: Family, record: FamilyRecord) -> dict[str, Any]:
        wanted = {self.student_refs[n] for n in record.student_numbers}
        updates: dict[str, Any] = {}
        if None in wanted or wanted != {s.id for s in family.students}:
            updates["students"] = record.student_numbers
        if record.pickup_adults is not None and record.pickup_adults != family.pickup_adults:
            updates["pickup_adults"] = record.pickup_adults
        if not family.active:
            updates["active"] = True
        return updates


def _student_label(record: StudentRecord) -> str:
    return f"{record.first_name} {record.last_name} ({record.student_number})"


def _class_summary(record: ClassRecord) -> str:
    parts = []
    if record.period:
        parts.append(f"period {record.period}")
    if record.room:
        parts.append(f"room {record.room}")
    if record.teacher_emails:
        parts.append(", ".join(record.teacher_emails))
    return "; ".join(parts)


def _class_updates(school_class: SchoolClass, record: ClassRecord) -> dict[str, Any]:
    updates: dict[str, Any] = {}
    if school_class.name != record.name:
        updates["name"] = record.name
    if school_class.period != record.period:
        updates["period"] = record.period
    current_room = school_class.room.name if school_class.room else None
    if (current_room or "").casefold() != (record.room or "").casefold():
        updates["room"] = record.room
    if {t.email.lower() for t in school_class.teachers} != set(record.teacher_emails):
        updates["teachers"] = record.teacher_emails
    if not school_class.active:
        updates["active"] = True
    return updates


def _describe(row: Any, updates: dict[str, Any]) -> str:
    """A short account of changes: 'grade 6 -> 7, reactivated'."""
    parts = []
    for key, value in updates.items():
        if key == "active":
            parts.append("reactivated")
        elif key == "roles":
            parts.append("adds role " + ", ".join(value))
        elif key in ("teachers", "students"):
            parts.append(f"{key}: {', '.join(value) or 'none'}")
        elif key == "room":
            old = row.room.name if row.room else "none"
            parts.append(f"room {old} -> {value or 'none'}")
        else:
            parts.append(
                f"{key.replace('_', ' ')} {getattr(row, key) or 'none'} -> {value or 'none'}"
            )
    return ", ".join(parts)


# --------------------------------------------------------------------------- applying


def apply_import(plan: Plan, *, source: str) -> dict[str, dict[str, int]]:
    """Write a plan without errors in the caller's transaction (flush only) and audit it."""
    if plan.errors:
        raise InvalidInput("The import has errors; nothing was written.")
    writer = _Writer(plan)
    writer.rooms()
    writer.staff()
    writer.students()
    db.session.flush()
    writer.classes()
    db.session.flush()
    writer.enrollments()
    writer.bell_schedule()
    writer.families()
    if plan.school_sourced_id is not None:
        plan.school.sourced_id = plan.school_sourced_id
    db.session.flush()
    counts = plan.counts()
    audit.record(
        "roster.import",
        school_id=plan.school.id,
        target=plan.school,
        detail={
            "format": plan.format,
            "source": source,
            "counts": counts,
            "warnings": len(plan.warnings),
        },
    )
    return counts


class _Writer:
    """Carries out a plan's changes, kind by kind, resolving references as it goes."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.school_id = plan.school.id
        self.existing = plan.existing
        self.room_by_name: dict[str, Room] = {}
        self.student_by_number: dict[str, Student] = {}

    def kind(self, name: str) -> KindChanges:
        return self.plan.kinds[name]

    def rooms(self) -> None:
        for change in self.kind("rooms").created:
            room = Room(school_id=self.school_id, name=change.record.name, kind=change.record.kind)
            db.session.add(room)
            self.room_by_name[room.name.casefold()] = room
        for change in self.kind("rooms").changed:
            _set(change.target, change.updates)

    def staff(self) -> None:
        for change in self.kind("staff").created:
            record: StaffRecord = change.record
            user = User(
                email=record.email,
                name=record.name,
                password_hash=None,
                sourced_id=change.updates["sourced_id"],
            )
            db.session.add(user)
            for role in sorted(record.roles):
                user.memberships.append(Membership(school_id=self.school_id, role=role))
            self.existing.accounts[record.email] = user
        for change in self.kind("staff").changed:
            user = change.target
            for role in change.updates.get("roles", ()):
                user.memberships.append(Membership(school_id=self.school_id, role=role))
            _set(user, {k: v for k, v in change.updates.items() if k != "roles"})

    def students(self) -> None:
        for change in self.kind("students").changed:
            _set(change.target, change.updates)
        for change in self.kind("students").deactivated:
            change.target.active = False
        created = [
            Student(school_id=self.school_id, **change.record.columns())
            for change in self.kind("students").created
        ]
        db.session.add_all(created)
        if self.kind("enrollments").created or self.kind("families").total():
            for student in [*self.existing.students, *created]:
                self.student_by_number[student.student_number] = student

    def room(self, name: str | None) -> Room | None:
        if name is None:
            return None
        key = name.casefold()
        return self.room_by_name.get(key) or self.existing.rooms[key]

    def classes(self) -> None:
        accounts = self.existing.accounts
        for change in self.kind("classes").created:
            record: ClassRecord = change.record
            school_class = SchoolClass(
                school_id=self.school_id,
                sourced_id=record.key,
                name=record.name,
                period=record.period,
                room=self.room(record.room),
                teachers=[accounts[email] for email in record.teacher_emails],
            )
            db.session.add(school_class)
            self.existing.classes[record.key] = school_class
        for change in self.kind("classes").changed:
            updates = dict(change.updates)
            if "room" in updates:
                change.target.room = self.room(updates.pop("room"))
            if "teachers" in updates:
                change.target.teachers = [accounts[e] for e in updates.pop("teachers")]
            _set(change.target, updates)
        for change in self.kind("classes").deactivated:
            change.target.active = False

    def enrollments(self) -> None:
        rows = [
            {
                "class_id": self.existing.classes[class_key].id,
                "student_id": self.student_by_number[number].id,
            }
            for class_key, number in (c.record for c in self.kind("enrollments").created)
        ]
        if rows:
            db.session.execute(insert(Enrollment), rows)
        ids = [change.target for change in self.kind("enrollments").removed]
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            db.session.execute(delete(Enrollment).where(Enrollment.id.in_(chunk)))

    def bell_schedule(self) -> None:
        for change in self.kind("bell_schedule").removed:
            db.session.delete(change.target)
        for change in self.kind("bell_schedule").changed:
            _set(change.target, change.updates)
        db.session.flush()
        for change in self.kind("bell_schedule").created:
            record: BellRecord = change.record
            db.session.add(
                BellPeriod(
                    school_id=self.school_id,
                    name=record.period,
                    weekday=record.weekday,
                    start_time=record.start,
                    end_time=record.end,
                )
            )

    def families(self) -> None:
        for change in self.kind("families").created:
            record: FamilyRecord = change.record
            db.session.add(
                Family(
                    school_id=self.school_id,
                    tag_number=record.tag_number,
                    pickup_adults=record.pickup_adults or "",
                    students=[self.student_by_number[n] for n in record.student_numbers],
                )
            )
        for change in self.kind("families").changed:
            updates = dict(change.updates)
            if "students" in updates:
                numbers = updates.pop("students")
                change.target.students = [self.student_by_number[n] for n in numbers]
            _set(change.target, updates)


def _set(row: Any, values: dict[str, Any]) -> None:
    for key, value in values.items():
        setattr(row, key, value)


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

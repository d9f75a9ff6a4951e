"""CSV rows, the records parsed from them, and the value checks both formats share.

`read_table` reads one CSV file of a bundle as `Row`s, streamed from its source (checking
the header first, skipping blank rows); `Cells` reads and checks the values of one row,
turning every problem into a `RowError`; `collect_rows` keys the parsed records and
reports a key seen twice. Both formats parse into the same records (`StaffRecord` ...
`FamilyRecord`), gathered in a `Roster`, which planning compares with the school's data.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, time
from functools import cache
from typing import Any

from flask_babel import gettext as _

from shared.models import WEEKDAYS, User
from shared.roster.files import Bundle, open_source
from shared.roster.results import RowError
from shared.staff import EMAIL_RE

_GRADES = ("PK", "K", *(str(n) for n in range(1, 13)))
_FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_CLOCK_RE = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")

#: Where a record comes from: (file name, row number).
Where = tuple[str, int]


# --------------------------------------------------------------------------- CSV rows


@dataclass
class Row:
    file: str
    line: int
    values: dict[str, str]

    def get(self, column: str) -> str:
        return self.values.get(column.lower(), "")


class Unreadable(Exception):
    """A CSV file that cannot be read on: not UTF-8, or not valid CSV (at `line`)."""

    def __init__(self, line: int | None, reason: str) -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason


def _first_bad_byte(source: Any) -> int:
    """Where a source's first byte that is not UTF-8 is (counted from the file's start)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with open_source(source) as handle:
        while chunk := handle.read(1 << 20):
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                return offset - pending + exc.start
            offset += len(chunk)
    return offset


def csv_records(source: Any) -> Iterator[tuple[int, list[str]]]:
    """(record number, values) of a CSV source, the header being record 1, read as a
    stream (never the whole file in memory); a file that cannot be read raises Unreadable."""
    if hasattr(source, "records"):  # rows already split out (shared/roster/district.py)
        yield 1, list(source.header)
        yield from source.records()
        return
    with open_source(source) as handle:
        reader = csv.reader(io.TextIOWrapper(handle, encoding="utf-8-sig", newline=""))
        try:
            yield from enumerate(reader, start=1)
        except UnicodeDecodeError:
            byte = _first_bad_byte(source)
            raise Unreadable(
                None, _("not UTF-8 text (byte %(num)d); save it as CSV UTF-8", num=byte)
            ) from None
        except csv.Error as exc:
            raise Unreadable(reader.line_num, _("not valid CSV: %(error)s", error=exc)) from None


class Table:
    """The data rows of one CSV file, read from its source each time it is iterated.

    Nothing but the header is kept: a district's enrollments.csv is read row by row, and
    the reader keeps only the rows of its school. A row problem (more values than columns,
    a file that stops being readable) is reported once, on the first pass."""

    def __init__(self, name: str, source: Any, header: list[str], errors: list[RowError]) -> None:
        self.name = name
        self.source = source
        self.header = header
        self.errors = errors
        self.reported = False

    def __iter__(self) -> Iterator[Row]:
        report = not self.reported
        self.reported = True
        name, header = self.name, self.header
        width = len(header)
        unnamed = not all(header)
        records = csv_records(self.source)
        try:
            next(records)  # the header
            for number, values in records:
                if len(values) <= width:
                    if not any(value.strip() for value in values):
                        continue
                elif any(value.strip() for value in values[width:]):
                    if report:
                        self.errors.append(
                            RowError(
                                name,
                                number,
                                None,
                                _("more values than the %(num)d columns", num=width),
                            )
                        )
                    continue
                if unnamed:
                    cells = {c: v.strip() for c, v in zip(header, values, strict=False) if c}
                else:
                    cells = dict(zip(header, map(str.strip, values), strict=False))
                yield Row(name, number, cells)
        except Unreadable as problem:
            if report:
                self.errors.append(RowError(name, problem.line, None, problem.reason))
        finally:
            records.close()


def read_table(
    bundle: Bundle, name: str, required: tuple[str, ...], errors: list[RowError]
) -> Table | None:
    """The data rows of one CSV file (read as they are iterated), or None when the file
    itself is unusable (empty, a bad header, not UTF-8 or not CSV at its start)."""
    source = bundle.files[name]
    records = csv_records(source)
    try:
        _number, first = next(records, (1, []))
    except Unreadable as problem:
        errors.append(RowError(name, problem.line, None, problem.reason))
        return None
    finally:
        records.close()
    header = [column.strip().lower() for column in first]
    if _header_problem(name, header, required, errors):
        return None
    return Table(name, source, header, errors)


def _header_problem(
    name: str, header: list[str], required: tuple[str, ...], errors: list[RowError]
) -> bool:
    if not any(header):
        errors.append(RowError(name, None, None, _("the file is empty")))
        return True
    named = [column for column in header if column]
    problem = False
    for column in sorted({c for c in named if named.count(c) > 1}):
        errors.append(RowError(name, 1, column, _("the column appears twice")))
        problem = True
    for column in required:
        if column.lower() not in header:
            errors.append(RowError(name, 1, column, _("required column is missing")))
            problem = True
    return problem


@cache
def column_limit(column: Any) -> int:
    """The length of a String column (looked up once: it is asked for every cell)."""
    return column.type.length


class Cells:
    """The cells of one row, read and checked; every problem becomes a RowError."""

    def __init__(self, row: Row, errors: list[RowError]) -> None:
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
                self.fail(column, _("a value is required"))
            return None
        if len(value) > limit:
            self.fail(column, _("longer than %(num)d characters", num=limit))
            return None
        return value

    def email(self, column: str, value: str) -> str | None:
        email = value.strip().lower()
        if not email:
            self.fail(column, _("an email address is required"))
            return None
        if len(email) > column_limit(User.email) or not EMAIL_RE.match(email):
            self.fail(column, _("%(value)s is not a valid email address", value=repr(value)))
            return None
        return email


def split_cell(value: str, pattern: str = r"[;,]") -> list[str]:
    if pattern == r"[;,]" and "," not in value and ";" not in value:
        value = value.strip()
        return [value] if value else []  # one id: most cells (asked for every user)
    return [part.strip() for part in re.split(pattern, value) if part.strip()]


def collect_rows(
    rows: list[Row],
    errors: list[RowError],
    parse: Callable[[Cells], list[tuple[Any, Any]]],
    key_column: str,
) -> dict[Any, Any]:
    """Parse every row into keyed records; a key seen twice is an error on the later row."""
    records: dict[Any, Any] = {}
    seen: dict[Any, int] = {}
    for row in rows:
        cells = Cells(row, errors)
        parsed = parse(cells)
        if not cells.ok:
            continue
        for key, record in parsed:
            if key in seen:
                cells.fail(
                    key_column,
                    _("%(key)s is already on row %(row)d", key=_show_key(key), row=seen[key]),
                )
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
    #: ("tag N", email or name) -> shared.roster.guardians.GuardianRecord
    guardians: dict[tuple[str, str], Any] | None = None
    #: OneRoster guardian user sourcedId -> shared.roster.oneroster_guardians.OneRosterGuardian
    oneroster_guardians: dict[str, Any] | None = None
    #: Kinds read from OneRoster delta files: they change what they list and nothing else
    #: (nothing missing from them is deactivated or removed).
    delta: set[str] = field(default_factory=set)
    #: Delta rows marked for deletion (or disabled users): student sourced id -> row.
    removed_students: dict[str, Where] = field(default_factory=dict)
    #: Delta classes marked for deletion: class id -> row.
    removed_classes: dict[str, Where] = field(default_factory=dict)
    #: Delta enrollments marked for deletion: (class id, student number) -> row.
    removed_enrollments: dict[tuple[str, str], Where] = field(default_factory=dict)
    #: Delta guardian users marked for deletion (or disabled): guardian sourced id -> row.
    removed_guardians: dict[str, Where] = field(default_factory=dict)


# --------------------------------------------------------------------------- value checks


def csv_grade(value: str) -> str | None:
    """'K', 'PK' or '1'..'12' from common spellings ('KG', '07'); None if not a grade."""
    grade = value.strip().upper()
    if grade in ("KG", "0", "00"):
        return "K"
    if grade.isascii() and grade.isdigit():
        grade = str(int(grade))
    return grade if grade in _GRADES else None


#: OneRoster (CEDS) grade codes without a K-12 grade; they import as "no grade".
_ONEROSTER_NO_GRADE = {"13", "PS", "UG", "OTHER"}
_ONEROSTER_PRE_K = {"IT", "PR", "PK", "TK"}


def oneroster_deleted(row: Row) -> bool:
    """A OneRoster row marked for deletion (or a disabled user)."""
    return (
        row.get("status").lower() in ("tobedeleted", "inactive")
        or row.get("enabledUser").lower() == "false"
    )


def oneroster_grade(value: str) -> tuple[bool, str | None]:
    """(known, grade) for a OneRoster grade code such as '07', 'KG' or 'PK'."""
    code = value.strip().upper()
    if not code or code in _ONEROSTER_NO_GRADE:
        return True, None
    if code in _ONEROSTER_PRE_K:
        return True, "PK"
    grade = csv_grade(code)
    return grade is not None, grade


def _weekday(token: str) -> int:
    token = token.strip().lower()
    if token.isascii() and token.isdigit() and int(token) <= 6:
        return int(token)
    if len(token) >= 3:
        for number, name in enumerate(_FULL_DAY_NAMES):
            if name.startswith(token):
                return number
    raise ValueError(_("%(value)s is not a weekday (use Mon..Sun or 0-6)", value=repr(token)))


def parse_days(value: str) -> list[int]:
    """Weekday numbers (0 = Monday) from 'Mon-Fri', 'Mon,Wed', 'Tue Thu' or '0-4'."""
    days: set[int] = set()
    for part in split_cell(re.sub(r"\s*-\s*", "-", value), r"[,;\s]+"):
        first, dash, last = part.partition("-")
        start = _weekday(first)
        end = _weekday(last) if dash else start
        if end < start:
            raise ValueError(
                _("%(value)s runs backwards; write the earlier day first", value=repr(part))
            )
        days.update(range(start, end + 1))
    if not days:
        raise ValueError(_("no weekday given"))
    return sorted(days)


def parse_cell_clock(value: str) -> time:
    match = _CLOCK_RE.match(value.strip())
    if match is None:
        raise ValueError(_("%(value)s is not a time like 08:15 (24-hour HH:MM)", value=repr(value)))
    return time(int(match.group(1)), int(match.group(2)))


def parse_cell_date(value: str) -> date:
    return date.fromisoformat(value.strip()[:10])

"""A district's OneRoster export: every school org imported into its own school, in one run.

A district's SIS exports every school in one bundle. `import_district` reads it once and
imports each org of type school in orgs.csv into the school that has the org's sourcedId
(School.sourced_id), creating the school when the district admin asks (`create`,
`flask roster import --district --create-schools`). Each school is planned and applied by
the same code as a one-school import (`plan_import`, `apply_import`), in a transaction of
its own: a school whose rows have errors is refused and rolled back alone, the others are
imported. A dry run plans every school and writes nothing.

How it stays within memory: the bundle is never decoded whole, nor read once per school.
`split_bundle` streams each file that holds several schools' rows once, row by row, and
writes every row to a spill file of the org it belongs to (marshal records in a temporary
folder, keeping each row's number in the export, so errors name the export's rows). Each
school's import then reads only its own rows. The routing is the one-school reader's own
filter, done up front:

- classes.csv by schoolSourcedId; enrollments.csv by its class's org (else its
  schoolSourcedId);
- users.csv (1.1) by orgSourcedIds; roles.csv (1.2) by orgSourcedId, and a 1.2 user goes
  to the orgs where they have a role (or, in a delta, where they are a student already);
- parents, guardians and relatives (who may be listed at the district org) go to the orgs
  of the students they are agents of, in either direction of agentSourcedIds, and to the
  school that stores them already (a delta may remove them);
- manifest.csv, orgs.csv, academicSessions.csv and any other file are read as they are.

What is held at once: which org each class and user belongs to (ids only), and one
school's rows while it is planned. Rows that belong to no school org of the export (the
district org's own staff, classes of other orgs) are not imported, as in a one-school
import. Every user's row number is kept (`Bundle.elsewhere`) so that a school's reader
knows a user of another school when an enrollment or agent names them.
"""

from __future__ import annotations

import marshal
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from shared import schools
from shared.audit import Actor
from shared.errors import DomainError, InvalidInput
from shared.extensions import db
from shared.models import Guardian, School, Student
from shared.roster.applying import apply_import
from shared.roster.files import Bundle, Source
from shared.roster.oneroster_roles import ONEROSTER_ROLES
from shared.roster.planning import plan_import
from shared.roster.results import Plan
from shared.roster.rows import Unreadable, csv_records, oneroster_deleted, read_table, split_cell


@dataclass(frozen=True)
class Spilled:
    """One org's rows of one file: the export's header, and (row number, values) records."""

    header: tuple[str, ...]
    path: Path

    def records(self) -> Iterator[tuple[int, list[str]]]:
        if not self.path.exists():
            return
        with self.path.open("rb") as handle:
            # Each batch is its length (4 bytes) and its marshal bytes: marshal.loads of a
            # batch read whole is many times faster than marshal.load from the file.
            while size := handle.read(4):
                batch = handle.read(int.from_bytes(size, "little"))
                yield from marshal.loads(batch)  # noqa: S302  (our own spill file)


@dataclass
class SchoolOrg:
    sourced_id: str
    name: str
    identifier: str
    line: int


@dataclass
class Outcome:
    """What the run did with one school org."""

    org: SchoolOrg
    #: "imported", "checked" (dry run, no errors), "errors" (the plan has row errors) or
    #: "refused" (no school, or the school cannot take it: `message` says why).
    status: str
    #: The school's code and name, when there is one.
    school: tuple[str, str] | None = None
    #: "exists", "linked" or "created" (the school), when there is one.
    school_action: str | None = None
    #: The plan's summary lines, warnings, row warnings and row errors, as text (the plan
    #: itself, with the school's rows, is let go before the next school).
    summary: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    message: str = ""

    @classmethod
    def of(cls, org: SchoolOrg, status: str, school: School, action: str, plan: Plan):
        return cls(
            org,
            status,
            (school.code, school.name),
            action,
            plan.summary_lines(),
            [*plan.warnings, *(f"{w} (not imported)" for w in plan.row_warnings)],
            [str(error) for error in plan.errors],
        )


#: The spill of rows waiting to be routed (guardians: their orgs are known at the end).
PENDING = "(pending)"
#: Records written to a spill file at once (one marshal batch).
BATCH = 2000


class _Spill:
    """The spill files of one run, one per (org, file), appended as rows are read, in
    batches of BATCH records (held per file until written)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.batches: dict[tuple[str, str], list[tuple[int, list[str]]]] = {}
        self.names: dict[str, int] = {}

    def path(self, org: str, name: str) -> Path:
        number = self.names.setdefault(org, len(self.names))
        return self.folder / f"{number}-{name}.bin"

    def write(self, org: str, name: str, record: tuple[int, list[str]]) -> None:
        batch = self.batches.setdefault((org, name), [])
        batch.append(record)
        if len(batch) >= BATCH:
            self.write_out(org, name)

    def write_out(self, org: str, name: str) -> None:
        batch = self.batches.pop((org, name), None)
        if batch:
            data = marshal.dumps(batch)
            with self.path(org, name).open("ab") as handle:
                handle.write(len(data).to_bytes(4, "little") + data)

    def flush(self) -> None:
        for org, name in list(self.batches):
            self.write_out(org, name)


@dataclass
class DistrictSplit:
    """A district bundle split by school org: `bundle_for(org)` is one school's bundle."""

    bundle: Bundle
    orgs: list[SchoolOrg]
    spill: _Spill
    headers: dict[str, tuple[str, ...]] = field(default_factory=dict)
    elsewhere: dict[str, int] = field(default_factory=dict)

    def bundle_for(self, org: str) -> Bundle:
        files: dict[str, Source] = dict(self.bundle.files)
        for name, header in self.headers.items():
            files[name] = Spilled(header, self.spill.path(org, name))
        return Bundle(files=files, ignored=self.bundle.ignored, elsewhere=self.elsewhere)


def school_orgs(bundle: Bundle) -> list[SchoolOrg]:
    """The school orgs of orgs.csv (not marked for deletion), in the file's order."""
    errors: list = []
    if "orgs.csv" not in bundle.files:
        raise InvalidInput("No orgs.csv in this export: a district import needs one.")
    rows = read_table(bundle, "orgs.csv", ("sourcedId", "name", "type"), errors)
    found: dict[str, SchoolOrg] = {}
    for row in rows or []:
        sourced_id = row.get("sourcedId")
        school = row.get("type").lower() == "school" and not oneroster_deleted(row)
        if school and sourced_id and sourced_id not in found:  # a repeated row: once
            found[sourced_id] = SchoolOrg(
                sourced_id, row.get("name"), row.get("identifier"), row.line
            )
    if errors:
        raise InvalidInput("orgs.csv cannot be read: " + "; ".join(str(e) for e in errors))
    return list(found.values())


def _stored_orgs(orgs: list[SchoolOrg]) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Student and guardian sourcedIds stored at the export's schools -> their orgs."""
    by_school = {
        school.id: school.sourced_id
        for school in db.session.scalars(
            select(School).where(School.sourced_id.in_([o.sourced_id for o in orgs]))
        )
    }
    students: dict[str, set[str]] = {}
    guardians: dict[str, set[str]] = {}
    for model, into in ((Student, students), (Guardian, guardians)):
        query = select(model.sourced_id, model.school_id).where(
            model.school_id.in_(list(by_school)), model.sourced_id.is_not(None)
        )
        for sourced_id, school_id in db.session.execute(query):
            into.setdefault(sourced_id, set()).add(by_school[school_id])
    return students, guardians


class _Splitter:
    """Streams the split files once each, writing every row to its orgs' spill files."""

    def __init__(self, bundle: Bundle, orgs: list[SchoolOrg], folder: Path) -> None:
        self.bundle = bundle
        self.orgs = {org.sourced_id for org in orgs}
        self.spill = _Spill(folder)
        self.split = DistrictSplit(bundle, orgs, self.spill)
        self.version = self.manifest_version()
        self.stored_students, self.stored_guardians = _stored_orgs(orgs)
        #: class sourcedId -> org; user sourcedId -> orgs where they are a user.
        self.class_org: dict[str, str] = {}
        self.user_orgs: dict[str, set[str]] = {}
        #: guardian sourcedId -> orgs of the students that name them as agent.
        self.named_by: dict[str, set[str]] = {}
        #: guardian user sourcedId -> the students they name (1.1 and 1.2 guardian users).
        self.guardian_agents: dict[str, list[str]] = {}
        #: 1.2: users with a guardian role, whose roles.csv rows wait for their orgs.
        self.guardian_role_users: set[str] = set()

    def manifest_version(self) -> str:
        if "manifest.csv" not in self.bundle.files:
            return "1.1"
        for row in read_table(self.bundle, "manifest.csv", ("propertyName", "value"), []) or []:
            if row.get("propertyName") == "oneroster.version":
                return "1.2" if row.get("value") == "1.2" else "1.1"
        return "1.1"

    def rows(self, name: str) -> Iterator[tuple[int, list[str], Callable[[str], str]]]:
        """(row number, values, cell getter) of a split file; header problems are left to
        each school's reader (the file is then shared as it is)."""
        if name not in self.bundle.files:
            return
        records = csv_records(self.bundle.files[name])
        _number, first = next(records, (1, []))
        header = [column.strip().lower() for column in first]
        if not any(header) or len(set(filter(None, header))) != len(list(filter(None, header))):
            records.close()
            return
        self.split.headers[name] = tuple(first)
        index = {column: position for position, column in enumerate(header) if column}

        def cell_of(values: list[str]) -> Callable[[str], str]:
            def cell(column: str) -> str:
                position = index.get(column.lower())
                if position is None or position >= len(values):
                    return ""
                return values[position].strip()

            return cell

        for number, values in records:
            if any(values):  # a blank row has no value (one of spaces is skipped later)
                yield number, values, cell_of(values)

    def write(self, orgs, name: str, number: int, values: list[str]) -> None:
        for org in orgs:
            self.spill.write(org, name, (number, values))

    def run(self) -> DistrictSplit:
        try:
            self.classes()
            self.enrollments()
            if self.version == "1.2":
                self.roles()
            self.users()
            self.guardians()
        except Unreadable as problem:
            where = f" row {problem.line}" if problem.line else ""
            raise InvalidInput(f"{problem.file}{where}: {problem.reason}") from None
        finally:
            self.spill.flush()
        return self.split

    def classes(self) -> None:
        for number, values, cell in self._rows("classes.csv"):
            org = cell("schoolSourcedId")
            if org in self.orgs:
                self.class_org[cell("sourcedId")] = org
                self.write((org,), "classes.csv", number, values)

    def enrollments(self) -> None:
        for number, values, cell in self._rows("enrollments.csv"):
            org = self.class_org.get(cell("classSourcedId")) or cell("schoolSourcedId")
            if org in self.orgs:
                self.write((org,), "enrollments.csv", number, values)

    def roles(self) -> None:
        for number, values, cell in self._rows("roles.csv"):
            user, org = cell("userSourcedId"), cell("orgSourcedId")
            if ONEROSTER_ROLES.get(cell("role").lower()) == "guardian":
                self.guardian_role_users.add(user)
                self.spill.write(PENDING, "roles.csv", (number, values, user))
            elif org in self.orgs:
                self.user_orgs.setdefault(user, set()).add(org)
                self.write((org,), "roles.csv", number, values)

    def users(self) -> None:
        elsewhere = self.split.elsewhere
        for number, values, cell in self._rows("users.csv"):
            user = cell("sourcedId")
            elsewhere.setdefault(user, number)
            if self.version == "1.2":
                guardian = user in self.guardian_role_users
                orgs = self.user_orgs.get(user, set()) | self.stored_students.get(user, set())
            else:
                guardian = ONEROSTER_ROLES.get(cell("role").lower()) == "guardian"
                listed = split_cell(cell("orgSourcedIds"))
                orgs = set() if guardian else {org for org in listed if org in self.orgs}
            agents = split_cell(cell("agentSourcedIds"))
            if guardian:
                self.guardian_agents[user] = agents
                self.spill.write(PENDING, "users.csv", (number, values, user))
            if orgs:
                self.user_orgs[user] = orgs
                self.write(orgs, "users.csv", number, values)
                for agent in agents:
                    self.named_by.setdefault(agent, set()).update(orgs)

    def guardian_orgs(self, user: str) -> set[str]:
        orgs = set(self.named_by.get(user, ())) | self.stored_guardians.get(user, set())
        for student in self.guardian_agents.get(user, ()):
            orgs |= self.user_orgs.get(student, set())
        return orgs

    def guardians(self) -> None:
        """Guardian users (and 1.2 guardian roles) to the orgs of their students."""
        self.spill.flush()
        written: dict[str, set[str]] = {}
        for name in ("users.csv", "roles.csv"):
            pending = Spilled((), self.spill.path(PENDING, name))
            for number, values, user in pending.records():
                orgs = written.get(user) if name == "roles.csv" else None
                if orgs is None:
                    orgs = self.guardian_orgs(user)
                    if name == "users.csv":
                        # A 1.2 staff user who is a parent too is in their school already.
                        written[user] = orgs | self.user_orgs.get(user, set())
                        orgs = orgs - self.user_orgs.get(user, set())
                self.write(orgs, name, number, values)
            pending.path.unlink(missing_ok=True)

    def _rows(self, name: str):
        try:
            yield from self.rows(name)
        except Unreadable as problem:
            problem.file = name
            raise


def split_bundle(bundle: Bundle, orgs: list[SchoolOrg], folder: Path) -> DistrictSplit:
    """Split the bundle's files by school org into spill files under `folder`."""
    return _Splitter(bundle, orgs, folder).run()


def import_district(
    bundle: Bundle,
    *,
    actor: Actor,
    dry_run: bool,
    create_schools: bool = False,
    timezone: str = "America/New_York",
    on_school: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Import every school org of a district bundle into its own school, one transaction
    each (committed here; a dry run rolls each back). `on_school` hears each outcome as it
    is done (the command line prints it). Refuses a bundle that is not a OneRoster export,
    has no school org, or cannot be read, before any school is touched."""
    if not bundle.is_oneroster:
        raise InvalidInput("A district import reads a OneRoster export (orgs.csv, users.csv...).")
    if create_schools:
        schools.validate_timezone(timezone)
    orgs = school_orgs(bundle)
    if not orgs:
        raise InvalidInput("orgs.csv lists no school org (type school): nothing to import.")
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="passline-district-") as folder:
        split = split_bundle(bundle, orgs, Path(folder))
        db.session.rollback()
        for org in orgs:
            outcome = _import_org(split, org, actor, dry_run, create_schools, timezone)
            db.session.expunge_all()
            outcomes.append(outcome)
            if on_school is not None:
                on_school(outcome)
    return outcomes


def _import_org(
    split: DistrictSplit,
    org: SchoolOrg,
    actor: Actor,
    dry_run: bool,
    create: bool,
    timezone: str,
) -> Outcome:
    try:
        action, school = schools.school_for_org(
            org.sourced_id, org.name, org.identifier, create=create, timezone=timezone, actor=actor
        )
        if school is None:
            db.session.rollback()
            return Outcome(
                org,
                "refused",
                message=(
                    f"no school has this org's sourcedId: add --create-schools (and "
                    f"--timezone) to create it, or link a school to it (`flask roster import "
                    f"--school CODE --org {org.sourced_id}`)"
                ),
            )
        plan = plan_import(school, split.bundle_for(org.sourced_id), org_sourced_id=org.sourced_id)
        if not plan.ok:
            outcome = Outcome.of(org, "errors", school, action, plan)
            db.session.rollback()
            return outcome
        if dry_run:
            outcome = Outcome.of(org, "checked", school, action, plan)
            db.session.rollback()
            return outcome
        apply_import(plan, source="cli-district")
        outcome = Outcome.of(org, "imported", school, action, plan)
        db.session.commit()
        return outcome
    except DomainError as error:
        db.session.rollback()
        return Outcome(org, "refused", message=error.message)

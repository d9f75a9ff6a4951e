"""What a blueprint adds to the core: the one registry between `shared/` and the blueprints.

The core lists, runs and shows things it cannot know by name: the hall pass and car line
entries of the menu, the screens a paired device opens, the housekeeping jobs, what the
purge deletes, the data inventory, what refuses a student's deletion, the demo
school's history, what an emergency event stops (hall passes), who is away today and
who may take a student home (the reunification gates), what /metrics counts by school,
who records that a student goes home early (a call to the office's "bring your things"),
what a family's own download adds of a blueprint's (the car line's carpools).
A blueprint describes its parts once, with `contribute(bp, ...)`
(in its `contributions.py`); they join the app's registry when the application factory
registers the blueprint (Flask's `record_once`), so two apps built in one process never
share or double them, and a core module reads them with `contributions()` without
importing any blueprint. The core's own parts (its menu entries, its tables, the audit
log's period) stay in the core modules that use them; this registry holds only what
comes from outside.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Flask, current_app

if TYPE_CHECKING:
    from shared.models import School, Student

_KEY = "passline.contributions"


@dataclass(frozen=True)
class NavItem:
    """A menu entry (and dashboard tile) for staff who have one of `roles`."""

    label: str
    endpoint: str
    roles: tuple[str, ...]


@dataclass(frozen=True)
class DeviceScreen:
    """A screen offered on the home page of a paired device of this kind (and purpose)."""

    kind: str
    purpose: str | None
    label: str
    endpoint: str


@dataclass(frozen=True)
class Job:
    """A housekeeping job: `run()` returns how many records it changed; idempotent."""

    name: str
    run: Callable[[], int]
    every_seconds: int = 30


@dataclass(frozen=True)
class RetentionPeriod:
    """A period the school chooses on the Privacy page (in days)."""

    key: str
    label: str
    default_days: int


@dataclass(frozen=True)
class Cutoff:
    """What is older than a school's period: `at` for timestamped records, `day` for
    records dated by school day (the school's local date)."""

    at: datetime
    day: date


@dataclass(frozen=True)
class RetentionRule:
    """`delete(school, cutoff)` is the DELETE statement for one kind of record of a school
    older than the cutoff of `period`; `name` labels its count in the purge's audit event."""

    name: str
    period: str
    delete: Callable[[School, Cutoff], Any]


@dataclass(frozen=True)
class InventoryEntry:
    """Why a table is stored, who sees it, how long it is kept (the data inventory)."""

    label: str
    why: str
    who: str
    kept: str
    #: True when the record names or describes a student.
    student_data: bool = False
    notes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DemoLoader:
    """`load(school, rng)` adds the blueprint's part of the demo school (flushes only) and
    returns counts; `summary` formats them for `flask demo`'s history line."""

    name: str
    load: Callable[[School, random.Random], dict[str, int]]
    summary: str


#: Why a student may not be deleted now (a message), or None: `check(student)`.
StudentDeleteCheck = Callable[["Student"], "str | None"]


@dataclass(frozen=True)
class EmergencyHook:
    """What a blueprint does when an emergency event starts and ends at a school.

    `start(school, actor, now)` runs in the event's transaction (flush only) and returns
    the ids of the students it found out of class (the hall pass: out on a pass, whose
    passes it ended); `end(school, actor)` undoes what it blocked.
    """

    name: str
    start: Callable[..., list[int]]
    end: Callable[..., None]


@dataclass(frozen=True)
class ReleaseAdult:
    """An adult who may take a student: their name as listed, and where it is listed."""

    name: str
    source: str


@dataclass
class ReleaseList:
    """Who may take a student, every custody or "do not release" note, and the siblings."""

    adults: list[ReleaseAdult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sibling_ids: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class ReleaseSource:
    """Where the reunification gates learn who may take a student (the car line's
    families): `who_may_take(student)` and `students_of_adult(school, text)` (ids)."""

    name: str
    who_may_take: Callable[[Student], ReleaseList]
    students_of_adult: Callable[..., list[int]]


#: Students not expected at the assembly area when an event starts: `away(school, at)`
#: -> {student id: why} (the car line: absent today, picked up early before then).
StudentsAway = Callable[["School", datetime], dict[int, str]]


#: A blueprint's records about a family for the family's own download, by kind:
#: `records(family)` -> {kind: [row, ...]} (the car line: its carpools, the other family
#: named by its tag number only).
FamilyRecords = Callable[..., dict[str, list[dict[str, Any]]]]


#: Record that a student goes home early, from the office, at `at` (aware):
#: `record(school, actor, student, at)` (the car line: today's plan says picked up early).
EarlyPickup = Callable[..., Any]


@dataclass(frozen=True)
class SchoolGauge:
    """A number /metrics reads from the database at each scrape, by school (shared/metrics.py):
    `count(schools)` -> {school id: value}; a school left out counts 0."""

    name: str
    help: str
    count: Callable[[list[School]], dict[int, int]]


@dataclass
class Contributions:
    """Everything contributed to one app, in the order the blueprints were registered."""

    nav: list[NavItem] = field(default_factory=list)
    device_screens: list[DeviceScreen] = field(default_factory=list)
    jobs: list[Job] = field(default_factory=list)
    retention_periods: list[RetentionPeriod] = field(default_factory=list)
    retention_rules: list[RetentionRule] = field(default_factory=list)
    inventory: dict[str, InventoryEntry] = field(default_factory=dict)
    student_delete_checks: list[StudentDeleteCheck] = field(default_factory=list)
    demo_loaders: list[DemoLoader] = field(default_factory=list)
    emergency_hooks: list[EmergencyHook] = field(default_factory=list)
    students_away: list[StudentsAway] = field(default_factory=list)
    release_sources: list[ReleaseSource] = field(default_factory=list)
    school_gauges: list[SchoolGauge] = field(default_factory=list)
    early_pickups: list[EarlyPickup] = field(default_factory=list)
    family_records: list[FamilyRecords] = field(default_factory=list)

    def add(self, other: Contributions) -> None:
        """Append another blueprint's parts; a table described twice is a mistake."""
        twice = set(self.inventory) & set(other.inventory)
        if twice:
            raise ValueError(f"inventory entries contributed twice: {sorted(twice)}")
        self.nav.extend(other.nav)
        self.device_screens.extend(other.device_screens)
        self.jobs.extend(other.jobs)
        self.retention_periods.extend(other.retention_periods)
        self.retention_rules.extend(other.retention_rules)
        self.inventory.update(other.inventory)
        self.student_delete_checks.extend(other.student_delete_checks)
        self.demo_loaders.extend(other.demo_loaders)
        self.emergency_hooks.extend(other.emergency_hooks)
        self.students_away.extend(other.students_away)
        self.release_sources.extend(other.release_sources)
        self.school_gauges.extend(other.school_gauges)
        self.early_pickups.extend(other.early_pickups)
        self.family_records.extend(other.family_records)


def contribute(bp: Blueprint, **parts: Any) -> None:
    """Record the blueprint's parts (the fields of `Contributions`, by name); they join an
    app's registry when that app registers the blueprint."""
    offered = Contributions(**parts)
    bp.record_once(lambda state: contributions(state.app).add(offered))


def contributions(app: Flask | None = None) -> Contributions:
    """The parts the registered blueprints contributed to `app` (default: the current app)."""
    app = app or current_app
    return app.extensions.setdefault(_KEY, Contributions())

"""What an import would do: a `Plan` of changes per kind, with row errors and warnings.

`plan_import` (planning.py) fills a plan without writing anything; `apply_import`
(applying.py) carries it out. The kinds of data an import covers, their labels and the
actions that can happen to each kind are defined here too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext, ngettext

from shared.models import School

if TYPE_CHECKING:
    from shared.roster.existing import Existing

#: The passline CSV files, by kind; a file is named after its kind ("students.csv").
CSV_KINDS = (
    "staff",
    "rooms",
    "students",
    "classes",
    "enrollments",
    "bell_schedule",
    "families",
    "guardians",
)
KIND_LABELS = {
    "staff": lazy_gettext("Staff"),
    "rooms": lazy_gettext("Rooms"),
    "students": lazy_gettext("Students"),
    "classes": lazy_gettext("Classes"),
    "enrollments": lazy_gettext("Enrollments"),
    "bell_schedule": lazy_gettext("Bell schedule"),
    "families": lazy_gettext("Families"),
    "guardians": lazy_gettext("Guardians"),
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
    # Removed: a OneRoster delta's guardians marked for deletion (a CSV never removes).
    "guardians": ("created", "changed", "removed"),
}


def action_count(action: str, num: int) -> str:
    """How many changes of one action, as people read it: "3 created"."""
    if action == "created":
        return ngettext("%(num)d created", "%(num)d created", num)
    if action == "changed":
        return ngettext("%(num)d changed", "%(num)d changed", num)
    if action == "deactivated":
        return ngettext("%(num)d deactivated", "%(num)d deactivated", num)
    return ngettext("%(num)d removed", "%(num)d removed", num)


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
    #: Rows the import leaves out without an error (an unknown role, an enrollment in a
    #: class the files do not hold...): every row not imported is an error or one of these.
    row_warnings: list[RowError] = field(default_factory=list)
    #: The OneRoster org sourcedId to store in School.sourced_id when applied.
    school_sourced_id: str | None = None
    #: The name of that org, for the preview's "applying links..." line.
    school_org_name: str | None = None
    existing: Existing | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return not self.errors

    def link_line(self, *, done: bool) -> str | None:
        """What happens to the school's OneRoster link: None when the plan links nothing.

        Only an import that is carried out links (`done=True`, after `apply_import`); a
        preview or dry run says it would, and a plan with errors links nothing at all.
        """
        if self.school_sourced_id is None or not self.ok:
            return None
        names = {
            "school": self.school.name,
            "org": repr(self.school_org_name),
            "id": self.school_sourced_id,
        }
        if done:
            return _(
                "%(school)s is now linked to the OneRoster org %(org)s (sourcedId %(id)s).",
                **names,
            )
        return _(
            "Applying links %(school)s to the OneRoster org %(org)s (sourcedId %(id)s).", **names
        )

    def students_deactivated(self) -> int:
        """How many active students the import would deactivate."""
        return len(self.kinds["students"].deactivated)

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
            _(
                "%(kind)s: %(counts)s",
                kind=KIND_LABELS[kind],
                counts=", ".join(action_count(action, n) for action, n in counts.items()),
            )
            for kind, counts in self.counts().items()
        ]

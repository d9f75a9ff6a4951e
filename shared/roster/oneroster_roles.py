"""OneRoster roles: the one table from the OneRoster vocabulary to passline, and roles.csv.

OneRoster 1.1 gives each user one `role` in users.csv; OneRoster 1.2 moves roles to
roles.csv, one row per user, org and role (`roleType` primary or secondary, `beginDate` /
`endDate`), and widens the vocabulary. Both versions go through `ONEROSTER_ROLES`, so a
word means the same thing whichever version it comes in.

The table is conservative: an import never gives the admin role (an admin gives it on the
Staff page, district IT with `flask create-admin`), and a role whose rights at a school
are unclear is not imported, with a warning on its row, rather than guessed up.

| OneRoster role | passline |
| --- | --- |
| student | a student |
| teacher | teacher |
| principal, siteAdministrator | office (front office: dismissal, hallways, emergencies) |
| aide, counselor, administrator (1.1) | staff |
| districtAdministrator, systemAdministrator | not imported (district rights are given by hand) |
| proctor | not imported |
| guardian, parent, relative | a guardian of their students' family, never a staff account |
| anything else (ext:...) | not imported |

Which role a user gets at this school (`RoleRows.best`): only roles.csv rows whose
`orgSourcedId` is the school's org count, and only those whose beginDate..endDate covers
the import day. Primary and secondary roles count alike: a user with several roles at the
school gets the one with the most rights (office, then teacher, then staff), because
passline gives one role per import and taking a lesser one would leave a principal who
also teaches without the front office screens. A student role at the school makes the user
a student; a staff role of the same user there is then a row warning.

A guardian role (parent, guardian, relative) counts at any org of the export, not only
the school's: a district often lists parents at the district org, and what ties a
guardian to this school is being an agent of one of its students (oneroster_guardians.py).
A user with a guardian role and a staff role at the school (a teacher whose child goes
there) is both: a staff account and a guardian. A guardian role alone never makes a staff
account.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

from flask_babel import gettext as _

from shared.roster.results import Plan
from shared.roster.rows import Cells, Row, Where, parse_cell_date


class RoleReader(Protocol):
    """What reading roles.csv needs of the OneRoster reader (oneroster.py, which imports
    this module: a protocol rather than its class keeps the two from importing each other)."""

    plan: Plan
    today: date

    def table(self, name: str, required: tuple[str, ...]) -> Iterable[Row] | None: ...

    def warn(self, row: Row, column: str | None, reason: str) -> None: ...

    def leave_out(self, row: Row, reason: str) -> None: ...

#: OneRoster role (lower case) -> "student", "guardian", a passline role, or None (not
#: imported). "guardian" is not a staff role: such a user becomes a family's guardian.
ONEROSTER_ROLES: dict[str, str | None] = {
    "student": "student",
    "teacher": "teacher",
    "principal": "office",
    "siteadministrator": "office",
    "aide": "staff",
    "counselor": "staff",
    "administrator": "staff",
    "districtadministrator": None,
    "systemadministrator": None,
    "proctor": None,
    "guardian": "guardian",
    "parent": "guardian",
    "relative": "guardian",
}
#: Passline roles an import gives, fewest rights first.
RIGHTS = ("staff", "teacher", "office")
GUARDIAN_ROLES = ("guardian", "parent", "relative")
DISTRICT_ROLES = ("districtadministrator", "systemadministrator")
ROLE_TYPES = ("primary", "secondary")


def not_imported_reason(role: str) -> str:
    """Why a OneRoster role that the table maps to nothing is not imported."""
    key = role.lower()
    if key in DISTRICT_ROLES:
        return _(
            "role %(role)s is not imported: district rights are given in passline "
            "(flask create-admin --district, or the District page)",
            role=role,
        )
    if key in ONEROSTER_ROLES:
        return _("role %(role)s is not imported (it has no passline role)", role=role)
    return _(
        "unknown role %(role)s: not imported (OneRoster roles passline imports: %(roles)s)",
        role=repr(role),
        roles=", ".join(sorted({k for k, v in ONEROSTER_ROLES.items() if v})),
    )


@dataclass
class RoleRows:
    """The roles.csv rows of one user that apply at this school today."""

    #: passline role ("student", "teacher"...) -> the first row that gives it.
    roles: dict[str, Where] = field(default_factory=dict)
    #: The first row of the user, for errors about the user.
    first: Row | None = None
    #: The user's guardian role word at the school ("parent", "guardian", "relative").
    guardian_role: str | None = None

    @property
    def student(self) -> bool:
        return "student" in self.roles

    def best(self) -> str | None:
        """The staff role with the most rights among the user's roles at the school."""
        staff = [role for role in RIGHTS if role in self.roles]
        return staff[-1] if staff else None


def read_roles(reader: RoleReader, org: str) -> dict[str, RoleRows] | None:
    """roles.csv: userSourcedId -> the user's roles at the school org today."""
    rows = reader.table("roles.csv", ("userSourcedId", "roleType", "role", "orgSourcedId"))
    if rows is None:
        return None
    today: date = reader.today
    users: dict[str, RoleRows] = {}
    for row in rows:
        cells = Cells(row, reader.plan.errors)
        user_id = cells.get("userSourcedId")
        if not user_id:
            cells.fail("userSourcedId", _("a value is required"))
            continue
        role_type = cells.get("roleType").lower()
        if role_type not in ROLE_TYPES:
            cells.fail(
                "roleType",
                _(
                    "%(value)s is not a roleType (primary or secondary)",
                    value=repr(cells.get("roleType")),
                ),
            )
        begin, end = _role_dates(cells)
        if not cells.ok:
            continue
        role = cells.get("role")
        mapped = ONEROSTER_ROLES.get(role.lower())
        if row.get("status").lower() == "tobedeleted":
            reader.leave_out(row, _("roles marked for deletion (an import never removes a role)"))
        elif row.get("orgSourcedId") != org and mapped != "guardian":
            if role.lower() in DISTRICT_ROLES:
                reader.warn(row, "role", not_imported_reason(role))
            else:
                reader.leave_out(row, _("roles at other orgs"))
        elif (begin and today < begin) or (end and today > end):
            reader.leave_out(
                row, _("roles whose dates do not cover %(day)s", day=today.isoformat())
            )
        elif mapped is None:
            reader.warn(row, "role", not_imported_reason(role))
        else:
            entry = users.setdefault(user_id, RoleRows(first=row))
            entry.roles.setdefault(mapped, cells.where)
            if mapped == "guardian" and entry.guardian_role is None:
                entry.guardian_role = role.lower()
    return users


def _role_dates(cells: Cells) -> tuple[date | None, date | None]:
    dates: list[date | None] = []
    for column in ("beginDate", "endDate"):
        value = cells.get(column)
        try:
            dates.append(parse_cell_date(value) if value else None)
        except ValueError:
            cells.fail(
                column,
                _("%(value)s is not a date like 2026-08-01", value=repr(value)),
            )
            dates.append(None)
    begin, end = dates
    if begin and end and end < begin:
        cells.fail("endDate", _("endDate is before beginDate"))
    return begin, end

"""Schools of the district: add, rename, archive and restore them (district admins only).

The one home for a school's own fields and their rules: the name, the short code the
command line uses (`--school LMS`), and the time zone, which is picked from a list
(`timezone_choices`), never typed, so every school's local times are right. The web
pages (shared/school_views.py), `flask school ...` and a school admin's own settings page
(name and time zone of their school) all go through here.

Archiving a school, rather than deleting it, keeps its history for its retention periods
(`flask purge` still applies them) and its audit log, while the school leaves every list
and screen: nobody can switch to it or pick it in the school picker, its paired devices
and staff are refused there (so no new pass or dismissal starts), and the command line
refuses it as `--school`. Restoring it brings everything back as it was. Both bump the
school's access version, so cached live-poll decisions are dropped at once.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from functools import cache

from flask_babel import gettext as _
from sqlalchemy import func, select

from shared import audit, live
from shared.audit import Actor
from shared.errors import Conflict, Forbidden, InvalidInput, NotFound
from shared.extensions import db
from shared.models import School, User
from shared.timeutil import is_valid_timezone, utcnow

#: A short code: letters, digits, '-' or '_', starting with a letter or digit (stored upper case).
CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,31}$")
#: Time zone areas offered in the list (IANA's regions; not the legacy aliases such
#: as "US/Eastern", "EST5EDT" or "Etc/GMT+5").
TIMEZONE_AREAS = (
    "America",
    "Pacific",
    "Europe",
    "Africa",
    "Asia",
    "Atlantic",
    "Australia",
    "Indian",
    "Antarctica",
    "Arctic",
)


@cache
def timezone_choices() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The time zones offered, grouped by area for the form's <optgroup>s: ((area, zones)).

    From `zoneinfo.available_timezones()` (the system's tz database), only the canonical
    Area/Place names, sorted; America first, as passline's districts mostly are there.
    """
    from zoneinfo import available_timezones

    grouped: dict[str, list[str]] = defaultdict(list)
    for name in available_timezones():
        area, _slash, place = name.partition("/")
        if area in TIMEZONE_AREAS and place:
            grouped[area].append(name)
    return tuple((area, tuple(sorted(grouped[area]))) for area in TIMEZONE_AREAS if area in grouped)


@cache
def _offered_timezones() -> frozenset[str]:
    return frozenset(zone for _area, zones in timezone_choices() for zone in zones)


def validate_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise InvalidInput(_("The school name must have 1 to 200 characters."), field="name")
    return name


def validate_code(code: str) -> str:
    code = (code or "").strip().upper()
    if not CODE_RE.match(code):
        raise InvalidInput(
            _("The short code has 1 to 32 letters, digits, '-' or '_' (e.g. LMS)."), field="code"
        )
    return code


def validate_timezone(timezone: str) -> str:
    timezone = (timezone or "").strip()
    if timezone not in _offered_timezones() or not is_valid_timezone(timezone):
        raise InvalidInput(_("Choose the school's time zone from the list."), field="timezone")
    return timezone


def validate_language(language: str) -> str:
    from shared.i18n import valid_language

    found = valid_language((language or "").strip())
    if found is None:
        raise InvalidInput(_("Choose the school's language from the list."), field="language")
    return found


def _require_district_admin(user: User | None) -> None:
    if user is None or not user.is_district_admin:
        raise Forbidden(_("Only a district admin may add, change or archive schools."))


def _check_code_free(code: str, school: School | None = None) -> None:
    other = db.session.scalar(select(School).where(func.upper(School.code) == code))
    if other is not None and other is not school:
        raise Conflict(_("Another school has the code %(code)s already.", code=code), field="code")


def all_schools(include_archived: bool = True) -> list[School]:
    """Every school of the district: active ones by name, then the archived ones."""
    query = select(School)
    if not include_archived:
        query = query.where(School.archived_at.is_(None))
    return list(
        db.session.scalars(query.order_by(School.archived_at.is_not(None), School.name, School.id))
    )


def get_school(school_id: int) -> School:
    """A school by id (archived or not), for a district admin's pages; else `NotFound`."""
    school = db.session.get(School, school_id)
    if school is None:
        raise NotFound(_("No such school."))
    return school


def active_school_by_code(code: str) -> School:
    """The school with this short code for the command line; archived ones are refused."""
    school = db.session.scalar(
        select(School).where(func.upper(School.code) == (code or "").strip().upper())
    )
    if school is None:
        raise NotFound(f"No school with code {code!r}.")
    if school.is_archived:
        raise Conflict(f"The school {school.code} is archived; restore it first.")
    return school


def create_school(*, actor: Actor, name: str, code: str, timezone: str) -> School:
    """Add a school (a district admin, or the command line as `SYSTEM`)."""
    if actor is not audit.SYSTEM:
        _require_district_admin(actor.user)
    name, code, timezone = validate_name(name), validate_code(code), validate_timezone(timezone)
    _check_code_free(code)
    school = School(name=name, code=code, timezone=timezone, settings={})
    db.session.add(school)
    db.session.flush()
    audit.record(
        "school.create",
        school_id=school.id,
        target=school,
        detail={"name": name, "code": code, "timezone": timezone},
        actor=actor,
    )
    return school


def update_school(
    school: School,
    *,
    actor: Actor,
    name: str,
    timezone: str,
    code: str | None = None,
    language: str | None = None,
) -> None:
    """Rename a school, change its time zone, its language (None: unchanged) and (district
    admins only) its short code.

    A school admin changes their own school's name and time zone (their view passes
    no `code`); the short code is the district's, so only a district admin changes it.
    """
    if code is not None and actor is not audit.SYSTEM:
        _require_district_admin(actor.user)
    name, timezone = validate_name(name), validate_timezone(timezone)
    code = validate_code(code) if code is not None else school.code
    language = validate_language(language) if language is not None else school.language
    _check_code_free(code, school)
    before = {
        "name": school.name,
        "code": school.code,
        "timezone": school.timezone,
        "language": school.language,
    }
    after = {"name": name, "code": code, "timezone": timezone, "language": language}
    if before == after:
        return
    school.name, school.code, school.timezone = name, code, timezone
    school.language = language
    db.session.flush()
    audit.record(
        "school.update",
        school_id=school.id,
        target=school,
        detail={"before": before, "after": after},
        actor=actor,
    )


def set_archived(school: School, archived: bool, *, actor: Actor) -> bool:
    """Archive a school (it leaves every list and screen) or restore it; whether it changed."""
    if actor is not audit.SYSTEM:
        _require_district_admin(actor.user)
    if school.is_archived == archived:
        return False
    school.archived_at = utcnow() if archived else None
    # Every cached decision about the school's callers is dropped at once (poll shortcut).
    live.access_changed([school.id])
    db.session.flush()
    audit.record(
        "school.archive" if archived else "school.restore",
        school_id=school.id,
        target=school,
        detail={"code": school.code},
        actor=actor,
    )
    return True


# ------------------------------------------------------------------ schools from orgs.csv


@dataclass(frozen=True)
class OrgSchool:
    """What `org_school` found for one OneRoster school org (nothing written yet)."""

    #: "exists" (the school has the org's sourcedId), "linked" (a school with the org's
    #: identifier as its code and no org yet, to be linked), "created" (to be created) or
    #: "missing" (none, and creating was not asked).
    action: str
    #: The school, except when it is to be created or is missing.
    school: School | None
    sourced_id: str
    #: The new school's name and code (checked), when it is linked or created.
    name: str = ""
    code: str = ""


def org_school(
    sourced_id: str,
    name: str,
    identifier: str,
    *,
    create: bool,
    archived_ok: bool = False,
    planned_codes: Collection[str] = (),
) -> OrgSchool:
    """The one rule for the school of a OneRoster school org (writes nothing).

    A school is matched by the org's sourcedId stored on it (School.sourced_id). Else, when
    `create` is asked, a school that has the org's `identifier` as its code and no org yet
    is to be linked to it, or else one is to be created with the org's name and identifier
    as its code; a code another org's school holds, or one that `planned_codes` (the codes
    of other rows of the same file) has already, is refused. An archived school is refused
    (restore it first) unless `archived_ok` (`flask school import-orgs` leaves it as it is).
    `link_org_school` then does what was found. Raises `InvalidInput`: a name or code that
    cannot be a school's has the error's `field` set.
    """
    school = db.session.scalar(select(School).where(School.sourced_id == sourced_id))
    found = OrgSchool("exists", school, sourced_id)
    if school is None:
        if not create:
            return OrgSchool("missing", None, sourced_id)
        name, code = validate_name(name), validate_code(identifier)
        school = db.session.scalar(select(School).where(func.upper(School.code) == code))
        if school is not None and school.sourced_id is not None:
            raise InvalidInput(f"another school has the code {code} already.")
        if code in planned_codes:
            raise InvalidInput(f"the code {code} is on another row too.")
        found = OrgSchool("linked" if school else "created", school, sourced_id, name, code)
    if school is not None and school.is_archived and not archived_ok:
        raise InvalidInput(
            f"{school.name} ({school.code}) is archived: restore it "
            f"(`flask school restore {school.code}`) to import its roster."
        )
    return found


def link_org_school(found: OrgSchool, *, timezone: str, actor: Actor) -> School:
    """Do what `org_school` found: create the school (in `timezone`) or link it to its
    org, audited (school.create, school.link_org); a school that exists is left as it is."""
    if found.action == "exists":
        return found.school
    if found.action == "missing":
        raise NotFound(f"No school has the org {found.sourced_id}.")
    school = found.school
    if found.action == "created":
        school = create_school(actor=actor, name=found.name, code=found.code, timezone=timezone)
    school.sourced_id = found.sourced_id
    db.session.flush()
    audit.record(
        "school.link_org",
        school_id=school.id,
        target=school,
        detail={"sourced_id": found.sourced_id},
        actor=actor,
    )
    return school


def schools_from_orgs(bundle, *, timezone: str, actor: Actor) -> list[tuple[str, School]]:
    """Create the schools a OneRoster export's orgs.csv lists (`flask school import-orgs`).

    Each org of type "school" (not marked tobedeleted) gets its school by `org_school`: the
    one with the org's sourcedId is left as it is (archived or not), one with the same code
    and no org is linked to it, else one is created with the org's name and `identifier` as
    its code, in `timezone` (orgs.csv has none). Any row that cannot be a school (no
    identifier, a code another org's school holds or another row has) refuses the whole
    file, with every problem listed: nothing is half-created.
    Returns (what was done: "created", "linked" or "exists", school) per school org.
    """
    from shared.roster.rows import read_table

    timezone = validate_timezone(timezone)
    if "orgs.csv" not in bundle.files:
        raise InvalidInput("No orgs.csv in this export: it is not a OneRoster bundle.")
    errors: list = []
    rows = read_table(bundle, "orgs.csv", ("sourcedId", "name", "type", "identifier"), errors)
    problems = [str(error) for error in errors]
    planned: list[OrgSchool] = []
    for row in rows or []:
        if row.get("type").lower() != "school" or row.get("status").lower() == "tobedeleted":
            continue
        where = f"orgs.csv row {row.line}"
        sourced_id, name = row.get("sourcedId"), row.get("name")
        try:
            found = org_school(
                sourced_id,
                name,
                row.get("identifier"),
                create=True,
                archived_ok=True,
                planned_codes={other.code for other in planned if other.code},
            )
        except InvalidInput as error:
            named = f" ({name or sourced_id})" if error.field else ""
            problems.append(f"{where}{named}: {error.message}")
            continue
        planned.append(found)
    if problems:
        raise InvalidInput("orgs.csv cannot make schools: " + "; ".join(problems))
    return [
        (found.action, link_org_school(found, timezone=timezone, actor=actor)) for found in planned
    ]


def school_for_org(
    sourced_id: str,
    name: str,
    identifier: str,
    *,
    create: bool,
    timezone: str,
    actor: Actor,
) -> tuple[str, School | None]:
    """The school of one OneRoster school org, for a district's roster import: found,
    linked or created (`create`, `--create-schools`) by `org_school` and
    `link_org_school`. Returns ("exists", "linked" or "created", school), or ("missing",
    None) when there is none and create was not asked. An archived school, or an org that
    cannot make a school, is refused (`InvalidInput`)."""
    found = org_school(sourced_id, name, identifier, create=create)
    if found.action == "missing":
        return "missing", None
    return found.action, link_org_school(found, timezone=timezone, actor=actor)

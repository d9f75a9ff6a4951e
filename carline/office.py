"""Car line office work: the school's car line settings, families and tags, dismissal plans.

Plain functions taking the school, the acting user and the records they change; they
flush and never commit, audit every write and raise `shared.errors.DomainError` on a
broken rule, like `carline.services` (which they call for tags and plans).

Car line settings live in `school.settings["carline"]` as
`{"lanes": int, "spots_per_lane": int, "cutoff": "HH:MM" | None,
"walker_doors": {"Door": ["K", "1"]}}`; `carline_settings` reads them with defaults.

The daily change cutoff: a change (or taking one back) for today after the school's
cutoff time needs an explicit office override with a reason, audited on its own.
Changes for a past day are refused; absences have no cutoff.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import Select, exists, func, or_, select
from sqlalchemy.orm import selectinload

from carline import services
from carline.models import (
    DISMISSAL_MODES,
    MAX_LANES,
    MAX_SPOTS_PER_LANE,
    Absence,
    DailyChange,
    DismissalDefault,
    Tag,
)
from shared import audit, live
from shared.errors import Conflict, Forbidden, InvalidInput, NotFound
from shared.extensions import db
from shared.models import Enrollment, Family, School, SchoolClass, Student, User, family_students
from shared.schedule import teacher_classes
from shared.students import search_text
from shared.timeutil import utcnow

DEFAULT_LANES = 2
DEFAULT_SPOTS_PER_LANE = 5
MAX_TAG_NUMBER = 999_999
MAX_DOORS = 20
DOOR_NAME_LENGTH = 60
GRADE_LENGTH = 8
PICKUP_ADULTS_LENGTH = 2000
NOTE_LENGTH = 500
REASON_LENGTH = 300
SEARCH_LIMIT = 50
#: The school days a weekday default is usually set for (0 = Monday).
SCHOOL_DAYS = (0, 1, 2, 3, 4)
MODE_LABELS = {
    "car": "Car",
    "bus": "Bus",
    "walker": "Walker",
    "aftercare": "After-care",
    "absent": "Absent",
    "unplanned": "No plan",
}

_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


# Settings


@dataclass(frozen=True)
class CarlineSettings:
    """The school's car line set-up, with defaults for what is not set."""

    lanes: int = DEFAULT_LANES
    spots_per_lane: int = DEFAULT_SPOTS_PER_LANE
    cutoff: time | None = None
    walker_doors: dict[str, list[str]] = field(default_factory=dict)

    def as_json(self) -> dict:
        """The stored form (`school.settings["carline"]`)."""
        return {
            "lanes": self.lanes,
            "spots_per_lane": self.spots_per_lane,
            "cutoff": self.cutoff.strftime("%H:%M") if self.cutoff else None,
            "walker_doors": {door: list(grades) for door, grades in self.walker_doors.items()},
        }

    def doors_text(self) -> str:
        """The walker doors as the settings form shows them: `Door: K, 1` per line."""
        return "\n".join(f"{door}: {', '.join(g)}" for door, g in self.walker_doors.items())


def carline_settings(school: School) -> CarlineSettings:
    """The school's car line settings; defaults for anything missing or unreadable."""
    raw = (school.settings or {}).get("carline") or {}
    lanes, spots = raw.get("lanes"), raw.get("spots_per_lane")
    cutoff = raw.get("cutoff")
    doors = raw.get("walker_doors") if isinstance(raw.get("walker_doors"), dict) else {}
    return CarlineSettings(
        lanes=lanes if isinstance(lanes, int) and 1 <= lanes <= MAX_LANES else DEFAULT_LANES,
        spots_per_lane=spots
        if isinstance(spots, int) and 1 <= spots <= MAX_SPOTS_PER_LANE
        else DEFAULT_SPOTS_PER_LANE,
        cutoff=parse_clock(cutoff) if isinstance(cutoff, str) and _CLOCK.match(cutoff) else None,
        walker_doors={str(d): [str(x) for x in g] for d, g in doors.items() if isinstance(g, list)},
    )


def parse_clock(value: str | None, *, field_name: str = "cutoff") -> time | None:
    """A 24-hour "HH:MM" wall-clock time; None for an empty value."""
    value = (value or "").strip()
    if not value:
        return None
    match = _CLOCK.match(value)
    if match is None:
        raise InvalidInput("Enter a time as HH:MM, for example 14:30.", field=field_name)
    return time(int(match.group(1)), int(match.group(2)))


def _whole_number(value: str | int | None, low: int, high: int, label: str, name: str) -> int:
    text = str(value if value is not None else "").strip()
    if not text.isdigit() or not low <= int(text) <= high:
        raise InvalidInput(f"{label}: a whole number from {low} to {high}.", field=name)
    return int(text)


def parse_doors(text: str) -> dict[str, list[str]]:
    """Walker doors from lines like `East doors: K, 1, 2`."""
    doors: dict[str, list[str]] = {}
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        name, colon, grades_text = line.partition(":")
        name = " ".join(name.split())
        grades = [g.strip().upper() for g in grades_text.split(",") if g.strip()]
        if not colon or not name or not grades:
            raise InvalidInput(
                f"Walker doors, line {number}: write the door, a colon and its grades "
                "(East doors: K, 1, 2).",
                field="walker_doors",
            )
        if len(name) > DOOR_NAME_LENGTH or any(len(g) > GRADE_LENGTH for g in grades):
            raise InvalidInput(
                f"Walker doors, line {number}: the name or a grade is too long.",
                field="walker_doors",
            )
        if name in doors:
            raise InvalidInput(f"Walker doors: {name!r} is listed twice.", field="walker_doors")
        doors[name] = list(dict.fromkeys(grades))
    if len(doors) > MAX_DOORS:
        raise InvalidInput(f"Walker doors: at most {MAX_DOORS}.", field="walker_doors")
    return doors


def save_settings(
    school: School,
    user: User,
    *,
    lanes: str | int | None,
    spots_per_lane: str | int | None,
    cutoff: str | None,
    walker_doors: str,
) -> CarlineSettings:
    """Validate and store the school's car line settings (all or nothing)."""
    new = CarlineSettings(
        lanes=_whole_number(lanes, 1, MAX_LANES, "Lanes", "lanes"),
        spots_per_lane=_whole_number(
            spots_per_lane, 1, MAX_SPOTS_PER_LANE, "Loading spots per lane", "spots_per_lane"
        ),
        cutoff=parse_clock(cutoff),
        walker_doors=parse_doors(walker_doors),
    )
    before = carline_settings(school).as_json()
    # A new dict: the JSON column only notices an assignment, not an in-place change.
    school.settings = {**(school.settings or {}), "carline": new.as_json()}
    db.session.flush()
    audit.record(
        "carline.settings",
        school_id=school.id,
        target=school,
        detail={"before": before, "after": new.as_json()},
        actor_user=user,
    )
    live.bump(school.id, services.TOPIC)
    return new


# School time


def school_now(school: School, now: datetime | None = None) -> datetime:
    """The current (or given) time on the school's wall clock."""
    return (now or utcnow()).astimezone(ZoneInfo(school.timezone))


def school_today(school: School, now: datetime | None = None) -> date:
    """The school's local date."""
    return school_now(school, now).date()


# Families and tags


def get_family(school: School, family_id: int | None) -> Family:
    """A family of this school (404 otherwise)."""
    family = db.session.get(Family, family_id) if family_id else None
    if family is None or family.school_id != school.id:
        raise NotFound("No such family.")
    return family


def get_student(school: School, student_id: int | None) -> Student:
    """A student of this school (404 otherwise)."""
    student = db.session.get(Student, student_id) if student_id else None
    if student is None or student.school_id != school.id:
        raise NotFound("No such student.")
    return student


def parse_tag_number(value: str | int | None) -> int:
    """A tag number typed in a form."""
    return _whole_number(value, 1, MAX_TAG_NUMBER, "Tag number", "tag_number")


def _free_tag_number(school: School, tag_number: int, family: Family | None) -> None:
    taken = db.session.scalar(
        select(Family.id).where(Family.school_id == school.id, Family.tag_number == tag_number)
    )
    if taken is not None and (family is None or taken != family.id):
        raise Conflict(f"Tag {tag_number} already belongs to another family.", field="tag_number")


def _adults(text: str | None) -> str:
    lines = [" ".join(line.split()) for line in (text or "").splitlines()]
    cleaned = "\n".join(line for line in lines if line)
    if len(cleaned) > PICKUP_ADULTS_LENGTH:
        raise InvalidInput(
            f"Authorized adults: at most {PICKUP_ADULTS_LENGTH} characters.", field="pickup_adults"
        )
    return cleaned


def next_tag_number(school: School) -> int:
    """The tag number after the highest in use (a suggestion for a new family)."""
    highest = db.session.scalar(
        select(func.max(Family.tag_number)).where(Family.school_id == school.id)
    )
    return (highest or 0) + 1


def create_family(
    school: School, user: User, *, tag_number: str | int | None, pickup_adults: str = ""
) -> Family:
    """Add a family (or carpool) with a tag number unique in the school."""
    number = parse_tag_number(tag_number)
    adults = _adults(pickup_adults)
    _free_tag_number(school, number, None)
    family = Family(school_id=school.id, tag_number=number, pickup_adults=adults, active=True)
    db.session.add(family)
    db.session.flush()
    audit.record(
        "carline.family_create",
        school_id=school.id,
        target=family,
        detail={"tag_number": number},
        actor_user=user,
    )
    return family


def update_family(
    school: School,
    user: User,
    family: Family,
    *,
    tag_number: str | int | None,
    pickup_adults: str,
) -> Family:
    """Change a family's tag number or its authorized pickup adults."""
    family = get_family(school, family.id)
    number = parse_tag_number(tag_number)
    adults = _adults(pickup_adults)
    _free_tag_number(school, number, family)
    before = family.tag_number
    adults_changed = adults != family.pickup_adults
    family.tag_number, family.pickup_adults = number, adults
    db.session.flush()
    audit.record(
        "carline.family_update",
        school_id=school.id,
        target=family,
        detail={"tag_number": [before, number], "pickup_adults_changed": adults_changed},
        actor_user=user,
    )
    live.bump(school.id, services.TOPIC)
    return family


def set_family_active(school: School, user: User, family: Family, active: bool) -> Family:
    """Deactivate a family (its tag stops working at the curb) or bring it back."""
    family = get_family(school, family.id)
    if family.active == active:
        return family
    family.active = active
    db.session.flush()
    audit.record(
        "carline.family_activate" if active else "carline.family_deactivate",
        school_id=school.id,
        target=family,
        detail={"tag_number": family.tag_number},
        actor_user=user,
    )
    live.bump(school.id, services.TOPIC)
    return family


def _family_students_changed(
    school: School, user: User, action: str, family: Family, student: Student
) -> None:
    """Flush a change of who is on the family's tag, audit it and bump the car line."""
    db.session.flush()
    audit.record(
        action,
        school_id=school.id,
        target=family,
        detail={"student_id": student.id, "tag_number": family.tag_number},
        actor_user=user,
    )
    live.bump(school.id, services.TOPIC)


def add_family_student(school: School, user: User, family: Family, student: Student) -> None:
    """Put a student of this school on the family's tag (a student may be on several)."""
    family, student = get_family(school, family.id), get_student(school, student.id)
    if not student.active:
        raise InvalidInput("This student has left the roster.", field="student_id")
    if student in family.students:
        raise Conflict("This student is already on this tag.", field="student_id")
    family.students.append(student)
    _family_students_changed(school, user, "carline.family_student_add", family, student)


def remove_family_student(school: School, user: User, family: Family, student: Student) -> None:
    """Take a student off the family's tag."""
    family, student = get_family(school, family.id), get_student(school, student.id)
    if student not in family.students:
        raise NotFound("This student is not on this tag.")
    family.students.remove(student)
    _family_students_changed(school, user, "carline.family_student_remove", family, student)


def live_tag(family: Family) -> Tag | None:
    """The family's tag that works at the curb, if one was issued."""
    return db.session.scalar(
        select(Tag).where(Tag.family_id == family.id, Tag.revoked_at.is_(None))
    )


def issue_missing_tags(school: School, user: User, family_ids: list[int] | None = None) -> int:
    """Issue a tag to each active family (of `family_ids`, or all) that has no live tag."""
    query = select(Family).where(
        Family.school_id == school.id,
        Family.active.is_(True),
        ~exists().where(Tag.family_id == Family.id, Tag.revoked_at.is_(None)),
    )
    if family_ids is not None:
        query = query.where(Family.id.in_(family_ids))
    families = db.session.scalars(query.order_by(Family.tag_number)).all()
    for family in families:
        services.issue_tag(school, family, user=user)
    return len(families)


@dataclass(frozen=True)
class FamilyRow:
    """A family in a list, with its students and whether it has a working tag."""

    family: Family
    has_tag: bool


def _family_rows(query: Select) -> list[FamilyRow]:
    live_tag_exists = (
        exists().where(Tag.family_id == Family.id, Tag.revoked_at.is_(None)).label("has_tag")
    )
    rows = db.session.execute(
        query.add_columns(live_tag_exists).options(selectinload(Family.students))
    ).all()
    return [FamilyRow(family, bool(has_tag)) for family, has_tag in rows]


def list_families(
    school: School, *, include_inactive: bool = False, page: int = 1, per_page: int = 100
) -> tuple[list[FamilyRow], bool]:
    """The school's families by tag number, one page; and whether there are more."""
    query = select(Family).where(Family.school_id == school.id)
    if not include_inactive:
        query = query.where(Family.active.is_(True))
    query = query.order_by(Family.tag_number).limit(per_page + 1).offset((page - 1) * per_page)
    rows = _family_rows(query)
    return rows[:per_page], len(rows) > per_page


def _name_filter(pattern: str):
    return or_(
        func.lower(Student.first_name).like(pattern, escape="\\"),
        func.lower(Student.last_name).like(pattern, escape="\\"),
        func.lower(func.coalesce(Student.preferred_name, "")).like(pattern, escape="\\"),
    )


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_families(school: School, text: str) -> list[FamilyRow]:
    """Families whose tag number, student or pickup adult matches the text."""
    text = search_text(text)
    if not text:
        return []
    pattern = _like(text)
    by_student = (
        select(family_students.c.family_id)
        .join(Student, Student.id == family_students.c.student_id)
        .where(Student.school_id == school.id, _name_filter(pattern))
    )
    matches = or_(
        Family.id.in_(by_student),
        func.lower(Family.pickup_adults).like(pattern, escape="\\"),
    )
    if text.isdigit():
        matches = or_(matches, Family.tag_number == int(text[:9]))
    query = (
        select(Family)
        .where(Family.school_id == school.id, matches)
        .order_by(Family.active.desc(), Family.tag_number)
        .limit(SEARCH_LIMIT)
    )
    return _family_rows(query)


def search_students(school: School, text: str, *, limit: int = SEARCH_LIMIT) -> list[Student]:
    """Active students of this school by name or student number."""
    text = search_text(text)
    if not text:
        return []
    return list(
        db.session.scalars(
            select(Student)
            .where(
                Student.school_id == school.id,
                Student.active.is_(True),
                or_(_name_filter(_like(text)), Student.student_number == text),
            )
            .order_by(Student.last_name, Student.first_name, Student.id)
            .limit(limit)
        )
    )


def families_of(student: Student) -> list[Family]:
    """The families whose tag the student is on."""
    return list(
        db.session.scalars(
            select(Family)
            .join(family_students, family_students.c.family_id == Family.id)
            .where(family_students.c.student_id == student.id)
            .order_by(Family.tag_number)
        )
    )


def tags_to_print(school: School, family_ids: list[int] | None = None) -> list[tuple[int, str]]:
    """(tag number, token) of the live tags of active families, all or of `family_ids`."""
    query = (
        select(Family.tag_number, Tag.token)
        .join(Tag, Tag.family_id == Family.id)
        .where(Family.school_id == school.id, Family.active.is_(True), Tag.revoked_at.is_(None))
    )
    if family_ids is not None:
        query = query.where(Family.id.in_(family_ids))
    rows = db.session.execute(query.order_by(Family.tag_number))
    return [(number, token) for number, token in rows]


def families_without_tag(school: School, family_ids: list[int] | None = None) -> int:
    """How many of these active families have no working tag yet."""
    query = select(func.count(Family.id)).where(
        Family.school_id == school.id,
        Family.active.is_(True),
        ~exists().where(Tag.family_id == Family.id, Tag.revoked_at.is_(None)),
    )
    if family_ids is not None:
        query = query.where(Family.id.in_(family_ids))
    return db.session.scalar(query)


# Dismissal plans


def weekday_defaults(student: Student) -> dict[int, DismissalDefault]:
    """The student's weekday defaults by weekday (0 = Monday)."""
    return {
        d.weekday: d
        for d in db.session.scalars(
            select(DismissalDefault).where(DismissalDefault.student_id == student.id)
        )
    }


def set_weekday_defaults(
    school: School,
    user: User,
    student: Student,
    weekdays: list[int],
    mode: str,
    bus_route: str | None = None,
) -> list[DismissalDefault]:
    """Set the student's default mode on each of these weekdays at once."""
    student = get_student(school, student.id)
    if not weekdays or any(w not in range(7) for w in weekdays):
        raise InvalidInput("Choose at least one weekday.", field="weekday")
    if mode not in DISMISSAL_MODES:
        raise InvalidInput("Choose car, bus, walker or after-care.", field="mode")
    return [
        services.set_default(school, student, weekday, mode, bus_route=bus_route, user=user)
        for weekday in sorted(set(weekdays))
    ]


def _check_cutoff(
    school: School, day: date, now: datetime | None, override: bool, reason: str | None
) -> str | None:
    """Refuse a change for a past day, or for today after the cutoff without an override.

    Returns the override reason when the override was needed (to be audited).
    """
    local_now = school_now(school, now)
    today = local_now.date()
    if day < today:
        raise InvalidInput("That day is over: changes are for today or a later day.", field="day")
    cutoff = carline_settings(school).cutoff
    if day > today or cutoff is None or local_now.time() < cutoff:
        return None
    reason = " ".join((reason or "").split())
    if not override:
        raise Forbidden(
            f"It is after today's {cutoff.strftime('%H:%M')} cutoff: tick the office "
            "override and give a reason.",
            field="override",
        )
    if not reason or len(reason) > REASON_LENGTH:
        raise InvalidInput(
            f"Give the reason for the override (up to {REASON_LENGTH} characters).",
            field="reason",
        )
    return reason


def _audit_override(
    school: School, user: User, student: Student, day: date, reason: str, what: str
) -> None:
    audit.record(
        "carline.cutoff_override",
        school_id=school.id,
        target=student,
        detail={"day": day.isoformat(), "reason": reason, "change": what},
        actor_user=user,
    )


def family_by_tag(school: School, tag_number: str | int | None) -> Family | None:
    """The family of a typed tag number (None when the field is empty)."""
    if tag_number is None or not str(tag_number).strip():
        return None
    number = _whole_number(tag_number, 1, MAX_TAG_NUMBER, "Tag number", "family_tag")
    family = db.session.scalar(
        select(Family).where(Family.school_id == school.id, Family.tag_number == number)
    )
    if family is None:
        raise InvalidInput(f"Tag {number} is not a tag of this school.", field="family_tag")
    return family


def parse_day(value: str | None, *, default: date | None = None) -> date:
    """A date typed in a form as YYYY-MM-DD."""
    value = (value or "").strip()
    if not value and default is not None:
        return default
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput("Enter a date as YYYY-MM-DD.", field="day") from None


def record_change(
    school: School,
    user: User,
    student: Student,
    day: date,
    *,
    mode: str,
    bus_route: str | None = None,
    family_tag: str | int | None = None,
    early_pickup: str | None = None,
    note: str = "",
    override: bool = False,
    reason: str | None = None,
    now: datetime | None = None,
) -> DailyChange:
    """Record how the student goes home on one day, honouring the school's cutoff."""
    student = get_student(school, student.id)
    family = family_by_tag(school, family_tag)
    pickup = parse_clock(early_pickup, field_name="early_pickup")
    note = (note or "").strip()
    if len(note) > NOTE_LENGTH:
        raise InvalidInput(f"Note: at most {NOTE_LENGTH} characters.", field="note")
    overridden = _check_cutoff(school, day, now, override, reason)
    change = services.set_daily_change(
        school,
        student,
        day,
        mode,
        bus_route=bus_route,
        family=family,
        early_pickup=pickup,
        note=note,
        user=user,
    )
    if overridden:
        _audit_override(school, user, student, day, overridden, "set")
    return change


def take_back_change(
    school: School,
    user: User,
    student: Student,
    day: date,
    *,
    override: bool = False,
    reason: str | None = None,
    now: datetime | None = None,
) -> None:
    """Drop the student's change for the day, honouring the cutoff like a new change."""
    student = get_student(school, student.id)
    overridden = _check_cutoff(school, day, now, override, reason)
    services.clear_daily_change(school, student, day, user=user)
    if overridden:
        _audit_override(school, user, student, day, overridden, "clear")


def mark_absent(
    school: School, user: User, student: Student, day: date, *, now: datetime | None = None
) -> Absence:
    """Mark the student absent for a day (today or later): they will not be called."""
    student = get_student(school, student.id)
    if day < school_today(school, now):
        raise InvalidInput("Absences are marked for today or a later day.", field="day")
    return services.mark_absent(school, student, day, user=user)


def clear_absence(school: School, user: User, student: Student, day: date) -> None:
    """Take back an absence marked by mistake."""
    student = get_student(school, student.id)
    services.clear_absence(school, student, day, user=user)


def upcoming_changes(student: Student, today: date) -> list[DailyChange]:
    """The student's changes for today and later days."""
    return list(
        db.session.scalars(
            select(DailyChange)
            .where(DailyChange.student_id == student.id, DailyChange.day >= today)
            .options(selectinload(DailyChange.family))
            .order_by(DailyChange.day)
        )
    )


def is_absent(student: Student, day: date) -> bool:
    """Whether the student is marked absent on the day."""
    return (
        db.session.scalar(
            select(Absence.id).where(Absence.student_id == student.id, Absence.day == day)
        )
        is not None
    )


@dataclass(frozen=True)
class DayOverview:
    """The office's view of one day: its changes, its absences, students without a plan."""

    day: date
    changes: list[DailyChange]
    absent: list[Student]
    #: Active students with no plan that day: never called, listed as late pickups.
    unplanned: list[Student]


def day_overview(school: School, day: date) -> DayOverview:
    """Every daily change and absence of the school on the day."""
    changes = db.session.scalars(
        select(DailyChange)
        .join(Student, Student.id == DailyChange.student_id)
        .where(Student.school_id == school.id, DailyChange.day == day)
        .options(selectinload(DailyChange.student), selectinload(DailyChange.family))
        .order_by(Student.last_name, Student.first_name, Student.id)
    ).all()
    absent = db.session.scalars(
        select(Student)
        .join(Absence, Absence.student_id == Student.id)
        .where(Student.school_id == school.id, Absence.day == day)
        .order_by(Student.last_name, Student.first_name, Student.id)
    ).all()
    plans = services.day_plans(school.id, day)
    unplanned_ids = [sid for sid, plan in plans.items() if plan.mode == "unplanned"]
    unplanned = db.session.scalars(
        select(Student)
        .where(Student.id.in_(unplanned_ids))
        .order_by(Student.last_name, Student.first_name, Student.id)
    ).all()
    return DayOverview(day, list(changes), list(absent), list(unplanned))


@dataclass(frozen=True)
class TeacherStudentPlan:
    """One of a teacher's students whose plan for the day is not the usual one."""

    student: Student
    classes: list[str]
    plan: services.DayPlan
    family: Family | None


def teacher_students(school: School, user: User) -> set[int]:
    """Ids of the active students in the teacher's classes."""
    class_ids = [c.id for c in teacher_classes(school, user.id)]
    if not class_ids:
        return set()
    return set(
        db.session.scalars(
            select(Enrollment.student_id)
            .join(Student, Student.id == Enrollment.student_id)
            .where(Enrollment.class_id.in_(class_ids), Student.active.is_(True))
        )
    )


def plan_families(plans: Iterable[services.DayPlan]) -> dict[int, Family]:
    """The families the plans send students home with, by id."""
    family_ids = [p.family_id for p in plans if p.family_id]
    return {f.id: f for f in db.session.scalars(select(Family).where(Family.id.in_(family_ids)))}


def teacher_changes(school: School, user: User, day: date) -> list[TeacherStudentPlan]:
    """The teacher's students with a change or an absence on the day."""
    classes = teacher_classes(school, user.id)
    by_student: dict[int, list[str]] = {}
    if classes:
        rows = db.session.execute(
            select(Enrollment.student_id, SchoolClass.name, SchoolClass.period)
            .join(SchoolClass, SchoolClass.id == Enrollment.class_id)
            .where(Enrollment.class_id.in_([c.id for c in classes]))
        )
        for student_id, name, period in rows:
            label = f"{name} (period {period})" if period else name
            by_student.setdefault(student_id, []).append(label)
    plans = services.day_plans(school.id, day, by_student.keys()) if by_student else {}
    unusual = {sid: p for sid, p in plans.items() if p.source in ("change", "absence")}
    if not unusual:
        return []
    students = db.session.scalars(
        select(Student)
        .where(Student.id.in_(list(unusual)), Student.active.is_(True))
        .order_by(Student.last_name, Student.first_name, Student.id)
    ).all()
    families = plan_families(unusual.values())
    return [
        TeacherStudentPlan(
            s, sorted(by_student[s.id]), unusual[s.id], families.get(unusual[s.id].family_id)
        )
        for s in students
    ]


def may_view_plan(school: School, user: User, roles: frozenset[str], student: Student) -> None:
    """Office and admin see every plan; a teacher only those of students they teach."""
    if roles & {"admin", "office"}:
        return
    if "teacher" in roles and student.id in teacher_students(school, user):
        return
    raise Forbidden("This student is not in one of your classes.")

"""Roll at the assembly area: each teacher's class list, the marks, and the school's count.

A student's group is the class they were in when the event started (the bell schedule's
period then, as the teacher tablet reads it); a student with no class then is listed
apart ("no class now"), and so is a student the car line says is away today (absent,
early pickup), who is not expected. A teacher may add a student from another group to
theirs: the mark then carries the teacher's class.

Marks are idempotent and safe out of order: each carries the client's key (a retry is
done once) and the time of the tap; an older tap that reaches the server late never
overrides a newer mark, and nothing overrides "released" (the UPDATE says so itself).

Why one module: roll marks and the counts they feed (the command view, the time to
full accounting, per group) share the same rules for who is accounted for; kept with
them so the counts and the marks cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from shared import audit, live
from shared.access import school_record
from shared.audit import Actor
from shared.contributions import contributions
from shared.database import upsert_insert
from shared.emergencies import TOPIC
from shared.emergency_models import (
    MARK_LABELS,
    MAX_CLIENT_KEY_LENGTH,
    WITH_STAFF_LENGTH,
    EmergencyEvent,
    EmergencyReceipt,
    GroupAccounted,
    MarkStatus,
    RollMark,
)
from shared.errors import Conflict, InvalidInput
from shared.extensions import db
from shared.formats import format_time
from shared.models import Enrollment, School, SchoolClass, Student
from shared.schedule import current_period, teacher_classes
from shared.timeutil import utcnow

#: What a teacher may mark (released is the release gate's alone).
ROLL_STATUSES = (
    MarkStatus.PRESENT,
    MarkStatus.MISSING,
    MarkStatus.INJURED,
    MarkStatus.WITH_STAFF,
)
ACCOUNTED = {MarkStatus.PRESENT, MarkStatus.INJURED, MarkStatus.WITH_STAFF, MarkStatus.RELEASED}


def groups_at_start(school: School, event: EmergencyEvent) -> list[SchoolClass]:
    """The classes meeting when the event started (every active class without a schedule)."""
    period = current_period(school, event.started_at)
    query = select(SchoolClass).where(
        SchoolClass.school_id == school.id, SchoolClass.active.is_(True)
    )
    if period is not None:
        query = query.where(SchoolClass.period == period.name)
    return list(db.session.scalars(query.order_by(SchoolClass.name, SchoolClass.id)))


def teacher_groups(school: School, user_id: int, event: EmergencyEvent) -> list[SchoolClass]:
    """The teacher's classes, the one meeting at the event's start first."""
    period = current_period(school, event.started_at)
    classes = teacher_classes(school, user_id)
    in_session = [c for c in classes if period is not None and c.period == period.name]
    return in_session + [c for c in classes if c not in in_session]


@dataclass
class Row:
    """One student on a roll list."""

    student: Student
    mark: RollMark | None
    out_on_pass: bool
    #: The student is marked with another group (its name).
    elsewhere: str | None = None
    away: str | None = None

    @property
    def state(self) -> str:
        return self.mark.status if self.mark is not None else "unmarked"


def _marks(event: EmergencyEvent) -> dict[int, RollMark]:
    return {
        m.student_id: m
        for m in db.session.scalars(select(RollMark).where(RollMark.event_id == event.id))
    }


def class_roll(school: School, event: EmergencyEvent, section: SchoolClass) -> list[Row]:
    """The class's students, then those another group's teacher added to this one."""
    marks = _marks(event)
    enrolled = list(
        db.session.scalars(
            select(Student)
            .join(Enrollment, Enrollment.student_id == Student.id)
            .where(Enrollment.class_id == section.id, Student.active.is_(True))
            .order_by(Student.last_name, Student.first_name, Student.id)
        )
    )
    ids = {s.id for s in enrolled}
    added = [
        m.student
        for m in marks.values()
        if m.class_id == section.id and m.student_id not in ids and m.student.active
    ]
    out = set(event.out_on_pass or [])
    away = _away(school, event)
    rows = []
    for student in enrolled + sorted(added, key=lambda s: (s.last_name, s.first_name)):
        mark = marks.get(student.id)
        elsewhere = None
        if mark is not None and mark.class_id not in (None, section.id):
            elsewhere = mark.school_class.name if mark.school_class else _("another group")
        rows.append(Row(student, mark, student.id in out, elsewhere, away.get(student.id)))
    return rows


def _away(school: School, event: EmergencyEvent) -> dict[int, str]:
    away: dict[int, str] = {}
    for students_away in contributions().students_away:
        for student_id, why in students_away(school, event.started_at).items():
            away.setdefault(student_id, why)
    return away


def _client_key(key: str | None) -> str:
    key = (key or "").strip()
    if not key or len(key) > MAX_CLIENT_KEY_LENGTH:
        raise InvalidInput(_("This write has no valid client key. Reload the page."))
    return key


def _tap_time(event: EmergencyEvent, at_ms: str | int | None, now: datetime) -> datetime:
    """When the tap happened (the phone's clock, in ms), kept within the event and now."""
    try:
        at = datetime.fromtimestamp(int(at_ms) / 1000, tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return now
    return min(max(at, event.started_at), now)


def claim_key(event: EmergencyEvent, key: str | None) -> bool:
    """Record a write's client key; False when it was done already (a retry)."""
    try:
        with db.session.begin_nested():
            db.session.add(EmergencyReceipt(event_id=event.id, key=_client_key(key)))
            db.session.flush()
    except IntegrityError:
        return False
    return True


@dataclass
class Marked:
    """A mark's outcome: the mark as it stands, and whether this write changed it."""

    mark: RollMark
    changed: bool
    note: str = ""


def mark_student(
    school: School,
    actor: Actor,
    event: EmergencyEvent,
    *,
    student_id: object,
    status: str | None,
    class_id: object = None,
    with_staff: str | None = None,
    key: str | None,
    at_ms: str | int | None = None,
    now: datetime | None = None,
) -> Marked:
    """Mark a student present, missing, injured or with another staff member."""
    now = now or utcnow()
    if event.ended_at is not None:
        raise Conflict(_("This event has ended: the roll is closed."))
    student = school_record(Student, student_id, school.id, _("No such student at this school."))
    if status not in ROLL_STATUSES:
        raise InvalidInput(_("Mark the student present, missing, injured or with another staff."))
    section = None
    if class_id not in (None, ""):
        section = school_record(
            SchoolClass, class_id, school.id, _("No such class at this school.")
        )
    who = " ".join((with_staff or "").split()) or None
    if status == MarkStatus.WITH_STAFF and who is None:
        raise InvalidInput(_("Say which staff member the student is with."), field="with_staff")
    if who is not None and len(who) > WITH_STAFF_LENGTH:
        raise InvalidInput(
            _("At most %(num)d characters.", num=WITH_STAFF_LENGTH), field="with_staff"
        )
    if status != MarkStatus.WITH_STAFF:
        who = None
    fresh = claim_key(event, key)
    existing = _mark_of(event, student.id)
    if not fresh:
        if existing is None:  # the first try was refused: this retry is a new attempt
            raise Conflict(_("This mark was already sent and refused. Mark the student again."))
        return Marked(existing, False, _("Already received."))
    tapped = _tap_time(event, at_ms, now)
    values = {
        "status": status,
        "class_id": section.id if section else None,
        "with_staff": who,
        "marked_by_id": actor.user.id if actor.user else None,
        "marked_by_label": actor.audit_label[:254],
        "marked_at": tapped,
    }
    changed = False
    if existing is None:
        try:
            with db.session.begin_nested():
                db.session.add(RollMark(event_id=event.id, student_id=student.id, **values))
                db.session.flush()
            changed = True
        except IntegrityError:
            pass  # marked meanwhile by someone else: the UPDATE below decides
    if not changed:
        changed = (
            db.session.execute(
                update(RollMark)
                .where(
                    RollMark.event_id == event.id,
                    RollMark.student_id == student.id,
                    RollMark.status != MarkStatus.RELEASED,
                    RollMark.marked_at <= tapped,
                )
                .values(**values)
                .execution_options(synchronize_session=False)
            ).rowcount
            == 1
        )
    mark = _mark_of(event, student.id, fresh=True)
    if not changed:
        if mark.status == MarkStatus.RELEASED:
            raise Conflict(
                _(
                    "%(name)s was released at %(time)s (%(by)s): the roll keeps them released.",
                    name=student.display_name,
                    time=format_time(mark.marked_at, school.timezone),
                    by=mark.marked_by_label,
                )
            )
        return Marked(mark, False, _("A newer mark was made meanwhile; it stands."))
    audit.record(
        "emergency.roll_mark",
        school_id=school.id,
        actor=actor,
        target=mark,
        detail={
            "event_id": event.id,
            "drill": event.drill,
            "student_id": student.id,
            "status": status,
            "class_id": values["class_id"],
            "with_staff": who,
            "late_seconds": int((now - tapped).total_seconds()),
        },
    )
    note_full_accounting(school, event, now)
    live.bump(school.id, TOPIC)
    return Marked(mark, True)


def _mark_of(event: EmergencyEvent, student_id: int, fresh: bool = False) -> RollMark | None:
    query = select(RollMark).where(RollMark.event_id == event.id, RollMark.student_id == student_id)
    if fresh:
        query = query.execution_options(populate_existing=True)
    return db.session.scalar(query)


def note_full_accounting(school: School, event: EmergencyEvent, now: datetime) -> None:
    """The first time every expected student is accounted for, the event records when
    (after a roll mark, and after a release: a student released straight from the
    request gate, never marked, is accounted for too); so does each group, the first
    time all of its students are. Once the school is, every group is too."""
    if event.fully_accounted_at is not None:
        return
    now_board = board(school, event)
    _note_groups_accounted(event, now_board, now)
    if now_board.school.expected_left == 0:
        db.session.execute(
            update(EmergencyEvent)
            .where(EmergencyEvent.id == event.id, EmergencyEvent.fully_accounted_at.is_(None))
            .values(fully_accounted_at=now)
            .execution_options(synchronize_session=False)
        )
        event.fully_accounted_at = now


def _note_groups_accounted(event: EmergencyEvent, now_board: Board, now: datetime) -> None:
    """Record the groups whose students are all accounted for now, once each (the
    unique key keeps the first time when two phones finish a group at once)."""
    recorded = set(
        db.session.scalars(
            select(GroupAccounted.class_id).where(GroupAccounted.event_id == event.id)
        )
    )
    done = [
        t.group_id
        for t in now_board.groups
        if t.group_id is not None and t.total and not t.expected_left and t.group_id not in recorded
    ]
    if done:
        insert = upsert_insert(db.session.get_bind().dialect.name)
        db.session.execute(
            insert(GroupAccounted)
            .values([{"event_id": event.id, "class_id": g, "accounted_at": now} for g in done])
            .on_conflict_do_nothing(index_elements=["event_id", "class_id"])
        )


@dataclass(frozen=True)
class GroupTime:
    """A group fully accounted for: when, and how many minutes after the start."""

    class_id: int
    name: str
    at: datetime
    minutes: float


def group_times(event: EmergencyEvent) -> list[GroupTime]:
    """Each group fully accounted for, fastest first."""
    rows = db.session.scalars(
        select(GroupAccounted)
        .where(GroupAccounted.event_id == event.id)
        .options(joinedload(GroupAccounted.school_class))
        .order_by(GroupAccounted.accounted_at, GroupAccounted.id)
    )
    return [
        GroupTime(
            row.class_id,
            row.school_class.name,
            row.accounted_at,
            (row.accounted_at - event.started_at) / timedelta(minutes=1),
        )
        for row in rows
    ]


# ------------------------------------------------------------------ the command view


@dataclass
class Tally:
    """Counts for one group or the whole school."""

    name: str
    #: The group's class (None for the school and for "no class now").
    group_id: int | None = None
    total: int = 0
    accounted: int = 0
    missing: int = 0
    injured: int = 0
    released: int = 0
    unmarked: int = 0
    missing_names: list[str] = field(default_factory=list)
    injured_names: list[str] = field(default_factory=list)
    unmarked_names: list[str] = field(default_factory=list)

    @property
    def expected_left(self) -> int:
        """Students not yet accounted for (missing or not marked)."""
        return self.missing + self.unmarked

    def count(self, student: Student, mark: RollMark | None) -> None:
        self.total += 1
        status = mark.status if mark is not None else None
        if status in ACCOUNTED:
            self.accounted += 1
        if status == MarkStatus.MISSING:
            self.missing += 1
            self.missing_names.append(student.display_name)
        elif status == MarkStatus.INJURED:
            self.injured += 1
            self.injured_names.append(student.display_name)
        elif status == MarkStatus.RELEASED:
            self.released += 1
        elif status is None:
            self.unmarked += 1
            self.unmarked_names.append(student.display_name)


@dataclass
class Board:
    """The command view: the school, each group, the students apart and those away."""

    school: Tally
    groups: list[Tally]
    no_class: Tally
    away: list[tuple[Student, str, RollMark | None]]


def home_groups(groups: list[SchoolClass]) -> dict[int, int]:
    """Each student's class among `groups` (those meeting at the start), by student id."""
    home: dict[int, int] = {}
    if not groups:
        return home
    for student_id, class_id in db.session.execute(
        select(Enrollment.student_id, Enrollment.class_id)
        .where(Enrollment.class_id.in_([g.id for g in groups]))
        .order_by(Enrollment.class_id)
    ):
        home.setdefault(student_id, class_id)
    return home


def group_of(student_id: int, mark: RollMark | None, home: dict[int, int]) -> int | None:
    """The group a student is with: the one their roll mark places them in (a teacher
    added them), else their class at the start. The command view counts them there and
    the runners of that area fetch them."""
    if mark is not None and mark.class_id:
        return mark.class_id
    return home.get(student_id)


def board(school: School, event: EmergencyEvent) -> Board:
    """Who is accounted for, missing, injured and released, by group and for the school.

    A student counts in the group their mark places them in, else in the class they were
    in at the start, else under "no class now"; a student away today is listed apart
    (and counted only if someone marked them, so a student who came back is seen).
    """
    marks = _marks(event)
    groups = groups_at_start(school, event)
    home = home_groups(groups)
    tallies = {g.id: Tally(g.name, g.id) for g in groups}
    names = {g.id: g.name for g in groups}
    whole = Tally(_("School"))
    no_class = Tally(_("No class now"))
    away_list = []
    away = _away(school, event)
    students = db.session.scalars(
        select(Student)
        .where(Student.school_id == school.id, Student.active.is_(True))
        .order_by(Student.last_name, Student.first_name, Student.id)
    )
    for student in students:
        mark = marks.get(student.id)
        if student.id in away:
            away_list.append((student, away[student.id], mark))
            if mark is None:
                continue
        group_id = group_of(student.id, mark, home)
        if group_id is not None and group_id not in tallies and mark is not None:
            cls = mark.school_class
            tallies[group_id] = Tally(cls.name if cls else _("Another group"), group_id)
            names[group_id] = tallies[group_id].name
        tally = tallies.get(group_id, no_class) if group_id is not None else no_class
        tally.count(student, mark)
        whole.count(student, mark)
    ordered = sorted(tallies.values(), key=lambda t: (-t.expected_left, t.name))
    return Board(whole, ordered, no_class, away_list)


def minutes_to_full_accounting(event: EmergencyEvent) -> float | None:
    if event.fully_accounted_at is None:
        return None
    return (event.fully_accounted_at - event.started_at) / timedelta(minutes=1)


def summary_of(school: School, event: EmergencyEvent) -> dict:
    """The counts an event ends with (kept on the event and in the audit log)."""
    tally = board(school, event).school
    return {
        "students": tally.total,
        "accounted": tally.accounted,
        "missing": tally.missing,
        "injured": tally.injured,
        "released": tally.released,
        "not_marked": tally.unmarked,
        "minutes_to_full_accounting": minutes_to_full_accounting(event),
    }


MARK_CHOICES = [(s.value, MARK_LABELS[s]) for s in ROLL_STATUSES]

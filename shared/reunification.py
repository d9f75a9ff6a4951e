"""Reunification: the request gate, the runners' queue and the release gate.

At the request gate staff find a student (name, student number, or an adult's name),
see who may take them with every custody or "do not release" note (the contributed
`ReleaseSource`: the car line's families), and record the adult's name as on the ID,
the relationship and what ID was checked (never a copy). An adult not on the list is
refused, and the refusal recorded, unless an administrator overrides with a reason.
Siblings are asked for together. A waiting request goes to the runners' queue (all of
it, or a runner's area: the groups they fetch from, by where the roll saw the student);
the release gate hands the student over.

A student is released at most once per event: the release row's unique constraint holds
it, so of two gates releasing at once exactly one succeeds and the other is told by whom
and when. The release also marks the roll "released", which no later roll mark changes.

Why one module: the request gate, the runners' queue and the release gate are one
flow over the same requests, and the once-only release rule is read with all three.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime

from flask_babel import gettext as _
from flask_babel import lazy_gettext
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from shared import audit, emergency_roll, live
from shared.access import school_record
from shared.audit import Actor
from shared.contributions import ReleaseList, contributions
from shared.emergencies import TOPIC
from shared.emergency_models import (
    ADULT_NAME_LENGTH,
    GROUP_KEY_LENGTH,
    ID_CHECK_LENGTH,
    REASON_LENGTH,
    RELATIONSHIP_LENGTH,
    EmergencyEvent,
    EmergencyRelease,
    MarkStatus,
    RequestStatus,
    ReunificationRequest,
    RollMark,
)
from shared.emergency_roll import claim_key
from shared.errors import Conflict, Forbidden, InvalidInput
from shared.extensions import db
from shared.formats import format_time
from shared.models import School, SchoolClass, Student
from shared.students import search_students
from shared.timeutil import utcnow

#: What the request gate offers as the ID check (the staff member may type another).
#: They are recorded as they are here (the report's CSV, the audit log): a page names them
#: in its reader's language (`recorded_text`).
ID_CHECKS = ("Driver's licence", "State ID card", "Passport", "Other photo ID", "Known to staff")
#: The refusal recorded when the adult is not on the list (and nobody overrode it).
NOT_ON_LIST = "Not on the list of adults who may take the student."
#: What the service records in words, as pages name it.
RECORDED_LABELS = {
    "Driver's licence": lazy_gettext("Driver's licence"),
    "State ID card": lazy_gettext("State ID card"),
    "Passport": lazy_gettext("Passport"),
    "Other photo ID": lazy_gettext("Other photo ID"),
    "Known to staff": lazy_gettext("Known to staff"),
    NOT_ON_LIST: lazy_gettext("Not on the list of adults who may take the student."),
}
LOOKUP_LIMIT = 30


def recorded_text(value: str | None) -> str:
    """An ID check or a refusal as recorded, in the reader's language when the service
    wrote it (an ID check offered, "not on the list"); what staff typed stays as typed."""
    label = RECORDED_LABELS.get(value or "")
    return str(label) if label is not None else (value or "")


def who_may_take(student: Student) -> ReleaseList:
    """Every contributed list of who may take `student`, merged."""
    merged = ReleaseList()
    for source in contributions().release_sources:
        found = source.who_may_take(student)
        merged.adults.extend(found.adults)
        merged.notes.extend(found.notes)
        merged.sibling_ids.extend(i for i in found.sibling_ids if i not in merged.sibling_ids)
    return merged


def lookup(school: School, text: str) -> list[Student]:
    """Students by name or number, and the students of adults whose name matches."""
    found = search_students(school, text, limit=LOOKUP_LIMIT)
    ids = {s.id for s in found}
    by_adult = [
        i for s in contributions().release_sources for i in s.students_of_adult(school, text)
    ]
    extra = [i for i in dict.fromkeys(by_adult) if i not in ids]
    if extra:
        found += list(
            db.session.scalars(
                select(Student).where(
                    Student.id.in_(extra), Student.school_id == school.id, Student.active.is_(True)
                )
            )
        )
    return found[:LOOKUP_LIMIT]


def release_of(event: EmergencyEvent, student_id: int) -> EmergencyRelease | None:
    return db.session.scalar(
        select(EmergencyRelease).where(
            EmergencyRelease.event_id == event.id, EmergencyRelease.student_id == student_id
        )
    )


def waiting_request(event: EmergencyEvent, student_id: int) -> ReunificationRequest | None:
    return db.session.scalar(
        select(ReunificationRequest).where(
            ReunificationRequest.event_id == event.id,
            ReunificationRequest.student_id == student_id,
            ReunificationRequest.status == RequestStatus.WAITING,
        )
    )


def _text(value: str | None, label: str, length: int, name: str, *, required=True) -> str:
    cleaned = " ".join((value or "").split())
    if required and not cleaned:
        raise InvalidInput(_("%(label)s: required.", label=label), field=name)
    if len(cleaned) > length:
        raise InvalidInput(
            _("%(label)s: at most %(num)d characters.", label=label, num=length), field=name
        )
    return cleaned


def _normal(name: str) -> str:
    return " ".join(name.casefold().split())


@dataclass
class Requested:
    """What the request gate did, student by student."""

    queued: list[ReunificationRequest] = field(default_factory=list)
    refused: list[ReunificationRequest] = field(default_factory=list)
    #: Students not queued again, with why (already released or already asked for).
    skipped: list[tuple[Student, str]] = field(default_factory=list)


def _answered_before(event: EmergencyEvent, key: str) -> Requested:
    """What one gate form recorded, found by its client key (requests keep it)."""
    done = Requested()
    for request in db.session.scalars(
        select(ReunificationRequest)
        .where(ReunificationRequest.event_id == event.id, ReunificationRequest.group_key == key)
        .order_by(ReunificationRequest.id)
    ):
        (done.refused if request.status == RequestStatus.REFUSED else done.queued).append(request)
    return done


def request_students(
    school: School,
    actor: Actor,
    event: EmergencyEvent,
    *,
    student_ids: list[object],
    listed_as: str | None,
    adult_name: str | None,
    relationship: str | None,
    id_check: str | None,
    override_reason: str | None = None,
    may_override: bool = False,
    refusal: str | None = None,
    key: str | None = None,
    now: datetime | None = None,
) -> Requested:
    """Ask for a student (and siblings) for an adult whose ID was checked.

    Each student is checked on their own list: an adult not on it is refused (recorded)
    unless an administrator gives a reason to override. `refusal` refuses outright (a
    "do not release" note, an ID that does not match), with the staff member's words.

    `key` is the gate form's client key: the same form sent again (a double tap, a retry
    on a bad connection) records nothing more and gets the first answer back.
    """
    now = now or utcnow()
    if event.ended_at is not None:
        raise Conflict(_("This event has ended."))
    name = _text(adult_name, _("The adult's name as on the ID"), ADULT_NAME_LENGTH, "adult_name")
    relation = _text(relationship, _("Relationship"), RELATIONSHIP_LENGTH, "relationship")
    checked = _text(id_check, _("ID checked"), ID_CHECK_LENGTH, "id_check")
    reason = _text(
        override_reason, _("Override reason"), REASON_LENGTH, "override_reason", required=False
    )
    refused_why = _text(refusal, _("Refusal reason"), REASON_LENGTH, "refusal", required=False)
    if reason and not may_override:
        raise Forbidden(_("Only an administrator may release to an adult who is not on the list."))
    students = [school_record(Student, i, school.id, _("No such student.")) for i in student_ids]
    if not students:
        raise InvalidInput(_("Choose the student to ask for."))
    if key is not None:
        if len(key) > GROUP_KEY_LENGTH:
            raise InvalidInput(_("This write has no valid client key. Reload the page."))
        if not claim_key(event, key):
            return _answered_before(event, key)
        group_key = key  # the requests of one form, siblings together, found by its key
    else:
        group_key = f"{event.id}-{students[0].id}-{int(now.timestamp())}"
    done = Requested()
    for student in dict.fromkeys(students):
        released = release_of(event, student.id)
        if released is not None:
            done.skipped.append((student, _released_message(school, released)))
            continue
        if waiting_request(event, student.id) is not None:
            done.skipped.append(
                (student, _("%(name)s is already asked for.", name=student.display_name))
            )
            continue
        names = {_normal(a.name): a.name for a in who_may_take(student).adults}
        match = names.get(_normal(listed_as or ""))
        status = RequestStatus.WAITING
        why = refused_why or None
        if why:
            status = RequestStatus.REFUSED
        elif match is None and not reason:
            status = RequestStatus.REFUSED
            why = NOT_ON_LIST
        request = ReunificationRequest(
            event_id=event.id,
            student_id=student.id,
            group_key=group_key,
            adult_name=name,
            relationship_to_student=relation,
            id_check=checked,
            listed_as=match,
            override_reason=reason if match is None and status == RequestStatus.WAITING else None,
            override_by_label=actor.audit_label[:254] if match is None and reason else None,
            status=status,
            refusal=why,
            requested_at=now,
            requested_by_label=actor.audit_label[:254],
        )
        try:
            with db.session.begin_nested():
                db.session.add(request)
                db.session.flush()
        except IntegrityError:
            done.skipped.append(
                (student, _("%(name)s is already asked for.", name=student.display_name))
            )
            continue
        (done.queued if status == RequestStatus.WAITING else done.refused).append(request)
        audit.record(
            "emergency.reunify_request",
            school_id=school.id,
            actor=actor,
            target=request,
            detail={
                "event_id": event.id,
                "drill": event.drill,
                "student_id": student.id,
                "status": status,
                "adult_name": name,
                "relationship": relation,
                "id_check": checked,
                "listed": match is not None,
                "override_reason": request.override_reason,
                "refusal": why,
            },
        )
    live.bump(school.id, TOPIC)
    return done


def _released_message(school: School, release: EmergencyRelease) -> str:
    request = release.request
    return _(
        "%(name)s was already released to %(adult)s by %(by)s at %(time)s.",
        name=release.student.display_name,
        adult=request.adult_name,
        by=release.released_by_label,
        time=format_time(release.released_at, school.timezone),
    )


@dataclass(frozen=True)
class Waiting:
    """A student asked for, as the runners see them: the request, the roll's last mark,
    and the group they are with (a runner's area is a few groups)."""

    request: ReunificationRequest
    mark: RollMark | None
    group: SchoolClass | None


def queue(
    school: School, event: EmergencyEvent, area: Collection[int] | None = None
) -> list[Waiting]:
    """The waiting requests, oldest first, each with where the roll last saw the student;
    with `area` (class ids), only the students with one of those groups."""
    rows = db.session.execute(
        select(ReunificationRequest, RollMark)
        .outerjoin(
            RollMark,
            (RollMark.event_id == ReunificationRequest.event_id)
            & (RollMark.student_id == ReunificationRequest.student_id),
        )
        .where(
            ReunificationRequest.event_id == event.id,
            ReunificationRequest.status == RequestStatus.WAITING,
        )
        .order_by(ReunificationRequest.requested_at, ReunificationRequest.id)
    ).all()
    groups = {g.id: g for g in emergency_roll.groups_at_start(school, event)}
    home = emergency_roll.home_groups(list(groups.values()))
    waiting = []
    for request, mark in rows:
        group_id = emergency_roll.group_of(request.student_id, mark, home)
        if area and group_id not in area:
            continue
        group = mark.school_class if mark is not None and mark.class_id == group_id else None
        waiting.append(Waiting(request, mark, group or groups.get(group_id)))
    return waiting


def release(
    school: School,
    actor: Actor,
    event: EmergencyEvent,
    *,
    request_id: object,
    key: str | None = None,
    now: datetime | None = None,
) -> EmergencyRelease:
    """Hand the student of a waiting request to its adult: once, whatever the gates do.

    `key` is the release form's client key: the same form sent again (a retry on a bad
    connection) gets its own release back; any other second release is refused.
    """
    now = now or utcnow()
    if event.ended_at is not None:
        raise Conflict(_("This event has ended."))
    request = db.session.get(ReunificationRequest, _id(request_id))
    if request is None or request.event_id != event.id:
        raise Conflict(_("No such request in this event."))
    fresh = claim_key(event, key) if key else True
    earlier = release_of(event, request.student_id)
    if earlier is not None:
        if not fresh and earlier.request_id == request.id:
            return earlier  # this very form was already answered: the same release
        raise Conflict(_released_message(school, earlier))
    if request.status == RequestStatus.REFUSED:
        raise Conflict(_("This request was refused: %(why)s", why=recorded_text(request.refusal)))
    released = EmergencyRelease(
        event_id=event.id,
        student_id=request.student_id,
        request_id=request.id,
        released_at=now,
        released_by_label=actor.audit_label[:254],
    )
    try:
        with db.session.begin_nested():
            db.session.add(released)
            db.session.flush()
    except IntegrityError:
        db.session.expire_all()
        earlier = release_of(event, request.student_id)
        raise Conflict(
            _released_message(school, earlier) if earlier else _("Already released.")
        ) from None
    db.session.execute(
        update(ReunificationRequest)
        .where(ReunificationRequest.id == request.id)
        .values(status=RequestStatus.RELEASED)
        .execution_options(synchronize_session=False)
    )
    _mark_released(event, request, actor, now)
    emergency_roll.note_full_accounting(school, event, now)
    audit.record(
        "emergency.release",
        school_id=school.id,
        actor=actor,
        target=released,
        detail={
            "event_id": event.id,
            "drill": event.drill,
            "student_id": request.student_id,
            "adult_name": request.adult_name,
            "relationship": request.relationship_to_student,
            "id_check": request.id_check,
            "override_reason": request.override_reason,
        },
    )
    live.bump(school.id, TOPIC)
    return released


def _id(value: object) -> int | None:
    text = str(value or "").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) < 12 else None


def _mark_released(event: EmergencyEvent, request, actor: Actor, now: datetime) -> None:
    """The roll says "released" from now on (no later roll mark changes it)."""
    values = {
        "status": MarkStatus.RELEASED,
        "marked_by_id": actor.user.id if actor.user else None,
        "marked_by_label": actor.audit_label[:254],
        "marked_at": now,
    }
    changed = db.session.execute(
        update(RollMark)
        .where(RollMark.event_id == event.id, RollMark.student_id == request.student_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed:
        return
    try:
        with db.session.begin_nested():
            db.session.add(RollMark(event_id=event.id, student_id=request.student_id, **values))
            db.session.flush()
    except IntegrityError:  # a roll mark came in meanwhile: released wins
        db.session.execute(
            update(RollMark)
            .where(RollMark.event_id == event.id, RollMark.student_id == request.student_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )


def releases(event: EmergencyEvent) -> list[EmergencyRelease]:
    """Every release of the event, in order (the report)."""
    return list(
        db.session.scalars(
            select(EmergencyRelease)
            .where(EmergencyRelease.event_id == event.id)
            .order_by(EmergencyRelease.released_at, EmergencyRelease.id)
        )
    )


def refusals(event: EmergencyEvent) -> list[ReunificationRequest]:
    return list(
        db.session.scalars(
            select(ReunificationRequest)
            .where(
                ReunificationRequest.event_id == event.id,
                ReunificationRequest.status == RequestStatus.REFUSED,
            )
            .order_by(ReunificationRequest.requested_at)
        )
    )

"""Families and their hang tags: who may pick up which students, and the tag that calls them.

A family (or a carpool) has a tag number unique in its school, the students on its tag
and the adults allowed to pick them up. A printed hang tag carries an opaque token in
its QR code; issuing a new tag revokes the previous one, and a deactivated family's tag
stops working at the curb. Plain functions: they flush and never commit, audit every
write and raise `shared.errors.DomainError` on a broken rule.

Why one module: a family and its tag are one record to the office (the family screen edits
both, a lost tag's new number is the family's), and every function here is a write on
that record with its audit. Guardians (`carline.guardians`), carpools (`carline.carpools`)
and who may pick up (`carline.pickup`) already live apart; the tags' own block list would
be the next room if it grows.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import Select, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from carline.models import BlockedTagNumber, Tag
from carline.recording import TOPIC, record
from shared import audit, live
from shared.access import of_school
from shared.audit import Actor
from shared.errors import Conflict, InvalidInput, NotFound
from shared.extensions import db
from shared.models import Family, School, Student, family_students
from shared.students import like_contains, matches_words, search_text
from shared.timeutil import utcnow

MAX_TAG_NUMBER = 999_999
PICKUP_ADULTS_LENGTH = 2000
#: Most families (and students to add) a search shows.
SEARCH_LIMIT = 50


def _tag_number(tag_number: int, field: str = "tag_number") -> int:
    if not 1 <= tag_number <= MAX_TAG_NUMBER:
        raise InvalidInput(
            _("Tag number: a whole number from 1 to %(max)d.", max=MAX_TAG_NUMBER), field=field
        )
    return tag_number


#: Longest reason the office may give for blocking a tag number.
BLOCK_REASON_LENGTH = 200


def blocked_number(school: School, tag_number: int) -> BlockedTagNumber | None:
    """The block on this tag number of the school, if the office blocked it."""
    return db.session.scalar(
        select(BlockedTagNumber).where(
            BlockedTagNumber.school_id == school.id, BlockedTagNumber.tag_number == tag_number
        )
    )


def _free_tag_number(school: School, tag_number: int, family: Family | None) -> None:
    if blocked_number(school, tag_number) is not None:
        raise Conflict(
            _("Tag %(number)s is blocked (a lost tag): choose another number.", number=tag_number),
            field="tag_number",
        )
    taken = db.session.scalar(
        select(Family.id).where(Family.school_id == school.id, Family.tag_number == tag_number)
    )
    if taken is not None and (family is None or taken != family.id):
        raise Conflict(
            _("Tag %(number)s already belongs to another family.", number=tag_number),
            field="tag_number",
        )


def _adults(text: str | None) -> str:
    lines = [" ".join(line.split()) for line in (text or "").splitlines()]
    cleaned = "\n".join(line for line in lines if line)
    if len(cleaned) > PICKUP_ADULTS_LENGTH:
        raise InvalidInput(
            ngettext(
                "Authorized adults: at most %(num)d character.",
                "Authorized adults: at most %(num)d characters.",
                PICKUP_ADULTS_LENGTH,
            ),
            field="pickup_adults",
        )
    return cleaned


def _note(text: str) -> str:
    cleaned = "\n".join(line.strip() for line in text.strip().splitlines())
    if len(cleaned) > PICKUP_ADULTS_LENGTH:
        raise InvalidInput(
            ngettext(
                "Release note: at most %(num)d character.",
                "Release note: at most %(num)d characters.",
                PICKUP_ADULTS_LENGTH,
            ),
            field="release_note",
        )
    return cleaned


def next_tag_number(school: School) -> int:
    """The tag number after the highest in use or blocked (a suggestion for a new family)."""
    highest = db.session.scalar(
        select(func.max(Family.tag_number)).where(Family.school_id == school.id)
    )
    highest_blocked = db.session.scalar(
        select(func.max(BlockedTagNumber.tag_number)).where(BlockedTagNumber.school_id == school.id)
    )
    return max(highest or 0, highest_blocked or 0) + 1


def create_family(
    school: School, actor: Actor, *, tag_number: int, pickup_adults: str = ""
) -> Family:
    """Add a family (or carpool) with a tag number unique in the school."""
    number = _tag_number(tag_number)
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
        actor=actor,
    )
    return family


def update_family(
    school: School,
    actor: Actor,
    family: Family,
    *,
    tag_number: int,
    pickup_adults: str,
    release_note: str | None = None,
) -> Family:
    """Change a family's tag number, its authorized pickup adults or its release note
    (None keeps the note)."""
    of_school(family, school.id, _("No such family."))
    number = _tag_number(tag_number)
    adults = _adults(pickup_adults)
    note = family.release_note if release_note is None else _note(release_note)
    _free_tag_number(school, number, family)
    before = family.tag_number
    adults_changed = adults != family.pickup_adults
    note_changed = note != (family.release_note or "")
    family.tag_number, family.pickup_adults, family.release_note = number, adults, note
    db.session.flush()
    audit.record(
        "carline.family_update",
        school_id=school.id,
        target=family,
        detail={
            "tag_number": [before, number],
            "pickup_adults_changed": adults_changed,
            "release_note_changed": note_changed,
        },
        actor=actor,
    )
    live.bump(school.id, TOPIC)
    return family


def set_family_active(school: School, actor: Actor, family: Family, active: bool) -> Family:
    """Deactivate a family (its tag stops working at the curb) or bring it back."""
    of_school(family, school.id, _("No such family."))
    if family.active == active:
        return family
    family.active = active
    db.session.flush()
    audit.record(
        "carline.family_activate" if active else "carline.family_deactivate",
        school_id=school.id,
        target=family,
        detail={"tag_number": family.tag_number},
        actor=actor,
    )
    live.bump(school.id, TOPIC)
    return family


def _family_students_changed(
    school: School, actor: Actor, action: str, family: Family, student: Student
) -> None:
    """Flush a change of who is on the family's tag, audit it and bump the car line."""
    db.session.flush()
    audit.record(
        action,
        school_id=school.id,
        target=family,
        detail={"student_id": student.id, "tag_number": family.tag_number},
        actor=actor,
    )
    live.bump(school.id, TOPIC)


def add_family_student(school: School, actor: Actor, family: Family, student: Student) -> None:
    """Put a student of this school on the family's tag (a student may be on several)."""
    of_school(family, school.id, _("No such family."))
    of_school(student, school.id, _("No such student."))
    if not student.active:
        raise InvalidInput(_("This student has left the roster."), field="student_id")
    if student in family.students:
        raise Conflict(_("This student is already on this tag."), field="student_id")
    family.students.append(student)
    _family_students_changed(school, actor, "carline.family_student_add", family, student)


def remove_family_student(school: School, actor: Actor, family: Family, student: Student) -> None:
    """Take a student off the family's tag."""
    of_school(family, school.id, _("No such family."))
    of_school(student, school.id, _("No such student."))
    if student not in family.students:
        raise NotFound(_("This student is not on this tag."))
    family.students.remove(student)
    _family_students_changed(school, actor, "carline.family_student_remove", family, student)


def live_tag(family: Family) -> Tag | None:
    """The family's tag that works at the curb, if one was issued."""
    return db.session.scalar(
        select(Tag).where(Tag.family_id == family.id, Tag.revoked_at.is_(None))
    )


def issue_tag(school: School, family: Family, *, actor: Actor) -> Tag:
    """Print a new hang tag for the family; its previous tag stops working."""
    of_school(family, school.id, _("No such family."))
    db.session.scalar(
        select(Family.id).where(Family.id == family.id).with_for_update(key_share=True)
    )
    now = utcnow()
    revoked = db.session.execute(
        update(Tag)
        .where(Tag.family_id == family.id, Tag.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session="fetch")
    ).rowcount
    tag = Tag(family_id=family.id, created_at=now)
    db.session.add(tag)
    db.session.flush()
    record(
        "tag_issue",
        school,
        tag,
        actor=actor,
        tag_number=family.tag_number,
        revoked=revoked,
    )
    return tag


def replace_lost_tag(school: School, family: Family, *, actor: Actor) -> Tag:
    """A lost tag: its number is blocked, the family gets a new number and a new tag.

    Whoever finds the lost tag can neither scan it (its QR is refused as lost) nor type
    its number (blocked) to call the family's children. One transaction, audited.
    """
    of_school(family, school.id, _("No such family."))
    if not family.active:
        raise InvalidInput(_("Reactivate the family before printing its tag."))
    db.session.scalar(select(Family.id).where(Family.id == family.id).with_for_update())
    old_number = family.tag_number
    db.session.execute(
        update(Tag)
        .where(Tag.family_id == family.id, Tag.revoked_at.is_(None))
        .values(lost=True)
        .execution_options(synchronize_session="fetch")
    )
    _block(school, actor, old_number, "Lost tag")
    family.tag_number = next_tag_number(school)
    db.session.flush()
    tag = issue_tag(school, family, actor=actor)
    record(
        "tag_lost",
        school,
        family,
        actor=actor,
        old_tag_number=old_number,
        tag_number=family.tag_number,
    )
    return tag


def _block(school: School, actor: Actor, tag_number: int, reason: str) -> BlockedTagNumber:
    if blocked_number(school, tag_number) is not None:
        raise Conflict(
            _("Tag %(number)s is already blocked.", number=tag_number), field="tag_number"
        )
    block = BlockedTagNumber(
        school_id=school.id,
        tag_number=tag_number,
        reason=reason,
        blocked_by_id=actor.user.id if actor.user else None,
    )
    db.session.add(block)
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:
        raise Conflict(
            _("Tag %(number)s is already blocked.", number=tag_number), field="tag_number"
        ) from None
    return block


def block_tag_number(
    school: School, actor: Actor, tag_number: int, reason: str = ""
) -> BlockedTagNumber:
    """Block a tag number: the curb refuses it (typed or scanned), and it is never reissued.

    A family still holding the number is no longer called by it: give it a new number
    (`replace_lost_tag`).
    """
    number = _tag_number(tag_number)
    reason = " ".join((reason or "").split())
    if len(reason) > BLOCK_REASON_LENGTH:
        raise InvalidInput(
            ngettext(
                "Reason: at most %(num)d character.",
                "Reason: at most %(num)d characters.",
                BLOCK_REASON_LENGTH,
            ),
            field="reason",
        )
    block = _block(school, actor, number, reason)
    record("tag_number_block", school, block, actor=actor, tag_number=number, reason=reason)
    return block


def unblock_tag_number(school: School, actor: Actor, tag_number: int) -> None:
    """Lift the block on a tag number (found again, or blocked by mistake)."""
    block = blocked_number(school, _tag_number(tag_number))
    if block is None:
        raise NotFound(_("Tag %(number)s is not blocked.", number=tag_number))
    record("tag_number_unblock", school, block, actor=actor, tag_number=block.tag_number)
    db.session.delete(block)
    db.session.flush()


def blocked_numbers(school: School) -> list[BlockedTagNumber]:
    """The school's blocked tag numbers, in number order."""
    return list(
        db.session.scalars(
            select(BlockedTagNumber)
            .where(BlockedTagNumber.school_id == school.id)
            .order_by(BlockedTagNumber.tag_number)
        )
    )


def issue_missing_tags(school: School, actor: Actor, family_ids: list[int] | None = None) -> int:
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
        issue_tag(school, family, actor=actor)
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


def search_families(school: School, text: str) -> list[FamilyRow]:
    """Families whose tag number, student or pickup adult matches the text."""
    text = search_text(text)
    if not text:
        return []
    pattern = like_contains(text.lower())
    by_student = (
        select(family_students.c.family_id)
        .join(Student, Student.id == family_students.c.student_id)
        .where(Student.school_id == school.id, matches_words(text))
    )
    matches = or_(
        Family.id.in_(by_student),
        func.lower(Family.pickup_adults).like(pattern, escape="\\"),
    )
    if text.isascii() and text.isdigit():  # not '¹': int() refuses what isdigit() allows
        matches = or_(matches, Family.tag_number == int(text[:9]))
    query = (
        select(Family)
        .where(Family.school_id == school.id, matches)
        .order_by(Family.active.desc(), Family.tag_number)
        .limit(SEARCH_LIMIT)
    )
    return _family_rows(query)


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


#: Hang tags on one printed letter page (the print page's sheets and the PDF's pages).
TAGS_PER_PAGE = 4


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


def family_by_tag(school: School, tag_number: int | None) -> Family | None:
    """The family of this school with the tag number (None for no number)."""
    if tag_number is None:
        return None
    number = _tag_number(tag_number, "family_tag")
    family = db.session.scalar(
        select(Family).where(Family.school_id == school.id, Family.tag_number == number)
    )
    if family is None:
        raise InvalidInput(
            _("Tag %(number)s is not a tag of this school.", number=number), field="family_tag"
        )
    return family

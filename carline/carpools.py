"""Carpools: two families of a school who take each other's children home.

A carpool agreement (`carline.models.CarpoolAgreement`, one row per pair of families) is
set up by the office on the family screen, active at once, or proposed by a guardian on
the family page (by the other family's tag number) and confirmed by a guardian of the
other family, whose page shows the proposal. Either family, or the office, ends it;
asking again later reuses the pair's row. Only while it is active may a day's plan
send a child home with the other family (`check_ride`, read by `carline.plans`); ending
it takes back the plans from today on that sent a child of one family with the other.

A guardian sees the other family as the office names it, by its tag number, and nothing
else of it. The writes are conditional updates (`WHERE status = ...`) and an insert that
does nothing on the pair's unique key, so two guardians confirming at once, or both
families proposing at once, make one agreement on both databases. Plain functions taking
the school and the actor; they flush, never commit, and audit every write.
"""

from __future__ import annotations

from datetime import date

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import delete, func, or_, select, update

from carline.models import CarpoolAgreement, DailyChange
from carline.recording import record
from carline.settings import require_feature
from shared.access import of_school
from shared.audit import Actor
from shared.database import upsert_insert
from shared.errors import Conflict, InvalidInput, NotFound
from shared.extensions import db
from shared.models import Family, School, Student, family_students
from shared.schedule import school_today
from shared.timeutil import utcnow

#: How many proposals a family may have waiting for other families at once.
MAX_WAITING = 5


def _pair(one: int, other: int) -> tuple[int, int]:
    return (one, other) if one < other else (other, one)


def _of_pair(family_id: int, other_id: int):
    a, b = _pair(family_id, other_id)
    return CarpoolAgreement.family_a_id == a, CarpoolAgreement.family_b_id == b


def _with(family_id: int):
    return or_(CarpoolAgreement.family_a_id == family_id, CarpoolAgreement.family_b_id == family_id)


def agreements_of(family: Family, *, include_ended: bool = False) -> list[CarpoolAgreement]:
    """The family's agreements (active and proposed; ended too if asked), by tag number."""
    query = select(CarpoolAgreement).where(_with(family.id))
    if not include_ended:
        query = query.where(CarpoolAgreement.status != "ended")
    found = list(db.session.scalars(query.execution_options(populate_existing=True)))
    return sorted(found, key=lambda a: (a.status != "active", a.other(family.id).tag_number))


def partners(family_id: int) -> list[Family]:
    """The active families this family has an active carpool agreement with."""
    found = db.session.scalars(
        select(CarpoolAgreement).where(_with(family_id), CarpoolAgreement.status == "active")
    )
    return sorted(
        (a.other(family_id) for a in found if a.other(family_id).active),
        key=lambda f: f.tag_number,
    )


def check_ride(student: Student, family: Family, actor: Actor) -> None:
    """May a day's plan send `student` home with `family`? Yes for one of the student's own
    families; else only while `family` has an active carpool agreement with one of them
    (for a guardian: with the guardian's family)."""
    own = set(
        db.session.scalars(
            select(family_students.c.family_id).where(family_students.c.student_id == student.id)
        )
    )
    if family.id in own and actor.guardian is None:
        return
    if actor.guardian is not None:
        own = {actor.guardian.family_id} & own
        if family.id in own:
            return
    # The row is locked (PostgreSQL) so an `end` running at once waits for this plan and
    # then takes it back, or this waits for the end and is refused.
    if own and db.session.scalar(
        select(CarpoolAgreement.id)
        .where(
            CarpoolAgreement.status == "active",
            or_(
                *(
                    (CarpoolAgreement.family_a_id == a) & (CarpoolAgreement.family_b_id == b)
                    for a, b in (_pair(family.id, mine) for mine in own)
                )
            ),
        )
        .with_for_update()
    ):
        return
    raise InvalidInput(
        _(
            "Tag %(number)s has no carpool with this child's family: the office sets one "
            "up on the family screen, or both families agree on the family page.",
            number=family.tag_number,
        ),
        field="family_tag" if actor.guardian is None else "mode",
    )


def may_ride(student: Student, family: Family, actor: Actor) -> bool:
    """`check_ride` as a yes or no."""
    try:
        check_ride(student, family, actor)
    except InvalidInput:
        return False
    return True


def _other_family(school: School, family: Family, tag_number: int | None) -> Family:
    if tag_number is None:
        raise InvalidInput(_("Enter the other family's tag number."), field="tag_number")
    other = db.session.scalar(
        select(Family).where(Family.school_id == school.id, Family.tag_number == tag_number)
    )
    if other is None or not other.active:
        raise InvalidInput(
            _("Tag %(number)s is not a tag in use at this school.", number=tag_number),
            field="tag_number",
        )
    if other.id == family.id:
        raise InvalidInput(_("That is this family's own tag."), field="tag_number")
    return other


def _existing(family: Family, other: Family) -> CarpoolAgreement | None:
    return db.session.scalar(
        select(CarpoolAgreement)
        .where(*_of_pair(family.id, other.id))
        .execution_options(populate_existing=True)
    )


def _insert(school: School, family: Family, other: Family, **values) -> CarpoolAgreement | None:
    """The pair's row, new with `values`; None when it already exists (nothing written)."""
    a, b = _pair(family.id, other.id)
    insert = upsert_insert(db.session.get_bind().dialect.name)
    inserted = db.session.execute(
        insert(CarpoolAgreement)
        .values(school_id=school.id, family_a_id=a, family_b_id=b, proposed_at=utcnow(), **values)
        .on_conflict_do_nothing(index_elements=["family_a_id", "family_b_id"])
        .returning(CarpoolAgreement.id)
    ).scalar()
    return db.session.get(CarpoolAgreement, inserted) if inserted is not None else None


def _move(agreement: CarpoolAgreement, from_status: tuple[str, ...], **values) -> bool:
    """Change the row only if it still has one of `from_status` (one wins a race)."""
    changed = db.session.execute(
        update(CarpoolAgreement)
        .where(CarpoolAgreement.id == agreement.id, CarpoolAgreement.status.in_(from_status))
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(agreement)
    return bool(changed)


def _already(other: Family) -> Conflict:
    return Conflict(
        _("This family already carpools with tag %(number)s.", number=other.tag_number),
        field="tag_number",
    )


def _audit(action: str, school: School, agreement: CarpoolAgreement, actor: Actor, **more):
    record(
        action,
        school,
        agreement,
        actor=actor,
        families=[agreement.family_a_id, agreement.family_b_id],
        tags=[agreement.family_a.tag_number, agreement.family_b.tag_number],
        **more,
    )


# ------------------------------------------------------------------ the office


def set_up(
    school: School, actor: Actor, family: Family, tag_number: int | None
) -> CarpoolAgreement:
    """The office sets up a carpool of `family` with the family of `tag_number`: active at
    once (a proposal waiting between them is confirmed; an ended agreement starts again)."""
    of_school(family, school.id, _("No such family."))
    other = _other_family(school, family, tag_number)
    now, by = utcnow(), actor.user.id if actor.user else None
    values = {"status": "active", "active_since": now, "ended_at": None, "set_up_by_id": by}
    agreement = _insert(school, family, other, **values, proposed_by_family_id=None)
    if agreement is None:
        agreement = _existing(family, other)
        # A proposal keeps who made it; an ended carpool starts again as the office's.
        confirmed = _move(agreement, ("pending",), **values)
        anew = {"proposed_by_family_id": None, "proposed_by_guardian_id": None}
        if not confirmed and not _move(agreement, ("ended",), **values, **anew):
            raise _already(other)
    _audit("carpool_set_up", school, agreement, actor)
    return agreement


def office_agreement(school: School, family: Family, agreement_id: object) -> CarpoolAgreement:
    """One of this family's agreements (404 for any other id)."""
    agreement = (
        db.session.get(CarpoolAgreement, agreement_id) if isinstance(agreement_id, int) else None
    )
    if (
        agreement is None
        or agreement.school_id != school.id
        or family.id not in (agreement.family_a_id, agreement.family_b_id)
    ):
        raise NotFound(_("No such carpool."))
    return agreement


# ------------------------------------------------------------------ the family page


def guardian_agreement(actor: Actor, agreement_id: object) -> CarpoolAgreement:
    """One of the guardian's family's agreements (404 for any other, of any school)."""
    guardian = actor.guardian
    agreement = (
        db.session.get(CarpoolAgreement, agreement_id) if isinstance(agreement_id, int) else None
    )
    if (
        guardian is None
        or agreement is None
        or agreement.school_id != guardian.school_id
        or guardian.family_id not in (agreement.family_a_id, agreement.family_b_id)
    ):
        raise NotFound(_("There is nothing here."))
    return agreement


def propose(school: School, actor: Actor, tag_number: int | None) -> CarpoolAgreement:
    """A guardian proposes a carpool with the family of `tag_number`; that family's
    guardians confirm it. A proposal of theirs waiting for this family is confirmed."""
    require_feature(school, "carpool")
    guardian = actor.guardian
    if guardian is None:
        raise InvalidInput(_("Only a guardian proposes a carpool on the family page."))
    family = db.session.get(Family, guardian.family_id)
    other = _other_family(school, family, tag_number)
    waiting = db.session.scalar(
        select(func.count(CarpoolAgreement.id)).where(
            CarpoolAgreement.proposed_by_family_id == family.id,
            CarpoolAgreement.status == "pending",
        )
    )
    values = {
        "status": "pending",
        "proposed_by_family_id": family.id,
        "proposed_by_guardian_id": guardian.id,
        "proposed_at": utcnow(),
        "active_since": None,
        "ended_at": None,
        "set_up_by_id": None,
    }
    agreement = _existing(family, other)
    if agreement is None or agreement.status == "ended":
        if waiting >= MAX_WAITING:
            raise Conflict(
                ngettext(
                    "Your family has %(num)d proposal waiting: wait for an answer or take "
                    "it back first.",
                    "Your family has %(num)d proposals waiting: wait for an answer or take "
                    "one back first.",
                    MAX_WAITING,
                ),
                field="tag_number",
            )
        if agreement is None:
            values.pop("proposed_at")
            agreement = _insert(school, family, other, **values)
        elif not _move(agreement, ("ended",), **values):
            agreement = None
        if agreement is not None:
            _audit("carpool_propose", school, agreement, actor)
            return agreement
        agreement = _existing(family, other)  # the other family asked first, just now
    if agreement.status == "pending" and agreement.proposed_by_family_id == other.id:
        return _confirm(school, actor, agreement, family)
    if agreement.status == "pending":
        raise Conflict(
            _(
                "Your proposal to tag %(number)s is waiting for their answer.",
                number=other.tag_number,
            ),
            field="tag_number",
        )
    raise _already(other)


def confirm(school: School, actor: Actor, agreement: CarpoolAgreement) -> CarpoolAgreement:
    """A guardian of the family a proposal was made to confirms it (once: a second
    confirmation, or one of the proposing family, is refused)."""
    require_feature(school, "carpool")
    family = db.session.get(Family, actor.guardian.family_id)
    return _confirm(school, actor, agreement, family)


def _confirm(
    school: School, actor: Actor, agreement: CarpoolAgreement, family: Family
) -> CarpoolAgreement:
    other = agreement.other(family.id)
    if agreement.status == "pending" and agreement.proposed_by_family_id == family.id:
        raise Conflict(
            _("Tag %(number)s confirms your proposal, not you.", number=other.tag_number)
        )
    moved = agreement.proposed_by_family_id == other.id and _move(
        agreement,
        ("pending",),
        status="active",
        active_since=utcnow(),
    )
    if not moved:
        if agreement.status == "active":
            raise _already(other)
        raise Conflict(_("This proposal was taken back."))
    _audit("carpool_confirm", school, agreement, actor)
    return agreement


# ------------------------------------------------------------------ ending


def end(
    school: School, actor: Actor, agreement: CarpoolAgreement, *, today: date | None = None
) -> int:
    """End an agreement (the office, or a guardian of either family; a proposal is taken
    back or declined the same way). The plans from today on that send a child of one
    family home with the other are taken back (audited each); returns how many."""
    of_school(agreement, school.id, _("No such carpool."))
    was = agreement.status
    if not _move(agreement, ("pending", "active"), status="ended", ended_at=utcnow()):
        raise Conflict(_("This carpool has already ended."))
    day = today or school_today(school)
    removed = 0
    for family_id, other_id in (
        (agreement.family_a_id, agreement.family_b_id),
        (agreement.family_b_id, agreement.family_a_id),
    ):
        children = select(family_students.c.student_id).where(
            family_students.c.family_id == family_id
        )
        own_of_other = select(family_students.c.student_id).where(
            family_students.c.family_id == other_id
        )
        rides = list(
            db.session.scalars(
                select(DailyChange).where(
                    DailyChange.family_id == other_id,
                    DailyChange.day >= day,
                    DailyChange.student_id.in_(children),
                    DailyChange.student_id.not_in(own_of_other),
                )
            )
        )
        for change in rides:
            record(
                "plan_change_clear",
                school,
                change.student,
                actor=actor,
                day=change.day.isoformat(),
                carpool_ended=agreement.id,
            )
        if rides:
            db.session.execute(delete(DailyChange).where(DailyChange.id.in_([c.id for c in rides])))
            removed += len(rides)
    _audit("carpool_end", school, agreement, actor, was=was, plans_taken_back=removed)
    return removed


def riders_with(
    family: Family, day: date, partner_families: list[Family] | None = None
) -> list[tuple[Student, Family]]:
    """Children of partner families whose plan on `day` sends them home with this
    family's car, each with their own family (`partner_families`: `partners(family.id)`,
    if already read). The family's page shows only how many, by tag number."""
    own = select(family_students.c.student_id).where(family_students.c.family_id == family.id)
    rows = db.session.execute(
        select(Student, Family)
        .join(DailyChange, DailyChange.student_id == Student.id)
        .join(family_students, family_students.c.student_id == Student.id)
        .join(Family, Family.id == family_students.c.family_id)
        .where(
            DailyChange.day == day,
            DailyChange.family_id == family.id,
            DailyChange.mode == "car",
            DailyChange.early_pickup.is_(None),
            Student.active.is_(True),
            Student.id.not_in(own),
            Family.id.in_([p.id for p in partner_families or partners(family.id)]),
        )
        .order_by(Student.first_name, Student.id)
    ).all()
    seen, result = set(), []
    for student, other in rows:
        if student.id not in seen:
            seen.add(student.id)
            result.append((student, other))
    return result


def family_records(family: Family) -> dict[str, list[dict]]:
    """The family's carpools for its own download: the other family by its tag number
    only, no guardian or staff of either side."""
    rows = [
        {
            "id": a.id,
            "other_family_tag": a.other(family.id).tag_number,
            "status": a.status,
            "proposed_by_this_family": a.proposed_by_family_id == family.id,
            "set_up_by_the_office": a.proposed_by_family_id is None,
            "proposed_at": a.proposed_at.isoformat(),
            "active_since": a.active_since.isoformat() if a.active_since else None,
            "ended_at": a.ended_at.isoformat() if a.ended_at else None,
        }
        for a in agreements_of(family, include_ended=True)
    ]
    return {"carpool_agreements": rows}

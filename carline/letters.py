"""Letters home with a family code, for guardians without email: who gets one.

The office prints one guardian's letter from the family screen, or from the families
list the letters of every guardian without an email address and without a live code
(of the whole school, or of the families given), MAX_LETTERS at a time. Printing issues a new code
(`shared.family_codes.issue_code`, audited, the old code revoked with its sessions):
codes are stored as hashes, so a letter cannot be printed twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import Select, func, select

from shared.audit import Actor
from shared.errors import InvalidInput
from shared.extensions import db
from shared.family_codes import issue_code
from shared.models import Family, FamilyCode, Guardian, School

#: Most letters in one PDF (one page each, about 10 ms a page): well within a request's
#: time on a busy server; the next press prints the next ones.
MAX_LETTERS = 500


@dataclass(frozen=True)
class Letter:
    """One guardian's letter: who it is for and the code (never stored) it carries."""

    guardian_name: str
    language: str
    tag_number: int
    code: str


def letter_for(school: School, actor: Actor, guardian: Guardian) -> Letter:
    """A letter for this guardian, with a new code (the old one stops working)."""
    family = db.session.get(Family, guardian.family_id)
    if not family.active:
        raise InvalidInput(_("This family is deactivated: reactivate it first."))
    code = issue_code(school, actor, guardian)
    return Letter(guardian.name, guardian.language, family.tag_number, code)


def _needing_letters(school: School, family_ids: list[int] | None) -> Select:
    """Guardians of the school's active families (or of those chosen) who have no email
    address and no live family code."""
    live = select(FamilyCode.id).where(
        FamilyCode.guardian_id == Guardian.id, FamilyCode.revoked_at.is_(None)
    )
    query = (
        select(Guardian)
        .join(Family, Family.id == Guardian.family_id)
        .where(
            Guardian.school_id == school.id,
            Family.school_id == school.id,
            Family.active.is_(True),
            Guardian.email.is_(None),
            ~live.exists(),
        )
    )
    if family_ids is not None:
        query = query.where(Family.id.in_(family_ids))
    return query


def guardians_needing_letters(
    school: School, family_ids: list[int] | None = None
) -> list[Guardian]:
    """The first MAX_LETTERS guardians without email or code, by tag number."""
    query = _needing_letters(school, family_ids).order_by(
        Family.tag_number, Guardian.name, Guardian.id
    )
    return list(db.session.scalars(query.limit(MAX_LETTERS)))


def count_needing_letters(school: School) -> int:
    """How many guardians of the school still need a letter (the families list says so)."""
    found = _needing_letters(school, None).with_only_columns(func.count(Guardian.id))
    return db.session.scalar(found.order_by(None))


def letters_without_email(
    school: School, actor: Actor, family_ids: list[int] | None = None
) -> list[Letter]:
    """Letters (new codes) for the first MAX_LETTERS guardians without email or code, in
    the selection: a bigger school prints its letters in several PDFs, each one taking the
    next guardians (those printed have a code now)."""
    guardians = guardians_needing_letters(school, family_ids)
    if not guardians:
        raise InvalidInput(
            _("Every guardian without email already has a family code (or there is none).")
        )
    return [letter_for(school, actor, guardian) for guardian in guardians]

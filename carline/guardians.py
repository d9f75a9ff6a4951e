"""The office's writes of a family's guardians: add, change, remove.

A guardian is an adult of one family (shared.models.Guardian): who may pick the
children up (or must not), how to reach them, and the address their sign-in links go
to. The details are checked by `shared.guardians.clean_fields`, the rule the roster
import uses too. Plain functions: they flush and never commit, audit every write and
bump the dismissal screens (the curb shows who may pick up).
"""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from carline.recording import record
from shared.access import of_school
from shared.audit import Actor
from shared.errors import Conflict, NotFound
from shared.extensions import db
from shared.guardians import GuardianFields, delete_guardian
from shared.models import Family, Guardian, School


def _check_address_free(family: Family, fields: GuardianFields, guardian: Guardian | None) -> None:
    if fields.email is None:
        return
    taken = db.session.scalar(
        select(Guardian.id).where(Guardian.family_id == family.id, Guardian.email == fields.email)
    )
    if taken is not None and (guardian is None or taken != guardian.id):
        raise Conflict(_("Another guardian of this family has this email address."), field="email")


def _flush_unique() -> None:
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:
        raise Conflict(
            _("Another guardian of this family has this email address."), field="email"
        ) from None


def _detail(fields: GuardianFields) -> dict:
    """What the audit log keeps of a guardian's details: no address, no number."""
    return {
        "may_pick_up": fields.may_pick_up,
        "language": fields.language,
        "has_email": fields.email is not None,
        "has_mobile": fields.mobile is not None,
    }


def add_guardian(school: School, actor: Actor, family: Family, fields: GuardianFields) -> Guardian:
    """Add a guardian to the family."""
    of_school(family, school.id, _("No such family."))
    _check_address_free(family, fields, None)
    guardian = Guardian(school_id=school.id, family_id=family.id, **fields.columns())
    db.session.add(guardian)
    _flush_unique()
    record("guardian_add", school, guardian, actor=actor, family_id=family.id, **_detail(fields))
    return guardian


def family_guardian(school: School, family: Family, guardian_id: object) -> Guardian:
    """The guardian with this id of this family (404 for any other)."""
    of_school(family, school.id, _("No such family."))
    guardian = db.session.get(Guardian, guardian_id) if isinstance(guardian_id, int) else None
    if guardian is None or guardian.family_id != family.id:
        raise NotFound(_("No such guardian."))
    return guardian


def update_guardian(
    school: School, actor: Actor, guardian: Guardian, fields: GuardianFields
) -> Guardian:
    """Change a guardian's details."""
    of_school(guardian, school.id, _("No such guardian."))
    _check_address_free(guardian.family, fields, guardian)
    changed = sorted(k for k, v in fields.columns().items() if getattr(guardian, k) != v)
    for key, value in fields.columns().items():
        setattr(guardian, key, value)
    _flush_unique()
    record(
        "guardian_update",
        school,
        guardian,
        actor=actor,
        family_id=guardian.family_id,
        changed=changed,
        **_detail(fields),
    )
    return guardian


def remove_guardian(school: School, actor: Actor, guardian: Guardian) -> None:
    """Remove a guardian: their family sessions end with them."""
    of_school(guardian, school.id, _("No such guardian."))
    family_id = guardian.family_id
    ended = delete_guardian(guardian)  # the removed row keeps its id for the audit
    record(
        "guardian_remove",
        school,
        guardian,
        actor=actor,
        family_id=family_id,
        sessions_ended=ended,
    )

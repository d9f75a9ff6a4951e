"""A guardian's details, checked one way wherever they come from.

The office's family screen (`carline.guardians`) and the roster import's
`guardians.csv` (`shared.roster`) both hand what they were given to `clean_fields`,
so a name, an address, a mobile number, a language or a note is accepted or refused
by the same rule with the same words. Only the office and the import write guardians;
guardians themselves never edit their own record here. Removing a guardian is one rule
too (`delete_guardian`): the office's remove button and a OneRoster import that marks a
guardian for deletion both end the guardian's family sessions first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import select

from shared.errors import InvalidInput
from shared.extensions import db
from shared.family_sessions import end_guardian_sessions
from shared.models import GUARDIAN_LANGUAGES, Family, Guardian
from shared.staff import EMAIL_RE

NAME_LENGTH = 200
MOBILE_LENGTH = 32
RELATIONSHIP_LENGTH = 60
NOTE_LENGTH = 500
_MOBILE = re.compile(r"^\+?[0-9][0-9 ().\-]{5,30}$")
#: Spellings of yes and no a spreadsheet may hold (the import's may_pick_up column).
YES = {"yes", "y", "true", "1", "si", "sí"}
NO = {"no", "n", "false", "0"}


@dataclass(frozen=True)
class GuardianFields:
    """A guardian's checked details, as they are stored."""

    name: str
    email: str | None
    mobile: str | None
    language: str
    relationship: str
    may_pick_up: bool
    note: str

    def columns(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "email": self.email,
            "mobile": self.mobile,
            "language": self.language,
            "relationship": self.relationship,
            "may_pick_up": self.may_pick_up,
            "note": self.note,
        }


def _one_line(value: str | None) -> str:
    return " ".join((value or "").split())


def clean_email(value: str | None) -> str | None:
    """A guardian's address, lower-case; None when blank; InvalidInput when malformed."""
    email = (value or "").strip().lower()
    if not email:
        return None
    if len(email) > 254 or not EMAIL_RE.match(email):
        raise InvalidInput(
            _("Email: enter a valid email address (or leave it blank)."), field="email"
        )
    return email


def clean_fields(
    *,
    name: str | None,
    email: str | None = None,
    mobile: str | None = None,
    language: str | None = None,
    relationship: str | None = None,
    may_pick_up: bool = True,
    note: str | None = None,
) -> GuardianFields:
    """Check a guardian's details (InvalidInput, naming the field, for the first problem)."""
    clean_name = _one_line(name)
    if not clean_name or len(clean_name) > NAME_LENGTH:
        raise InvalidInput(_("Name: 1 to %(num)d characters.", num=NAME_LENGTH), field="name")
    clean_mobile = _one_line(mobile) or None
    if clean_mobile is not None and not _MOBILE.match(clean_mobile):
        raise InvalidInput(
            _("Mobile: a phone number such as +1 555 010 0199 (or leave it blank)."), field="mobile"
        )
    chosen = (language or "en").strip().lower()[:8]
    if chosen not in GUARDIAN_LANGUAGES:
        raise InvalidInput(
            _("Language: one of %(codes)s.", codes=", ".join(GUARDIAN_LANGUAGES)), field="language"
        )
    clean_relationship = _one_line(relationship)
    if len(clean_relationship) > RELATIONSHIP_LENGTH:
        raise InvalidInput(
            ngettext(
                "Relationship: at most %(num)d character.",
                "Relationship: at most %(num)d characters.",
                RELATIONSHIP_LENGTH,
            ),
            field="relationship",
        )
    clean_note = (note or "").strip()
    if len(clean_note) > NOTE_LENGTH:
        raise InvalidInput(
            ngettext(
                "Note: at most %(num)d character.", "Note: at most %(num)d characters.", NOTE_LENGTH
            ),
            field="note",
        )
    return GuardianFields(
        clean_name,
        clean_email(email),
        clean_mobile,
        chosen,
        clean_relationship,
        bool(may_pick_up),
        clean_note,
    )


def yes_no(value: str | None, *, default: bool = True) -> bool:
    """A spreadsheet's yes/no cell; blank is `default`; ValueError for anything else."""
    text = (value or "").strip().lower()
    if not text:
        return default
    if text in YES:
        return True
    if text in NO:
        return False
    raise ValueError(_("%(value)s is not yes or no", value=repr(value)))


def guardians_of(family: Family) -> list[Guardian]:
    """The family's guardians, by name."""
    return list(
        db.session.scalars(
            select(Guardian)
            .where(Guardian.family_id == family.id)
            .order_by(Guardian.name, Guardian.id)
        )
    )


def delete_guardian(guardian: Guardian) -> int:
    """Delete a guardian after ending their family sessions; how many sessions were open.

    The caller audits (the office's `guardian_remove`, or the roster import's event).
    """
    ended = end_guardian_sessions(guardian, "removed")
    db.session.delete(guardian)
    db.session.flush()
    return ended

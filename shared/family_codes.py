"""Family codes: how a guardian without email signs in to the family page.

The office prints a letter home for a guardian (carline/letter_pdf.py); it carries a
random family code and a QR code of the sign-in page's address with the code after a
`#` (the fragment never reaches the server, so the code is in no access log). Typed
at the family sign-in page, or filled in by the QR's page, the code starts a
long-lived family session on that phone (shared/family_sessions.py), exactly as a
mailed link does, and as often as it is used: both parents may read the same letter.

A code is `CODE_LENGTH` signs of an alphabet without look-alikes (no 0/O, 1/I/L),
about 59 bits, shown in groups of four. Only its SHA-256 is stored, so a lost
letter is replaced, never reprinted: printing a new letter revokes the guardian's
old code, and revoking a code ends the sessions it started. At most one code per
guardian is live (a partial unique index). Wrong codes are counted per client
address before the comparison, like passwords (`shared.throttle.begin_family_code`).
Issuing, revoking, every sign-in and every refusal are audited.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from flask import current_app, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import select, update

from shared import audit, live
from shared.access import secret_digest
from shared.audit import Actor
from shared.errors import DomainError, InvalidInput, NotFound
from shared.extensions import db
from shared.family_sessions import start_session
from shared.models import Family, FamilyCode, Guardian, GuardianSession, School
from shared.throttle import attempt_did_not_fail, begin_family_code
from shared.timeutil import utcnow

#: 31 signs that cannot be read as one another: no 0/O, no 1/I/L.
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 12
GROUP = 4


class TooManyCodes(DomainError):
    """Too many wrong codes from this client address: wait `retry_after` seconds."""

    status_code = 429

    def __init__(self, message: str, retry_after: int):
        super().__init__(message, field="code")
        self.retry_after = retry_after


def new_code() -> str:
    """A fresh random code, as stored before hashing (no separators)."""
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def shown(code: str) -> str:
    """The code as printed: ABCD-EFGH-JKMN."""
    return "-".join(code[i : i + GROUP] for i in range(0, len(code), GROUP))


#: The sign-in page where a code is typed; the letter's QR opens it with the code filled in.
CODE_ENDPOINT = "family_sign_in.code"


def code_page_url(code: str | None = None) -> str:
    """The address of the code sign-in page (at PUBLIC_URL when set, else the one the
    office is using), with the code after a `#` when given: the QR of a letter."""
    public = current_app.config.get("PUBLIC_URL")
    if public:
        parts = urlsplit(public)
        adapter = current_app.url_map.bind(
            parts.netloc, script_name=parts.path or "/", url_scheme=parts.scheme
        )
        url = adapter.build(CODE_ENDPOINT, {}, force_external=True)
    else:
        url = url_for(CODE_ENDPOINT, _external=True)
    return f"{url}#{shown(code)}" if code else url


def normalized(typed: str | None) -> str | None:
    """The code as typed, upper case and without spaces or dashes; None when it cannot
    be a code at all (wrong length or a sign the alphabet lacks)."""
    code = "".join(ch for ch in (typed or "")[:64].upper() if ch.isalnum())
    if len(code) != CODE_LENGTH or any(ch not in ALPHABET for ch in code):
        return None
    return code


def live_codes(family: Family) -> dict[int, FamilyCode]:
    """The live code of each of the family's guardians that has one, by guardian id."""
    return {
        code.guardian_id: code
        for code in db.session.scalars(
            select(FamilyCode)
            .join(Guardian, Guardian.id == FamilyCode.guardian_id)
            .where(Guardian.family_id == family.id, FamilyCode.revoked_at.is_(None))
        )
    }


def _revoke_live(guardian: Guardian) -> tuple[int | None, int]:
    """Revoke the guardian's live code, if any, and end the sessions it started;
    (the code's id or None, how many sessions ended)."""
    now = utcnow()
    code_id = db.session.scalar(
        select(FamilyCode.id).where(
            FamilyCode.guardian_id == guardian.id, FamilyCode.revoked_at.is_(None)
        )
    )
    if code_id is None:
        return None, 0
    db.session.execute(
        update(FamilyCode)
        .where(FamilyCode.id == code_id)
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    ended = db.session.execute(
        update(GuardianSession)
        .where(GuardianSession.family_code_id == code_id, GuardianSession.ended_at.is_(None))
        .values(ended_at=now, end_reason="code")
        .execution_options(synchronize_session=False)
    ).rowcount
    if ended:
        live.access_changed([guardian.school_id])
    return code_id, ended


def issue_code(school: School, actor: Actor, guardian: Guardian) -> str:
    """A new family code for the guardian (for a letter home); the old one, if any, is
    revoked with its sessions. Returns the code itself: it is never stored."""
    if guardian.school_id != school.id:
        raise NotFound(_("No such guardian."))
    old_id, ended = _revoke_live(guardian)
    code = new_code()
    found = FamilyCode(
        school_id=school.id,
        guardian_id=guardian.id,
        code_hash=secret_digest(code),
        created_by_id=actor.user.id if actor.user else None,
    )
    db.session.add(found)
    db.session.flush()
    audit.record(
        "family.code_issue",
        school_id=school.id,
        target=guardian,
        detail={
            "family_id": guardian.family_id,
            "code_id": found.id,
            "replaced_code_id": old_id,
            "sessions_ended": ended,
        },
        actor=actor,
    )
    return code


def revoke_code(school: School, actor: Actor, guardian: Guardian) -> int:
    """Revoke the guardian's family code: it no longer signs in, and the phones it signed
    in are signed out. Returns how many were."""
    if guardian.school_id != school.id:
        raise NotFound(_("No such guardian."))
    code_id, ended = _revoke_live(guardian)
    if code_id is None:
        raise NotFound(_("This guardian has no family code."))
    audit.record(
        "family.code_revoke",
        school_id=school.id,
        target=guardian,
        detail={"family_id": guardian.family_id, "code_id": code_id, "sessions_ended": ended},
        actor=actor,
    )
    return ended


def _refuse() -> InvalidInput:
    return InvalidInput(
        _("This family code does not work. Check it against the letter, or call the office."),
        field="code",
    )


def sign_in_with_code(
    typed: str | None, user_agent: str | None, client_address: str | None
) -> tuple[Guardian, str]:
    """Sign this phone in with a family code: (the guardian, the session cookie's token).

    The try is counted for the client address and committed before the code is looked
    up, so it counts in every process even when refused (TooManyCodes past the limit);
    a code that works gives its place back.
    """
    attempt = begin_family_code(client_address)
    db.session.commit()
    if attempt.retry_after is not None:
        minutes = max(1, round(attempt.retry_after / 60))
        raise TooManyCodes(
            ngettext(
                "Too many wrong codes. Try again in %(num)d minute.",
                "Too many wrong codes. Try again in %(num)d minutes.",
                minutes,
            ),
            attempt.retry_after,
        )
    code = normalized(typed)
    if code is None:
        raise _refuse()
    row = db.session.execute(
        select(FamilyCode, Guardian, Family, School)
        .join(Guardian, Guardian.id == FamilyCode.guardian_id)
        .join(Family, Family.id == Guardian.family_id)
        .join(School, School.id == FamilyCode.school_id)
        .where(FamilyCode.code_hash == secret_digest(code), FamilyCode.revoked_at.is_(None))
    ).first()
    if row is None or not row.Family.active or row.School.archived_at is not None:
        raise _refuse()
    attempt_did_not_fail(attempt)
    found, guardian = row.FamilyCode, row.Guardian
    found.last_used_at = utcnow()
    token = start_session(guardian, user_agent, family_code=found)
    audit.record(
        "family.sign_in",
        school_id=guardian.school_id,
        target=guardian,
        detail={"family_id": guardian.family_id, "with": "code", "code_id": found.id},
        actor=Actor(guardian=guardian),
    )
    return guardian, token

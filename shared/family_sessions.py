"""Guardians' sessions: a phone signed in to the family page, for months, until ended.

A guardian signs in with a single-use link mailed to them (shared/family_sign_in.py),
or with the family code of a letter home (shared/family_codes.py).
The phone then holds a random token in its own cookie (`FAMILY_COOKIE`, like a paired
device's), and the server a `GuardianSession` with the token's SHA-256, so the session
ends the moment its row does: when the guardian signs out or ends another phone's
session on the family page, when the office ends it on the family screen, when the
guardian is removed, when the family code it signed in with is revoked, or
`FAMILY_SESSION_DAYS` after sign-in. Every end bumps the school's access version, so
a poll that was admitted before is refused at once.
How a request finds its guardian is `shared.access._load_guardian`.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from flask import Response, current_app
from flask_babel import gettext as _
from sqlalchemy import select, update

from shared import audit, live
from shared.access import FAMILY_COOKIE, secret_digest
from shared.audit import Actor
from shared.errors import NotFound
from shared.extensions import db
from shared.models import Family, FamilyCode, Guardian, GuardianSession
from shared.timeutil import utcnow

LABEL_LENGTH = 100


def phone_label(user_agent: str | None) -> str:
    """A short, address-free name of the phone for the lists: "iPhone, Safari"."""
    agent = user_agent or ""
    device = next(
        (name for key, name in (
            ("iPhone", "iPhone"), ("iPad", "iPad"), ("Android", "Android"),
            ("Windows", "Windows"), ("Macintosh", "Mac"), ("CrOS", "Chromebook"),
            ("Linux", "Linux"),
        ) if key in agent),
        "Browser",
    )  # fmt: skip
    browser = next(
        (name for key, name in (
            ("Edg/", "Edge"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"),
            ("Safari/", "Safari"),
        ) if key in agent),
        "",
    )  # fmt: skip
    return f"{device}, {browser}"[:LABEL_LENGTH] if browser else device


def start_session(
    guardian: Guardian, user_agent: str | None, *, family_code: FamilyCode | None = None
) -> str:
    """A new session for the guardian on this phone (signed in with a mailed link, or with
    `family_code`, whose revocation ends it); returns the cookie's token."""
    token = secrets.token_urlsafe(32)
    db.session.add(
        GuardianSession(
            school_id=guardian.school_id,
            guardian_id=guardian.id,
            token_hash=secret_digest(token),
            label=phone_label(user_agent),
            family_code_id=family_code.id if family_code is not None else None,
        )
    )
    db.session.flush()
    return token


def set_cookie(response: Response, token: str) -> Response:
    """Keep the session token on the phone (HttpOnly, for FAMILY_SESSION_DAYS)."""
    response.set_cookie(
        FAMILY_COOKIE,
        token,
        max_age=int(timedelta(days=current_app.config["FAMILY_SESSION_DAYS"]).total_seconds()),
        httponly=True,
        secure=current_app.config["SESSION_COOKIE_SECURE"],
        samesite="Lax",
    )
    return response


def open_sessions(family: Family) -> list[GuardianSession]:
    """The family's open sessions (every guardian's phones), newest first."""
    return list(
        db.session.scalars(
            select(GuardianSession)
            .join(Guardian, Guardian.id == GuardianSession.guardian_id)
            .where(Guardian.family_id == family.id, GuardianSession.ended_at.is_(None))
            .order_by(GuardianSession.created_at.desc(), GuardianSession.id.desc())
        )
    )


def family_session(family: Family, session_id: object) -> GuardianSession:
    """An open session of this family's guardians (404 for any other id)."""
    found = db.session.get(GuardianSession, session_id) if isinstance(session_id, int) else None
    if found is None or found.guardian.family_id != family.id or found.ended_at is not None:
        raise NotFound(_("No such signed-in phone."))
    return found


def end_session(found: GuardianSession, reason: str, *, actor: Actor) -> None:
    """End one session (signout, office); the phone is refused from its next request."""
    now = utcnow()
    ended = db.session.execute(
        update(GuardianSession)
        .where(GuardianSession.id == found.id, GuardianSession.ended_at.is_(None))
        .values(ended_at=now, end_reason=reason)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not ended:
        return
    live.access_changed([found.school_id])
    audit.record(
        "family.session_end",
        school_id=found.school_id,
        target=found.guardian,
        detail={"session_id": found.id, "reason": reason, "family_id": found.guardian.family_id},
        actor=actor,
    )


def end_guardian_sessions(guardian: Guardian, reason: str) -> int:
    """End every session of a guardian (removed by the office); how many were open."""
    ended = db.session.execute(
        update(GuardianSession)
        .where(GuardianSession.guardian_id == guardian.id, GuardianSession.ended_at.is_(None))
        .values(ended_at=utcnow(), end_reason=reason)
        .execution_options(synchronize_session=False)
    ).rowcount
    if ended:
        live.access_changed([guardian.school_id])
    return ended

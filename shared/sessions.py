"""Staff sessions held on the server: started at sign-in, ended at sign-out, idle or too old.

The session cookie (signed by Flask) carries the user id, the user's nonce and a random
session token. A request is signed in only while the token's `UserSession` row is open,
so a copied cookie stops working as soon as its session ends: at sign-out, after
`SESSION_IDLE_MINUTES` without activity, `SESSION_ABSOLUTE_HOURS` after sign-in, or when
the account is deactivated or its password changes. Live polls (GET with `?v=`) do not
count as activity: a tablet left on a live screen still times out.
"""

from __future__ import annotations

import copy
import hashlib
import secrets
import time
from datetime import timedelta

from flask import current_app, g, request, session
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from sqlalchemy import select, update

from shared import live
from shared.access import access_version_column, note_access_version
from shared.bounded import BoundedDict
from shared.database import write_now
from shared.extensions import db
from shared.models import Membership, School, User, UserSession
from shared.timeutil import utcnow

SESSION_TOKEN_KEY = "sid"  # noqa: S105 (a key name, not a secret)
#: last_seen_at is written at most this often.
SEEN_EVERY = timedelta(minutes=1)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(user: User) -> None:
    """A new server-side session for `user` in this (already cleared) browser session."""
    token = secrets.token_urlsafe(32)
    db.session.add(UserSession(user_id=user.id, token_hash=_digest(token)))
    session[SESSION_TOKEN_KEY] = token


def first_school_id(user: User) -> int | None:
    """The school a user acts at right after signing in: their first membership's."""
    return db.session.scalar(
        select(Membership.school_id).where(Membership.user_id == user.id).order_by(Membership.id)
    )


def sign_in(user: User) -> int | None:
    """Sign `user` in in this browser, however they proved who they are (password, SSO).

    The browser's session starts afresh (nothing from before sign-in carries over, so a
    session id planted before sign-in is useless), with a new server-side session and
    the user's first school; returns that school's id.
    """
    from flask_login import login_user

    user.last_login_at = utcnow()
    session.clear()
    login_user(user)
    start_session(user)
    session["school_id"] = first_school_id(user)
    return session["school_id"]


def _schools_of(user: User) -> list[int]:
    """The schools where `user` may act (every school for a district admin)."""
    if user.is_district_admin:
        return list(db.session.scalars(select(School.id)))
    return list(
        db.session.scalars(select(Membership.school_id).where(Membership.user_id == user.id))
    )


def end_current_session(user: User, reason: str = "signout") -> None:
    """End this browser's session on the server."""
    token = session.get(SESSION_TOKEN_KEY)
    if token:
        live.access_changed(_schools_of(user))
        write_now(
            db.session,
            update(UserSession)
            .where(UserSession.token_hash == _digest(token), UserSession.ended_at.is_(None))
            .values(ended_at=utcnow(), end_reason=reason),
        )


def end_user_sessions(user: User, reason: str) -> None:
    """End every session of `user` (deactivation, password change or reset)."""
    user.session_nonce = secrets.token_hex(16)
    live.access_changed(_schools_of(user))
    db.session.execute(
        update(UserSession)
        .where(UserSession.user_id == user.id, UserSession.ended_at.is_(None))
        .values(ended_at=utcnow(), end_reason=reason)
        .execution_options(synchronize_session=False)
    )


def _is_activity() -> bool:
    return not (request.method == "GET" and "v" in request.args)


def load_session_user(session_id: str) -> User | None:
    """flask-login's user loader: the user, if this browser's session is open and fresh."""
    user_id, _, nonce = session_id.partition(":")
    token = session.get(SESSION_TOKEN_KEY)
    if not (user_id.isascii() and user_id.isdigit()) or not token:
        return None
    school_id = session.get("school_id")
    columns = [User, UserSession]
    if isinstance(school_id, int):  # the school the caller acts at (shared/access.py)
        columns.append(access_version_column(school_id))
    row = db.session.execute(
        select(*columns)
        .join(UserSession, UserSession.user_id == User.id)
        .where(User.id == int(user_id), UserSession.token_hash == _digest(token))
    ).first()
    if row is None:
        return None
    user, user_session = row[0], row[1]
    if isinstance(school_id, int):
        note_access_version(school_id, row[2])
    if not user.active or user.session_nonce != nonce or user_session.ended_at is not None:
        return None
    now = utcnow()
    config = current_app.config
    expired = now - user_session.created_at > timedelta(hours=config["SESSION_ABSOLUTE_HOURS"])
    idle = now - user_session.last_seen_at > timedelta(minutes=config["SESSION_IDLE_MINUTES"])
    if expired or idle:
        write_now(
            db.session,
            update(UserSession)
            .where(UserSession.id == user_session.id, UserSession.ended_at.is_(None))
            .values(ended_at=now, end_reason="expired" if expired else "idle"),
        )
        g.session_timed_out = True
        return None
    if _is_activity() and now - user_session.last_seen_at >= SEEN_EVERY:
        seen = update(UserSession).where(UserSession.id == user_session.id)
        write_now(db.session, seen.values(last_seen_at=now))
    return user


class RememberingCookieSessionInterface(SecureCookieSessionInterface):
    """Flask's signed session cookie, each cookie's checked contents remembered a minute.

    Screens poll every second with the same cookie; checking its signature and decoding
    it each time would be a large part of a poll's own work. A cookie that fails the
    check is never remembered, and each request gets its own copy to change.
    """

    REMEMBER_SECONDS = 60.0

    def __init__(self):
        #: cookie value -> (its contents, until when)
        self._remembered = BoundedDict(20_000)

    def open_session(self, app, request) -> SecureCookieSession | None:
        value = request.cookies.get(self.get_cookie_name(app))
        if not value:
            return super().open_session(app, request)
        remembered = self._remembered.get(value)
        if remembered is not None and time.monotonic() < remembered[1]:
            return self.session_class(copy.deepcopy(remembered[0]))  # flashes are lists
        opened = super().open_session(app, request)
        if opened:  # a valid, non-empty cookie
            until = time.monotonic() + self.REMEMBER_SECONDS
            self._remembered.keep(value, (copy.deepcopy(dict(opened)), until))
        return opened

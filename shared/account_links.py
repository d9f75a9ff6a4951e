"""Single-use links: invitations (7 days) and password resets (1 hour) to set a staff
password, and a guardian's sign-in to the family page (15 minutes, shared/family_sign_in.py).

An admin invites one staff member, or every active staff member of the school who has
no password yet (the roster import creates accounts without one); anyone may ask for
a reset link on the sign-in page. Each link:

- is random: its token is an HMAC, keyed by SECRET_KEY, of a random nonce, and only
  the token's SHA-256 is stored. The outbox puts the link into the mail when it sends
  it (shared/mail.py) and the nonce is then cleared, so the token is never written
  down and nothing stored can rebuild a link once it went out;
- works once, before it expires, and a newer link of the same kind replaces it;
  setting a password ends every other link and every session of the account;
- never says whether an address has an account: a reset request gets the same answer
  for a known, an unknown and a deactivated address, and requests are throttled per
  address typed and per client address (shared/throttle.py).

Without SMTP (no SMTP_HOST), an invitation's link is shown to the admin once, to hand
over in person; a reset request then says to ask the school's admin.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from flask import Flask, current_app, has_request_context, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select, update

from shared import audit, mail, sso_providers, staff
from shared.access import Principal
from shared.errors import DomainError, InvalidInput, NotFound
from shared.extensions import db
from shared.i18n import mail_locale
from shared.models import (
    AccountLink,
    Guardian,
    LinkPurpose,
    Membership,
    School,
    SsoIdentity,
    User,
)
from shared.passwords import hash_password, password_problem
from shared.sessions import end_user_sessions
from shared.throttle import count_reset_request
from shared.timeutil import utcnow

LIFETIME = {
    LinkPurpose.INVITE: timedelta(days=7),
    LinkPurpose.RESET: timedelta(hours=1),
    LinkPurpose.FAMILY: timedelta(minutes=15),
}
#: The endpoint a link opens: setting a password (shared/account_views.py), or a
#: guardian's sign-in to the family page (shared/family_sign_in.py).
LINK_ENDPOINT = "account.set_password"
ENDPOINTS = {
    LinkPurpose.INVITE: LINK_ENDPOINT,
    LinkPurpose.RESET: LINK_ENDPOINT,
    LinkPurpose.FAMILY: "family_sign_in.link",
}


def _invitation_mail(person: User, school: School) -> tuple[str, str]:
    """The invitation's subject and body, in the person's language (their school's, else
    English); the link goes where `mail.LINK_MARK` is."""
    with force_locale(mail_locale(person, school)):
        subject = _("Set your passline password")
        body = _(
            "Hello %(name)s,\n\n"
            "%(school)s uses passline for hall passes and car line dismissal. To sign in, set "
            "your\npassword with this link:\n\n"
            "%(link)s\n\n"
            "The link works once and expires in 7 days. If you did not expect this mail, "
            "ignore it.\n",
            name=person.name,
            school=school.name,
            link=mail.LINK_MARK,
        )
        # When the district's provider can sign the person in.
        body += "".join(
            "\n"
            + _(
                'Or sign in with your district account: on the sign-in page, choose "%(label)s".',
                label=chosen.label,
            )
            + "\n"
            for chosen in sso_providers.providers_for_email(person.email)
        )
    return subject, body


def _reset_mail(user: User, school: School | None) -> tuple[str, str]:
    """The password reset's subject and body, in the person's language."""
    with force_locale(mail_locale(user, school)):
        subject = _("Reset your passline password")
        body = _(
            "Hello %(name)s,\n\n"
            "Someone (probably you) asked to reset your passline password. Set a new one "
            "with this link:\n\n"
            "%(link)s\n\n"
            "The link works once, within 1 hour. If you did not ask for it, ignore this mail: "
            "your\npassword stays as it is.\n",
            name=user.name,
            link=mail.LINK_MARK,
        )
    return subject, body


class LinkGone(DomainError):
    """The link was used, replaced or has expired."""

    status_code = 410


# ------------------------------------------------------------------ tokens and URLs


def _token(app: Flask, nonce: str) -> str:
    key = app.config["SECRET_KEY"].encode()
    mac = hmac.new(key, b"passline account link:" + nonce.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _is_open(link: AccountLink) -> bool:
    return link.used_at is None and link.expires_at > utcnow()


def _external_url(app: Flask, token: str, endpoint: str = LINK_ENDPOINT) -> str:
    """The link at PUBLIC_URL (mail is sent outside any request); in a request without
    PUBLIC_URL, at the address the admin is using (a hand-over only)."""
    public = app.config.get("PUBLIC_URL")
    if not public and has_request_context():
        return url_for(endpoint, token=token, _external=True)
    parts = urlsplit(public)
    adapter = app.url_map.bind(parts.netloc, script_name=parts.path or "/", url_scheme=parts.scheme)
    return adapter.build(endpoint, {"token": token}, force_external=True)


def link_url(app: Flask, link: AccountLink) -> str | None:
    """The link's URL while it can still be used and rebuilt (its mail not yet sent)."""
    if link.nonce is None or not _is_open(link):
        return None
    token = _token(app, link.nonce)
    if _digest(token) != link.token_hash:  # SECRET_KEY changed since: it cannot work
        return None
    return _external_url(app, token, ENDPOINTS[LinkPurpose(link.purpose)])


def mail_sent(link: AccountLink) -> None:
    """The mail with the link went out: forget how to rebuild it."""
    link.nonce = None


def issue(user: User, purpose: LinkPurpose, created_by: User | None = None) -> AccountLink:
    """A new link for `user`; an open earlier link of the same kind stops working."""
    return _issue(AccountLink.user_id == user.id, purpose, created_by, user_id=user.id)


def issue_for_guardian(guardian: Guardian) -> AccountLink:
    """A new family sign-in link for a guardian (15 minutes); their earlier one stops
    working."""
    return _issue(
        AccountLink.guardian_id == guardian.id, LinkPurpose.FAMILY, None, guardian_id=guardian.id
    )


def _issue(owner, purpose: LinkPurpose, created_by: User | None, **owner_id: int) -> AccountLink:
    now = utcnow()
    db.session.execute(
        update(AccountLink)
        .where(owner, AccountLink.purpose == purpose, AccountLink.used_at.is_(None))
        .values(used_at=now, nonce=None)
        .execution_options(synchronize_session=False)
    )
    nonce = secrets.token_urlsafe(32)
    link = AccountLink(
        **owner_id,
        purpose=purpose,
        nonce=nonce,
        token_hash=_digest(_token(current_app, nonce)),
        created_by_id=created_by.id if created_by is not None else None,
        created_at=now,
        expires_at=now + LIFETIME[purpose],
    )
    db.session.add(link)
    db.session.flush()
    return link


def find_link(token: str) -> AccountLink | None:
    """The link of this token (used or not), by its hash; None for no such link."""
    return db.session.scalar(
        select(AccountLink).where(AccountLink.token_hash == _digest(token[:100]))
    )


def is_open(link: AccountLink) -> bool:
    """Not used, not replaced, not expired."""
    return _is_open(link)


def use_once(link: AccountLink) -> bool:
    """Mark the link used, atomically; False when another request used it first (or it
    expired in the meantime)."""
    now = utcnow()
    used = db.session.execute(
        update(AccountLink)
        .where(AccountLink.id == link.id, AccountLink.used_at.is_(None))
        .where(AccountLink.expires_at > now)
        .values(used_at=now, nonce=None)
        .execution_options(synchronize_session=False)
    )
    return used.rowcount == 1


def _first_school(user: User) -> School | None:
    return db.session.scalar(
        select(School)
        .join(Membership, Membership.school_id == School.id)
        .where(Membership.user_id == user.id)
        .order_by(Membership.id)
        .limit(1)
    )


# ------------------------------------------------------------------ invitations


@dataclass(frozen=True)
class Invited:
    """One invitation sent: queued as mail, or (no SMTP) its URL to hand over once."""

    person: User
    handover_url: str | None = None


def _send_invitation(principal: Principal, person: User) -> Invited:
    link = issue(person, LinkPurpose.INVITE, principal.user)
    school = principal.school
    if mail.configured():
        subject, body = _invitation_mail(person, school)
        mail.enqueue(
            kind="invite",
            to=person,
            subject=subject,
            body=body,
            school_id=school.id,
            link=link,
        )
        delivery, handover = "mail", None
    else:
        handover = link_url(current_app, link)
        mail_sent(link)  # shown this once; nothing stored can show it again
        delivery = "hand-over"
    audit.record(
        "staff.invite_link",
        target=person,
        detail={"delivery": delivery, "expires_at": link.expires_at.isoformat()},
    )
    return Invited(person, handover)


def invite(principal: Principal, person: User) -> Invited:
    """Send one staff member a link to set their password (audited)."""
    staff.check_account_control(principal, person)
    if not person.active:
        raise InvalidInput(_("This account is deactivated; reactivate it before inviting."))
    return _send_invitation(principal, person)


def has_open_invitation(user_ids: list[int]) -> set[int]:
    """Which of these users have an invitation link that still works."""
    if not user_ids:
        return set()
    return set(
        db.session.scalars(
            select(AccountLink.user_id).where(
                AccountLink.user_id.in_(user_ids),
                AccountLink.purpose == LinkPurpose.INVITE,
                AccountLink.used_at.is_(None),
                AccountLink.expires_at > utcnow(),
            )
        )
    )


def without_sign_in(principal: Principal) -> list[User]:
    """Active staff of the school with no way to sign in yet, whose account this admin
    controls (shared.staff.check_account_control): no password, no working invitation,
    no link to a sign-in provider, and not of a domain whose provider has closed
    password sign-in (a password link would be of no use to them)."""
    people = [
        person
        for person, _roles in staff.school_staff(principal.school_id)
        if person.active
        and person.password_hash is None
        and not any(
            not chosen.password_sign_in
            for chosen in sso_providers.providers_for_email(person.email)
        )
    ]
    linked = set(
        db.session.scalars(
            select(SsoIdentity.user_id).where(
                SsoIdentity.user_id.in_([person.id for person in people])
            )
        )
    )
    people = [person for person in people if person.id not in linked]
    waiting = has_open_invitation([person.id for person in people])
    chosen = []
    for person in people:
        if person.id in waiting:
            continue
        try:
            staff.check_account_control(principal, person)
        except DomainError:
            continue
        chosen.append(person)
    return chosen


def invite_all(principal: Principal) -> list[Invited]:
    """Invite every staff member `without_sign_in` (one audit event each)."""
    return [_send_invitation(principal, person) for person in without_sign_in(principal)]


# ------------------------------------------------------------------ password resets


@dataclass(frozen=True)
class ResetAnswer:
    """What a reset request may tell the requester: nothing about the account."""

    mail_available: bool
    retry_after: int | None = None


def request_reset(email: str, client_address: str | None) -> ResetAnswer:
    """Queue a reset link for the account with this address, if there is an active one.

    The answer is the same whether there is or not. Throttled per address typed and per
    client address, counted whether the account exists or not.
    """
    if not mail.configured():
        return ResetAnswer(mail_available=False)
    email = staff.validate_email(email)
    attempt = count_reset_request(email, client_address)
    if attempt.retry_after is not None:
        audit.record("auth.reset_throttled", actor_label="anonymous")
        return ResetAnswer(True, attempt.retry_after)
    user = staff.find_user_by_email(email)
    if user is None or not user.active:
        audit.record("auth.reset_request", detail={"sent": False}, actor_label="anonymous")
        return ResetAnswer(True)
    link = issue(user, LinkPurpose.RESET)
    school = _first_school(user)
    subject, body = _reset_mail(user, school)
    mail.enqueue(
        kind="reset",
        to=user,
        subject=subject,
        body=body,
        school_id=school.id if school is not None else None,
        link=link,
    )
    audit.record(
        "auth.reset_request",
        school_id=school.id if school is not None else None,
        target=user,
        detail={"sent": True},
        actor_label="anonymous",
    )
    return ResetAnswer(True)


# ------------------------------------------------------------------ using a link


def open_link(token: str) -> AccountLink:
    """The link of this token if it still works; NotFound (404) or LinkGone (410)."""
    link = find_link(token)
    if link is None or link.user is None:
        raise NotFound(_("This link is not valid. Check that it was copied whole."))
    if not _is_open(link) or not link.user.active:
        raise LinkGone(_("This link was already used or has expired. Ask for a new one."))
    return link


def record_refusal(token: str) -> None:
    """Audit a refused use of a link (unknown, used, replaced, expired, or its account
    deactivated), in the request's transaction; never the token."""
    link = find_link(token)
    if link is None or link.user is None:
        audit.record("auth.link_refused", detail={"reason": "unknown"}, actor_label="anonymous")
        return
    reason = "used or replaced" if link.used_at is not None else "expired"
    if link.used_at is None and link.expires_at > utcnow():
        reason = "account deactivated"
    school = _first_school(link.user)
    audit.record(
        "auth.link_refused",
        school_id=school.id if school is not None else None,
        target=link.user,
        detail={"reason": reason, "purpose": link.purpose},
        actor_label="anonymous",
    )


def set_password(token: str, new_password: str, confirm: str) -> User:
    """Use the link once: set the password, end every session and every other link."""
    link = open_link(token)
    if new_password != confirm:
        raise InvalidInput(_("The two passwords are not the same."), field="confirm_password")
    problem = password_problem(new_password)
    if problem:
        raise InvalidInput(problem, field="new_password")
    if not use_once(link):  # another request used it in the meantime
        raise LinkGone(_("This link was already used or has expired. Ask for a new one."))
    now = utcnow()
    db.session.execute(
        update(AccountLink)
        .where(AccountLink.user_id == link.user_id, AccountLink.used_at.is_(None))
        .values(used_at=now, nonce=None)
        .execution_options(synchronize_session=False)
    )
    user = link.user
    user.password_hash = hash_password(new_password)
    end_user_sessions(user, "password")
    school = _first_school(user)
    audit.record(
        "auth.password_set",
        school_id=school.id if school is not None else None,
        target=user,
        detail={"via": link.purpose},
        actor_user=user,
    )
    return user

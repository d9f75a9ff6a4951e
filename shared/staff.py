"""Staff accounts at a school: add, invite, change roles, deactivate, reset a password.

A school admin manages accounts that belong only to their school. An account that
also works at another school can get or lose roles here, but only a district admin
may deactivate it or reset its password, so no school can take over another's staff.

Adding an address that already has an account (at another school, or none) tells the
school admin nothing about it, not even its name, and gives it no role here: it records
an invitation, which becomes roles here only when the person accepts it after signing
in, or when a district admin confirms it. A district admin adds such accounts directly.

The command line's `create-admin` never changes an existing account's password unless it
is told to (`--reset-password`), and then ends that account's sessions, as any reset does.
An account locked by failed sign-ins (shared/throttle.py) is unlocked by an admin here or
by `flask user unlock`; both are audited.
"""

import re
import secrets
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import func, select

from shared import audit, live, throttle
from shared.access import Principal
from shared.audit import Actor
from shared.errors import Conflict, Forbidden, InvalidInput, NotFound, Unavailable
from shared.extensions import db
from shared.models import ROLES, Membership, School, StaffInvitation, User
from shared.passwords import hash_password
from shared.sessions import end_user_sessions

EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
_TEMP_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def temporary_password() -> str:
    """A random password to read out or hand over once, e.g. 'k7qp-m2xd-9hfa'."""
    return "-".join("".join(secrets.choice(_TEMP_ALPHABET) for _ in range(4)) for _ in range(3))


def find_user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


def validate_email(email: str) -> str:
    email = email.strip().lower()
    if len(email) > 254 or not EMAIL_RE.match(email):
        raise InvalidInput(_("Enter a valid email address."), field="email")
    return email


def validate_roles(roles: list[str]) -> set[str]:
    chosen = set(roles)
    if not chosen or not chosen <= set(ROLES):
        raise InvalidInput(_("Choose at least one role."), field="roles")
    return chosen


def roles_at(user: User, school_id: int) -> set[str]:
    return {m.role for m in user.memberships if m.school_id == school_id}


def school_staff(school_id: int) -> list[tuple[User, list[str]]]:
    rows = db.session.execute(
        select(User, Membership.role)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.school_id == school_id)
        .order_by(User.name, User.id)
    ).all()
    people: dict[int, tuple[User, list[str]]] = {}
    for user, role in rows:
        people.setdefault(user.id, (user, []))[1].append(role)
    return [(user, sorted(roles, key=ROLES.index)) for user, roles in people.values()]


def school_member(school_id: int, user_id: int) -> User:
    user = db.session.scalar(
        select(User)
        .join(Membership, Membership.user_id == User.id)
        .where(User.id == user_id, Membership.school_id == school_id)
    )
    if user is None:
        raise NotFound(_("No such staff member at this school."))
    return user


def check_account_control(principal: Principal, person: User) -> None:
    """Only a district admin may change an account that reaches beyond this school."""
    if principal.user.is_district_admin:
        return
    elsewhere = any(m.school_id != principal.school_id for m in person.memberships)
    if elsewhere or person.is_district_admin:
        raise Forbidden(
            _("This account also works at another school; ask a district admin to change it.")
        )


@dataclass(frozen=True)
class Added:
    """What adding staff did: a new account (with its one-time password), an existing
    account given roles by a district admin, or an invitation (nothing else is said)."""

    person: User | None = None
    temporary_password: str | None = None
    invitation: StaffInvitation | None = None


def _grant(user: User, school_id: int, roles: set[str]) -> list[str]:
    """Give the user the roles at the school that they do not hold yet; the added ones."""
    added = sorted(roles - roles_at(user, school_id))
    for role in added:
        db.session.add(Membership(user_id=user.id, school_id=school_id, role=role))
    db.session.flush()
    db.session.refresh(user)
    return added


def add_staff(principal: Principal, *, email: str, name: str, roles: list[str]) -> Added:
    """Create a staff account with a temporary password, or invite an existing one."""
    email = validate_email(email)
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInput(_("Enter the person's name (up to 200 characters)."), field="name")
    chosen = validate_roles(roles)
    user = find_user_by_email(email)
    if user is None:
        temporary = temporary_password()
        user = User(email=email, name=name, password_hash=hash_password(temporary))
        db.session.add(user)
        db.session.flush()
        _grant(user, principal.school_id, chosen)
        audit.record(
            "staff.add",
            target=user,
            detail={"email": email, "roles": sorted(chosen), "new_account": True},
        )
        return Added(person=user, temporary_password=temporary)
    if roles_at(user, principal.school_id):
        raise Conflict(_("That person already has an account at this school."), field="email")
    if principal.user.is_district_admin:
        _grant(user, principal.school_id, chosen)
        audit.record(
            "staff.add",
            target=user,
            detail={"email": email, "roles": sorted(chosen), "new_account": False},
        )
        return Added(person=user)
    return Added(invitation=_invite(principal, user, email, chosen))


def _invite(principal: Principal, user: User, email: str, roles: set[str]) -> StaffInvitation:
    return invite_account(principal.school_id, user, email, roles, invited_by=principal.user)


def invite_account(
    school_id: int, user: User, email: str, roles: set[str], invited_by: User | None = None
) -> StaffInvitation:
    """Record (or renew, with these roles) a school's invitation for an existing account."""
    invitation = db.session.scalar(
        select(StaffInvitation).where(
            StaffInvitation.school_id == school_id, StaffInvitation.user_id == user.id
        )
    )
    if invitation is None:
        invitation = StaffInvitation(school_id=school_id, user_id=user.id)
        db.session.add(invitation)
    invitation.email = email
    invitation.roles = sorted(roles)
    invitation.invited_by_user_id = invited_by.id if invited_by is not None else None
    db.session.flush()
    # The target is the invitation: the school's log does not point at the account.
    audit.record(
        "staff.invite",
        school_id=school_id,
        target=invitation,
        detail={"email": email, "roles": sorted(roles)},
    )
    return invitation


def school_invitations(school_id: int) -> list[StaffInvitation]:
    """The school's pending invitations (shown by the address typed, nothing more)."""
    return list(
        db.session.scalars(
            select(StaffInvitation)
            .where(StaffInvitation.school_id == school_id)
            .order_by(StaffInvitation.email, StaffInvitation.id)
        )
    )


def my_invitations(user: User) -> list[StaffInvitation]:
    """Invitations waiting for the signed-in person."""
    return list(
        db.session.scalars(
            select(StaffInvitation)
            .where(StaffInvitation.user_id == user.id)
            .order_by(StaffInvitation.created_at, StaffInvitation.id)
        )
    )


def _my_invitation(user: User, invitation_id: int) -> StaffInvitation:
    invitation = db.session.scalar(
        select(StaffInvitation).where(
            StaffInvitation.id == invitation_id, StaffInvitation.user_id == user.id
        )
    )
    if invitation is None:
        raise NotFound(_("No such invitation for you."))
    return invitation


def answer_invitation(user: User, invitation_id: int, accept: bool) -> School:
    """The invited person accepts (the roles are theirs now) or declines; the school."""
    invitation = _my_invitation(user, invitation_id)
    school = invitation.school
    added = _grant(user, invitation.school_id, set(invitation.roles)) if accept else []
    audit.record(
        "staff.invitation_accept" if accept else "staff.invitation_decline",
        school_id=invitation.school_id,
        target=invitation,
        detail={"email": invitation.email, "roles": invitation.roles, "added": added},
    )
    db.session.delete(invitation)
    db.session.flush()
    return school


def school_invitation(school_id: int, invitation_id: int) -> StaffInvitation:
    invitation = db.session.scalar(
        select(StaffInvitation).where(
            StaffInvitation.id == invitation_id, StaffInvitation.school_id == school_id
        )
    )
    if invitation is None:
        raise NotFound(_("No such invitation at this school."))
    return invitation


def settle_invitation(principal: Principal, invitation_id: int, confirm: bool) -> None:
    """A district admin confirms an invitation (roles given now), or an admin cancels it."""
    invitation = school_invitation(principal.school_id, invitation_id)
    if confirm and not principal.user.is_district_admin:
        raise Forbidden(_("Only a district admin may add the account without its owner."))
    detail = {"email": invitation.email, "roles": invitation.roles}
    if confirm:
        user = db.session.get(User, invitation.user_id)
        detail["added"] = _grant(user, invitation.school_id, set(invitation.roles))
    audit.record(
        "staff.invitation_confirm" if confirm else "staff.invitation_cancel",
        target=invitation,
        detail=detail,
    )
    db.session.delete(invitation)
    db.session.flush()


def set_roles(principal: Principal, person: User, roles: list[str]) -> None:
    """Replace the person's roles at this school (at least one)."""
    chosen = validate_roles(roles)
    if person.id == principal.user.id and "admin" not in chosen and not person.is_district_admin:
        raise InvalidInput(_("You cannot remove your own admin role."))
    before = roles_at(person, principal.school_id)
    for membership in list(person.memberships):
        if membership.school_id == principal.school_id and membership.role not in chosen:
            person.memberships.remove(membership)
    if before - chosen:
        live.access_changed([principal.school_id])
    for role in sorted(chosen - before):
        person.memberships.append(Membership(school_id=principal.school_id, role=role))
    db.session.flush()
    audit.record(
        "staff.roles", target=person, detail={"before": sorted(before), "after": sorted(chosen)}
    )


def set_active(principal: Principal, person: User, active: bool) -> None:
    """Deactivate (ending every session at once) or reactivate an account."""
    if person.id == principal.user.id:
        raise InvalidInput(_("You cannot deactivate your own account."))
    check_account_control(principal, person)
    if person.active == active:
        return
    person.active = active
    if not active:
        end_user_sessions(person, "deactivated")
    audit.record("staff.activate" if active else "staff.deactivate", target=person)


def reset_password(principal: Principal, person: User) -> str:
    """Give the person a new temporary password; their sessions end."""
    check_account_control(principal, person)
    temporary = temporary_password()
    person.password_hash = hash_password(temporary)
    end_user_sessions(person, "reset")
    audit.record("staff.password_reset", target=person)
    return temporary


def create_admin(
    *,
    email: str,
    name: str,
    password: str,
    school_id: int | None,
    district: bool,
    reset_password: bool = False,
) -> User:
    """Create an admin account from the command line, or promote an existing one.

    An existing account is refused (`Conflict`) unless `reset_password`: its password is
    then replaced and every session it has ends, so a mistyped email never silently takes
    over someone's account and a copied cookie stops working.
    """
    email = validate_email(email)
    user = find_user_by_email(email)
    if user is not None and not reset_password:
        raise Conflict(
            f"An account with the email {email} exists already. Add --reset-password to give "
            "it this password (its sessions end) and the admin role.",
            field="email",
        )
    new_account = user is None
    if new_account:
        user = User(email=email, name=name.strip() or email)
        db.session.add(user)
    user.password_hash = hash_password(password)
    user.active = True
    user.is_district_admin = user.is_district_admin or district
    db.session.flush()
    if not new_account:
        end_user_sessions(user, "reset")
    if school_id is not None and "admin" not in roles_at(user, school_id):
        db.session.add(Membership(user_id=user.id, school_id=school_id, role="admin"))
    db.session.flush()
    audit.record(
        "staff.create_admin",
        school_id=school_id,
        target=user,
        detail={
            "email": email,
            "district": user.is_district_admin,
            "new_account": new_account,
            "password_reset": not new_account,
        },
        actor=audit.SYSTEM,
    )
    return user


def locked_for(person: User) -> int | None:
    """Seconds the account is still locked after too many failed sign-ins, or None."""
    return throttle.account_locked_for(person.email)


def unlock(person: User, *, actor: Actor, school_id: int | None = None) -> bool:
    """Let a throttled account sign in again now; whether it had failures counted.

    Audited whether or not it was locked (someone asked). `Unavailable` when Redis holds
    the counts and does not answer: the lock would stay while the answer said it was gone.
    """
    try:
        cleared = throttle.unlock_account(person.email)
    except throttle.RedisUnavailable as error:
        raise Unavailable(
            _("The sign-in limiter (Redis) does not answer; try again in a minute.")
        ) from error
    audit.record(
        "staff.unlock",
        school_id=school_id,
        target=person,
        detail={"email": person.email, "was_locked": cleared},
        actor=actor,
    )
    return cleared


def unlock_member(principal: Principal, person: User) -> bool:
    """An admin unlocks a staff member of their school (an account that reaches beyond
    it only by a district admin, as for a password reset)."""
    check_account_control(principal, person)
    return unlock(person, actor=audit.current_actor(), school_id=principal.school_id)

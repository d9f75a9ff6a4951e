"""Staff accounts at a school: add, change roles, deactivate, reset a password.

A school admin manages accounts that belong only to their school. An account that
also works at another school can get or lose roles here, but only a district admin
may deactivate it or reset its password, so no school can take over another's staff.
"""

import re
import secrets

from sqlalchemy import select

from shared import audit, live
from shared.access import Principal
from shared.auth import find_user_by_email
from shared.errors import Conflict, Forbidden, InvalidInput, NotFound
from shared.extensions import db
from shared.models import ROLES, Membership, User
from shared.passwords import hash_password
from shared.sessions import end_user_sessions

EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
_TEMP_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def temporary_password() -> str:
    """A random password to read out or hand over once, e.g. 'k7qp-m2xd-9hfa'."""
    return "-".join("".join(secrets.choice(_TEMP_ALPHABET) for _ in range(4)) for _ in range(3))


def validate_email(email: str) -> str:
    email = email.strip().lower()
    if len(email) > 254 or not EMAIL_RE.match(email):
        raise InvalidInput("Enter a valid email address.", field="email")
    return email


def validate_roles(roles: list[str]) -> set[str]:
    chosen = set(roles)
    if not chosen or not chosen <= set(ROLES):
        raise InvalidInput("Choose at least one role.", field="roles")
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
        raise NotFound("No such staff member at this school.")
    return user


def _check_account_control(principal: Principal, person: User) -> None:
    """Only a district admin may change an account that reaches beyond this school."""
    if principal.user.is_district_admin:
        return
    elsewhere = any(m.school_id != principal.school_id for m in person.memberships)
    if elsewhere or person.is_district_admin:
        raise Forbidden(
            "This account also works at another school; ask a district admin to change it."
        )


def add_staff(
    principal: Principal, *, email: str, name: str, roles: list[str]
) -> tuple[User, str | None]:
    """Create a staff account with a temporary password, or add roles to an existing one."""
    email = validate_email(email)
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInput("Enter the person's name (up to 200 characters).", field="name")
    chosen = validate_roles(roles)
    user = find_user_by_email(email)
    temporary = None
    if user is None:
        temporary = temporary_password()
        user = User(email=email, name=name, password_hash=hash_password(temporary))
        db.session.add(user)
        db.session.flush()
    elif roles_at(user, principal.school_id):
        raise Conflict("That person already has an account at this school.", field="email")
    for role in sorted(chosen):
        db.session.add(Membership(user_id=user.id, school_id=principal.school_id, role=role))
    db.session.flush()
    db.session.refresh(user)
    audit.record(
        "staff.add",
        target=user,
        detail={"email": email, "roles": sorted(chosen), "new_account": temporary is not None},
    )
    return user, temporary


def set_roles(principal: Principal, person: User, roles: list[str]) -> None:
    """Replace the person's roles at this school (at least one)."""
    chosen = validate_roles(roles)
    if person.id == principal.user.id and "admin" not in chosen and not person.is_district_admin:
        raise InvalidInput("You cannot remove your own admin role.")
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
        raise InvalidInput("You cannot deactivate your own account.")
    _check_account_control(principal, person)
    if person.active == active:
        return
    person.active = active
    if not active:
        end_user_sessions(person, "deactivated")
    audit.record("staff.activate" if active else "staff.deactivate", target=person)


def reset_password(principal: Principal, person: User) -> str:
    """Give the person a new temporary password; their sessions end."""
    _check_account_control(principal, person)
    temporary = temporary_password()
    person.password_hash = hash_password(temporary)
    end_user_sessions(person, "reset")
    audit.record("staff.password_reset", target=person)
    return temporary


def create_admin(
    *, email: str, name: str, password: str, school_id: int | None, district: bool
) -> User:
    """Create (or promote) an admin account from the command line."""
    email = validate_email(email)
    user = find_user_by_email(email)
    if user is None:
        user = User(email=email, name=name.strip() or email)
        db.session.add(user)
    user.password_hash = hash_password(password)
    user.active = True
    user.is_district_admin = user.is_district_admin or district
    db.session.flush()
    if school_id is not None and "admin" not in roles_at(user, school_id):
        db.session.add(Membership(user_id=user.id, school_id=school_id, role="admin"))
    db.session.flush()
    audit.record(
        "staff.create_admin",
        school_id=school_id,
        target=user,
        detail={"email": email, "district": user.is_district_admin},
    )
    return user

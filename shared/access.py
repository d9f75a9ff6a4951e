"""Who is asking, and may they: the one mechanism behind every view's access check.

Each request is made by a *principal*: a signed-in staff member acting at one school
with the roles they hold there, or a paired device bound to one school (and maybe one
room). Views declare who may call them with `@access(...)`; one `before_request` hook
enforces it for every endpoint, and a view without a declaration is refused.

    @access("admin", "office")                  # roles at the current school
    @access("teacher", "device:kiosk")          # a role or a paired device kind
    @access("user")                             # any signed-in staff member
    @public                                     # anyone, signed in or not
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import abort, current_app, flash, g, redirect, request, session, url_for
from flask_login import current_user
from sqlalchemy import bindparam, select

from shared.extensions import db
from shared.models import DEVICE_KINDS, ROLES, Device, Membership, School, User

ANY_USER = "user"
PUBLIC = "public"
DEVICE_PREFIX = "device:"
#: Cookie holding a paired device's secret; it outlives staff sessions on that browser.
DEVICE_COOKIE = "passline_device"
VALID_RULES = {ANY_USER, *ROLES, *(DEVICE_PREFIX + kind for kind in DEVICE_KINDS)}


@dataclass
class Principal:
    """The caller of the current request."""

    school: School | None
    user: User | None = None
    roles: frozenset[str] = frozenset()
    device: Device | None = None
    #: Schools the user may switch to (id, name), for the school picker.
    schools: list[tuple[int, str]] = field(default_factory=list)

    @property
    def school_id(self) -> int | None:
        return self.school.id if self.school is not None else None

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    def satisfies(self, rules: frozenset[str]) -> bool:
        if self.device is not None:
            return DEVICE_PREFIX + self.device.kind in rules
        if self.user is None:
            return False
        return ANY_USER in rules or bool(self.roles & rules)


def access(*rules: str) -> Callable:
    """Declare which principals may call a view (see the module docstring)."""
    unknown = set(rules) - VALID_RULES
    if unknown or not rules:
        raise ValueError(f"unknown access rules: {sorted(unknown) or 'none given'}")

    def decorate(view: Callable) -> Callable:
        view.access_rules = frozenset(rules)
        return view

    return decorate


def public(view: Callable) -> Callable:
    """Declare a view open to anyone (sign-in page, pairing page, health check)."""
    view.access_rules = frozenset({PUBLIC})
    return view


def current_principal() -> Principal | None:
    return g.get("principal")


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


#: Built once: every request of a paired device runs it (polls many times a minute).
_DEVICE_AND_SCHOOL = (
    select(Device, School)
    .join(School, School.id == Device.school_id)
    .where(Device.secret_hash == bindparam("secret_hash"))
)


def _load_device() -> tuple[Device, School] | None:
    """The paired device this browser is and its school, from its device cookie (one query)."""
    secret = request.cookies.get(DEVICE_COOKIE)
    if not secret:
        return None
    row = db.session.execute(_DEVICE_AND_SCHOOL, {"secret_hash": secret_digest(secret)}).first()
    if row is None or row.Device.is_revoked:
        g.forget_device = True  # the cookie is deleted on the way out
        return None
    return row.Device, row.School


def _user_principal(user: User) -> Principal:
    """The user at their current school, with their schools and roles (one query)."""
    query = select(School, Membership.role).outerjoin(
        Membership, (Membership.school_id == School.id) & (Membership.user_id == user.id)
    )
    if not user.is_district_admin:
        query = query.where(Membership.user_id == user.id)
    rows = db.session.execute(query.order_by(School.name, School.id)).all()
    schools: dict[int, School] = {}
    roles_at: dict[int, set[str]] = {}
    for school, role in rows:
        schools[school.id] = school
        roles_at.setdefault(school.id, set()).update([role] if role else [])
    wanted = session.get("school_id")
    school = schools.get(wanted) or next(iter(schools.values()), None)
    roles = roles_at.get(school.id, set()) if school is not None else set()
    if user.is_district_admin and school is not None:
        roles.add("admin")
    return Principal(
        school=school,
        user=user,
        roles=frozenset(roles),
        schools=[(s.id, s.name) for s in schools.values()],
    )


def load_principal() -> None:
    """before_request: work out who is calling."""
    found = _load_device()
    if found is not None:
        device, school = found
        g.principal = Principal(school=school, device=device)
    elif current_user.is_authenticated:
        g.principal = _user_principal(current_user._get_current_object())
    else:
        g.principal = None


def request_rules() -> frozenset[str]:
    """The access rules the view of this request declares (none for an unknown endpoint)."""
    view = current_app.view_functions.get(request.endpoint)
    return getattr(view, "access_rules", frozenset())


def enforce_access():
    """before_request: refuse the request unless the view's rules admit the caller."""
    if request.endpoint is None or request.endpoint == "static":
        return None
    rules = request_rules()
    if PUBLIC in rules:
        return None
    principal = current_principal()
    if principal is None:
        if request.method == "GET" and not request.htmx:
            if g.get("session_timed_out"):
                flash("You were signed out after a while without activity. Sign in again.", "info")
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        abort(401)
    if not rules or not principal.satisfies(rules):
        abort(403)
    if principal.user is not None and principal.school is None and ANY_USER not in rules:
        abort(403)
    return None

"""Who is asking, and may they: the one mechanism behind every view's access check.

Each request is made by a *principal*: a signed-in staff member acting at one school
with the roles they hold there, or a paired device bound to one school (and maybe one
room). An archived school (shared/schools.py) is nobody's: it is not among a user's
schools, and its devices are refused until it is restored.

Views declare who may call them with `@access(...)`; one `before_request` hook
enforces it for every endpoint, and a view without a declaration is refused.

    @access("admin", "office")                  # roles at the current school
    @access("teacher", "device:kiosk")          # a role or a paired device kind
    @access("user")                             # any signed-in staff member
    @access("district")                         # a district admin (with or without a school)
    @access("guardian")                         # a guardian, on their family's page
    @public                                     # anyone, signed in or not

A guardian (shared/family_sessions.py) is a caller of one family at one school: signed in
on their phone with a link mailed to them, never with a password. Views for guardians
load the family's records through `g.principal.guardian.family_id` only.

A substitute (shared/substitutes.py) is a caller for one day at one school: signed in with
a one-time code the office gave them, they act as the absent teacher's stand-in, with the
teacher role only (`SUBSTITUTE_ROLES`) and the teacher's rooms and classes only (the room
rule reads `principal.user`, the absent teacher). They never pass an "any signed-in staff
member" rule (account pages, the dashboard) nor reach `SUBSTITUTE_REFUSED` endpoints.

It also holds the two record rules every blueprint shares: `school_record` loads a row of
the caller's school (404 for a missing id, a malformed one, or another school's; `of_school`
checks a row found another way), and
`may_watch_room` / `watched_room` say which rooms a caller may watch (a room's passes,
requests and dismissal calls).

It stays one module because the principal, the gate and the scope checks are one rule
read together (who is asking decides what they may reach).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TypeVar
from urllib.parse import urlsplit

from flask import abort, current_app, flash, g, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user
from htmx_flask import make_response as htmx_response
from sqlalchemy import ColumnElement, Select, bindparam, false, select, true, update

from shared.database import write_now
from shared.errors import Forbidden, InvalidInput, NotFound
from shared.extensions import db
from shared.forms import MAX_ID
from shared.models import (
    DEVICE_KINDS,
    ROLES,
    Device,
    Family,
    Guardian,
    GuardianSession,
    LiveVersion,
    Membership,
    Room,
    School,
    SchoolClass,
    SubstituteAssignment,
    User,
)
from shared.schedule import taught_room_ids
from shared.timeutil import utcnow

ANY_USER = "user"
DISTRICT = "district"
GUARDIAN = "guardian"
PUBLIC = "public"
DEVICE_PREFIX = "device:"
#: Cookie holding a paired device's secret; it outlives staff sessions on that browser.
DEVICE_COOKIE = "passline_device"
#: Cookie holding a guardian's family session token (shared/family_sessions.py).
FAMILY_COOKIE = "passline_family"
#: Cookie holding a substitute's day session token (shared/substitutes.py).
SUBSTITUTE_COOKIE = "passline_substitute"
#: The only roles a substitute has: a teacher's, on the absent teacher's rooms.
SUBSTITUTE_ROLES = frozenset({"teacher"})
#: Teacher routes a substitute may not use: what they would make outlives their day
#: (a paired kiosk or classroom display keeps working after the substitute is gone).
SUBSTITUTE_REFUSED = frozenset({"devices.new_pairing_code"})
VALID_RULES = {
    ANY_USER,
    DISTRICT,
    GUARDIAN,
    *ROLES,
    *(DEVICE_PREFIX + kind for kind in DEVICE_KINDS),
}
#: The live-update topic that every narrowing of access at a school bumps
#: (`live.access_changed`): a revoked device, an ended session, a changed role.
ACCESS_TOPIC = "access"


@dataclass
class Principal:
    """The caller of the current request."""

    school: School | None
    user: User | None = None
    roles: frozenset[str] = frozenset()
    device: Device | None = None
    #: A guardian signed in to their family's page (one family, one school).
    guardian: Guardian | None = None
    #: The guardian's open session (to end it on sign-out).
    guardian_session: GuardianSession | None = None
    #: Schools the user may switch to (id, name), for the school picker.
    schools: list[tuple[int, str]] = field(default_factory=list)
    #: A substitute for the day; `user` is then the absent teacher they stand in for.
    substitute: SubstituteAssignment | None = None

    @property
    def school_id(self) -> int | None:
        return self.school.id if self.school is not None else None

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    def satisfies(self, rules: frozenset[str]) -> bool:
        if self.device is not None:
            return DEVICE_PREFIX + self.device.kind in rules
        if self.guardian is not None:
            return GUARDIAN in rules
        if self.substitute is not None:  # never "user" nor "district": a role rule only
            return bool(SUBSTITUTE_ROLES & rules)
        if self.user is None:
            return False
        if DISTRICT in rules and self.user.is_district_admin:
            return True
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


def access_version_column(school_id):
    """The school's access version as a column of the query that loads the caller.

    The decision that admits a caller and the access version it was made under then come
    from one snapshot of the database: the version can never be newer than what the
    decision saw, so a later change of access is always noticed (shared/poll_shortcut.py).
    """
    return (
        select(LiveVersion.version)
        .where(LiveVersion.school_id == school_id, LiveVersion.topic == ACCESS_TOPIC)
        .scalar_subquery()
    )


def note_access_version(school_id: int, version: int | None) -> None:
    """Remember the access version read with this request's caller (the first one read:
    every decision about the caller comes after it)."""
    g.setdefault("access_version", (school_id, version or 0))


def access_version_seen(school_id: int) -> int | None:
    """The school's access version read with this request's caller, if it was read."""
    seen = g.get("access_version")
    return seen[1] if seen is not None and seen[0] == school_id else None


#: Built once: every request of a paired device runs it (polls many times a minute).
_DEVICE_AND_SCHOOL = (
    select(Device, School, access_version_column(Device.school_id).label("access_version"))
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
    if row.School.archived_at is not None:
        return None  # refused while archived; it works again if the school is restored
    note_access_version(row.School.id, row.access_version)
    return row.Device, row.School


#: Built once: a guardian's phone polls its family page.
_GUARDIAN_AND_SCHOOL = (
    select(
        GuardianSession,
        Guardian,
        School,
        Family.active.label("family_active"),
        access_version_column(GuardianSession.school_id).label("access_version"),
    )
    .join(Guardian, Guardian.id == GuardianSession.guardian_id)
    .join(Family, Family.id == Guardian.family_id)
    .join(School, School.id == GuardianSession.school_id)
    .where(GuardianSession.token_hash == bindparam("token_hash"))
)
#: A guardian's last_seen_at is written at most this often.
GUARDIAN_SEEN_EVERY = timedelta(hours=1)


def _load_guardian() -> Principal | None:
    """The guardian this phone is signed in as, from its family cookie (one query)."""
    token = request.cookies.get(FAMILY_COOKIE)
    if not token:
        return None
    row = db.session.execute(_GUARDIAN_AND_SCHOOL, {"token_hash": secret_digest(token)}).first()
    if row is None or row.GuardianSession.ended_at is not None:
        g.forget_family = True
        return None
    found = row.GuardianSession
    now = utcnow()
    days = current_app.config["FAMILY_SESSION_DAYS"]
    if now - found.created_at > timedelta(days=days):
        write_now(
            db.session,
            update(GuardianSession)
            .where(GuardianSession.id == found.id, GuardianSession.ended_at.is_(None))
            .values(ended_at=now, end_reason="expired"),
        )
        g.forget_family = True
        return None
    if row.School.archived_at is not None or not row.family_active:
        return None
    note_access_version(row.School.id, row.access_version)
    if now - found.last_seen_at >= GUARDIAN_SEEN_EVERY:
        write_now(
            db.session,
            update(GuardianSession).where(GuardianSession.id == found.id).values(last_seen_at=now),
        )
    return Principal(school=row.School, guardian=row.Guardian, guardian_session=found)


#: Built once: a substitute's tablet polls its room.
_SUBSTITUTE_AND_SCHOOL = (
    select(
        SubstituteAssignment,
        School,
        User,
        access_version_column(SubstituteAssignment.school_id).label("access_version"),
    )
    .join(School, School.id == SubstituteAssignment.school_id)
    .join(User, User.id == SubstituteAssignment.teacher_id)
    .where(SubstituteAssignment.session_token_hash == bindparam("token_hash"))
)


def _load_substitute() -> Principal | None:
    """The substitute this browser is signed in as, from its cookie (one query).

    Refused (and the cookie forgotten) once the day is over or the office revoked it;
    refused while the school is archived or the absent teacher's account is deactivated.
    """
    token = request.cookies.get(SUBSTITUTE_COOKIE)
    if not token:
        return None
    row = db.session.execute(_SUBSTITUTE_AND_SCHOOL, {"token_hash": secret_digest(token)}).first()
    found = row.SubstituteAssignment if row is not None else None
    if found is None or found.revoked_at is not None or found.expires_at <= utcnow():
        g.forget_substitute = True
        return None
    if row.School.archived_at is not None or not row.User.active:
        return None
    note_access_version(row.School.id, row.access_version)
    return Principal(
        school=row.School,
        user=row.User,
        roles=SUBSTITUTE_ROLES,
        schools=[(row.School.id, row.School.name)],
        substitute=found,
    )


def _user_principal(user: User) -> Principal:
    """The user at their current school, with their schools and roles (one query)."""
    query = (
        select(School, Membership.role)
        .outerjoin(
            Membership, (Membership.school_id == School.id) & (Membership.user_id == user.id)
        )
        .where(School.archived_at.is_(None))  # an archived school is nobody's to act at
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
        g.principal = _load_substitute() or _load_guardian()


def request_rules() -> frozenset[str]:
    """The access rules the view of this request declares (none for an unknown endpoint)."""
    view = current_app.view_functions.get(request.endpoint)
    return getattr(view, "access_rules", frozenset())


def is_static_file(endpoint: str | None) -> bool:
    """The app's or a blueprint's static files (scripts, styles): public, no access rules."""
    return endpoint is not None and (endpoint == "static" or endpoint.endswith(".static"))


def _say_why_signed_out() -> None:
    if g.get("session_timed_out"):
        flash(_("You were signed out after a while without activity. Sign in again."), "info")


def _say_substitute_ended() -> None:
    flash(_("Your substitute access has ended. Ask the office if you need a new code."), "info")


def _sign_in_again_from_htmx():
    """A tap or a poll on a page whose session ended (timed out, signed out elsewhere,
    revoked): 401, and htmx takes the whole browser to sign-in, then back to that page.

    Without this the page kept showing the teacher's name while every tap failed. A
    browser that holds a device cookie (a kiosk or a TV whose pairing ended) goes to the
    pairing page instead. The page to come back to is the one htmx says it is on
    (`HX-Current-URL`); sign-in only follows a path of this site.
    """
    if request.cookies.get(DEVICE_COOKIE):
        target = url_for("devices.pair")
    elif request.cookies.get(SUBSTITUTE_COOKIE):  # a substitute whose day or access ended
        _say_substitute_ended()
        target = url_for("substitutes.sign_in")
    else:
        _say_why_signed_out()
        page = urlsplit(request.htmx.current_url or "")
        back = page.path + (f"?{page.query}" if page.query else "")
        target = url_for("auth.login", next=back or None)
    response = htmx_response(_("Please sign in again."), redirect=target)
    response.status_code = 401
    return response


def enforce_access():
    """before_request: refuse the request unless the view's rules admit the caller."""
    if request.endpoint is None or is_static_file(request.endpoint):
        return None
    rules = request_rules()
    if PUBLIC in rules:
        return None
    principal = current_principal()
    if principal is None:
        if rules == {GUARDIAN}:  # a family page: the guardian signs in with a mailed link
            if request.htmx:
                response = htmx_response(
                    _("Please sign in again."), redirect=url_for("family_sign_in.start")
                )
                response.status_code = 401
                return response
            if request.method == "GET":
                return redirect(url_for("family_sign_in.start"))
            abort(401)
        if request.htmx:
            return _sign_in_again_from_htmx()
        if request.method == "GET" and request.cookies.get(SUBSTITUTE_COOKIE):
            _say_substitute_ended()
            return redirect(url_for("substitutes.sign_in"))
        if request.method == "GET":
            _say_why_signed_out()
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        abort(401)
    if not rules or not principal.satisfies(rules):
        abort(403)
    if principal.substitute is not None and request.endpoint in SUBSTITUTE_REFUSED:
        abort(403)
    # Views for a school need one; a district admin's district pages do not.
    if principal.user is not None and principal.school is None and not {ANY_USER, DISTRICT} & rules:
        abort(403)
    return None


# ------------------------------------------------------------------ records and rooms

_M = TypeVar("_M")
#: Roles that may watch every room of their school; other staff watch the rooms they teach in.
ROOM_WATCH_ROLES = ("admin", "office")


def _record_id(record_id: object) -> int | None:
    """An id from a URL, a form or code as an int; None when it cannot be a row's id.

    A whole number beyond the id columns is refused with `InvalidInput` (400, the
    answer the database's own range error gets), the same on SQLite and PostgreSQL.
    """
    if isinstance(record_id, bool):
        return None
    if isinstance(record_id, str):
        text = record_id.strip()
        if not (text.isascii() and text.isdigit()):
            return None
        record_id = int(text[:40]) if len(text) <= 40 else MAX_ID + 1
    if not isinstance(record_id, int) or record_id < 1:
        return None
    if record_id > MAX_ID:
        raise InvalidInput(_("A number in the request is out of range."))
    return record_id


def school_record(model: type[_M], record_id: object, school_id: int, message: str = "") -> _M:
    """The `model` row with this id if it belongs to school `school_id`; else `NotFound`.

    A missing row, another school's row and an id that cannot be one (None, "abc",
    "-1", 0) are all the same 404, so a caller learns nothing about other schools' data;
    a number beyond the id column is a 400 (`InvalidInput`), as the database would say.
    `NotFound` is a `DomainError`: in a request it is answered 404 with `message` (or
    the usual "There is nothing here." page, exactly as `abort(404)` would); in a
    service it can be caught like any failed rule.
    """
    if not hasattr(model, "school_id"):
        raise TypeError(f"{model.__name__} has no school_id: load it through its parent")
    key = _record_id(record_id)
    return of_school(db.session.get(model, key) if key is not None else None, school_id, message)


def of_school(row: _M | None, school_id: int, message: str = "") -> _M:
    """`row` if it is there and belongs to school `school_id`; else `NotFound` (as above).

    For a row found some other way than by its id (a token, a join): the same rule and
    the same 404 as `school_record`.
    """
    if row is None or row.school_id != school_id:
        raise NotFound(message or _("There is nothing here."))
    return row


def _rooms_watched(principal: Principal) -> bool | int | Select:
    """THE room rule: which rooms of their school this caller may watch.

    Office and admins: every room (True). A paired device: only the room it is bound to
    (its id; False when it has none). Any other staff member: the rooms where they teach
    a class (a subquery of room ids). Nobody else: none (False).
    """
    if principal.device is not None:
        return principal.device.room_id if principal.device.room_id is not None else False
    if principal.has_role(*ROOM_WATCH_ROLES):
        return True
    if principal.user is None:
        return False
    return taught_room_ids(principal.user.id)


def _room_watch_clause(principal: Principal) -> ColumnElement[bool]:
    """The room rule as SQL over `Room.id` (the school is checked apart)."""
    rule = _rooms_watched(principal)
    if rule is True:
        return true()
    if rule is False:
        return false()
    if isinstance(rule, int):
        return Room.id == rule
    return Room.id.in_(rule)


def may_watch_room(room: Room | None, principal: Principal | None = None) -> bool:
    """May the caller (default: this request's) watch `room`: its passes, requests, calls?

    Never a room of another school; otherwise as `_rooms_watched` says (a query only for
    a teacher, to look at their classes).
    """
    principal = principal or current_principal()
    if principal is None or room is None or room.school_id != principal.school_id:
        return False
    rule = _rooms_watched(principal)
    if isinstance(rule, bool):
        return rule
    if isinstance(rule, int):
        return rule == room.id
    return bool(db.session.scalar(select(rule.where(SchoolClass.room_id == room.id).exists())))


def watched_room(room_id: object, principal: Principal | None = None) -> Room:
    """The room with this id, for a caller who may watch it (one query: room and rule).

    `NotFound` (404) for no such room at the caller's school, `Forbidden` (403) for a
    room of the school the caller may not watch (see `may_watch_room`).
    """
    principal = principal or current_principal()
    key = _record_id(room_id)
    found = None
    if key is not None and principal is not None:
        found = db.session.execute(
            select(Room, _room_watch_clause(principal).label("may_watch")).where(Room.id == key)
        ).first()
    if found is None or found.Room.school_id != principal.school_id:
        raise NotFound(_("There is nothing here."))
    if not found.may_watch:
        raise Forbidden(_("You do not have access to this page."))
    return found.Room

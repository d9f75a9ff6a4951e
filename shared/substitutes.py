"""Substitutes: a day's access to an absent teacher's rooms and classes, and nothing else.

The office (or an admin) names the absent teacher and the substitute; passline makes a
`SubstituteAssignment` for the school's current local day and a one-time sign-in code
that is shown once, to read out or print. The substitute types the code on the classroom
tablet (`/substitute`): the code is used up in one conditional UPDATE (two tablets typing
it at once cannot both win) and the browser gets a random session token of its own.

From then on the browser is a caller of its own (shared/access.py, `_load_substitute`):
the teacher role only, acting for the absent teacher, so the room rule (`may_watch_room`,
`taught_room_ids`) gives exactly that teacher's rooms and classes and the reports scope
exactly that teacher's students; no admin or office page, no account page, no pairing.
The session ends at the end of the day in the school's time zone (`expires_at`, checked on
every request), when the office revokes it, or when the office gives a new code (the old
code and the old session stop working at once); every narrowing bumps the school's
access topic, so no live poll keeps an old decision (shared/poll_shortcut.py).

Everything the substitute does is audited with the label "substitute: <name> for <email>"
and `substitute_id` in the detail (shared/audit.py); a pass they issue keeps
`substitute_id`, so the pass list and the reports mark it "sub".

Codes are 8 letters and digits (no look-alikes), stored as an HMAC keyed by SECRET_KEY
(a stolen table cannot be tried offline), and attempts are throttled per client address
like passwords (shared/throttle.py).

When the office gives an email address and the server sends mail (SMTP_HOST), the code
also goes out by mail, through the outbox (shared/mail.py), as account links do: each
code is derived from a random nonce by an HMAC keyed by SECRET_KEY, the nonce is kept
only until the mail is sent (`code_nonce`), and the sender rebuilds the code from it, so
neither the outbox nor the row ever holds the code, and nothing rebuilds it once the mail
is out. A mail still waiting when its code was used, replaced, revoked or expired is not
sent.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from flask import Flask, current_app, url_for
from flask_babel import force_locale, lazy_gettext
from flask_babel import gettext as _
from sqlalchemy import select, update

from shared import audit, live, mail
from shared.access import Principal, school_record, secret_digest
from shared.audit import Actor
from shared.errors import Conflict, InvalidInput, NotFound
from shared.extensions import db
from shared.i18n import mail_locale
from shared.models import Membership, School, SubstituteAssignment, User
from shared.pairing import CODE_ALPHABET, CODE_LENGTH, format_code, normalise_code
from shared.schedule import school_day_bounds, school_today
from shared.staff import EMAIL_RE
from shared.timeutil import utcnow

NAME_MAX = 100
CONTACT_MAX = 254
#: How the office's list names where an assignment stands.
STATUS_LABELS = {
    "waiting": lazy_gettext("code not used yet"),
    "signed_in": lazy_gettext("signed in"),
    "revoked": lazy_gettext("ended by the office"),
    "expired": lazy_gettext("day over"),
}


def _code_digest(code: str, app: Flask | None = None) -> str:
    """The stored form of a sign-in code: an HMAC keyed by SECRET_KEY."""
    key = (app or current_app).config["SECRET_KEY"].encode()
    return hmac.new(key, b"passline substitute code:" + code.encode(), hashlib.sha256).hexdigest()


def _code_from(app: Flask, nonce: str) -> str:
    """The code a nonce stands for: an HMAC keyed by SECRET_KEY, read in CODE_ALPHABET."""
    key = app.config["SECRET_KEY"].encode()
    mac = hmac.new(key, b"passline substitute nonce:" + nonce.encode(), hashlib.sha256)
    number, letters = int.from_bytes(mac.digest()), []
    for _i in range(CODE_LENGTH):
        number, index = divmod(number, len(CODE_ALPHABET))
        letters.append(CODE_ALPHABET[index])
    return "".join(letters)


def _new_code(assignment: SubstituteAssignment) -> str:
    """A fresh code for the assignment: its hash stored, its nonce kept only to mail it."""
    nonce = secrets.token_urlsafe(32)
    code = _code_from(current_app, nonce)
    assignment.code_hash = _code_digest(code)
    assignment.code_used_at = None
    assignment.code_nonce = nonce if _mailable(assignment.contact) else None
    return code


def _mailable(contact: str) -> bool:
    """The contact is an email address and this server sends mail."""
    return bool(EMAIL_RE.match(contact or "")) and mail.configured()


def _sign_in_url() -> str:
    """The substitutes' sign-in page at PUBLIC_URL (a mail is read elsewhere), else at the
    address the office is using."""
    public = current_app.config.get("PUBLIC_URL")
    if public:
        return public.rstrip("/") + url_for("substitutes.sign_in")
    return url_for("substitutes.sign_in", _external=True)


def _mail_code(school: School, assignment: SubstituteAssignment) -> None:
    """Queue the mail with the code (the sender puts it where `mail.CODE_MARK` is)."""
    with force_locale(mail_locale(None, school)):
        subject = _("Your substitute sign-in at %(school)s", school=school.name)
        body = _(
            "Hello %(name)s,\n\n"
            "You are a substitute at %(school)s today, for the classes of %(teacher)s. On "
            "the classroom\ntablet, open\n\n%(url)s\n\nand type this code:\n\n%(code)s\n\n"
            "It works once, today only. If you did not expect this mail, ignore it.\n",
            name=assignment.name,
            school=school.name,
            teacher=assignment.teacher.name,
            url=_sign_in_url(),
            code=mail.CODE_MARK,
        )
    mail.enqueue(kind="substitute", to=assignment, subject=subject, body=body, school_id=school.id)


def mail_code(app: Flask, assignment: SubstituteAssignment) -> str | None:
    """For the sender: the code to mail, while it can still be used and rebuilt."""
    if (
        assignment.code_nonce is None
        or assignment.code_used_at is not None
        or assignment.revoked_at is not None
        or assignment.expires_at <= utcnow()
    ):
        return None
    code = _code_from(app, assignment.code_nonce)
    if _code_digest(code, app) != assignment.code_hash:  # SECRET_KEY changed since
        return None
    return format_code(code)


def code_mailed(assignment: SubstituteAssignment) -> None:
    """The mail with the code went out: forget how to rebuild it."""
    assignment.code_nonce = None


def absent_teacher_choices(school: School) -> list[User]:
    """The active teachers of the school, by name: whom a substitute may stand in for."""
    return list(
        db.session.scalars(
            select(User)
            .join(Membership, Membership.user_id == User.id)
            .where(
                Membership.school_id == school.id,
                Membership.role == "teacher",
                User.active.is_(True),
            )
            .order_by(User.name, User.id)
        )
    )


def _teacher_of(school: School, teacher_id: object) -> User:
    """An active teacher of the school by id (from a form), else a clear 400."""
    chosen = next(
        (t for t in absent_teacher_choices(school) if str(t.id) == str(teacher_id).strip()), None
    )
    if chosen is None:
        raise InvalidInput(_("Choose the absent teacher."), field="teacher_id")
    return chosen


@dataclass(frozen=True)
class Created:
    """A new assignment and its code, to show once (never stored in clear)."""

    assignment: SubstituteAssignment
    code: str
    #: The code also went to the substitute's email address (through the outbox).
    mailed: bool = False

    @property
    def shown_code(self) -> str:
        return format_code(self.code)


def create(
    school: School,
    actor: Actor,
    *,
    teacher_id: object,
    name: str,
    contact: str = "",
    now: datetime | None = None,
) -> Created:
    """A substitute for today (the school's local day) for one absent teacher, with a code
    (also mailed when `contact` is an email address and the server sends mail)."""
    now = now or utcnow()
    teacher = _teacher_of(school, teacher_id)
    name = " ".join((name or "").split())
    if not name or len(name) > NAME_MAX:
        raise InvalidInput(
            _("Give the substitute's name (1 to %(num)d characters).", num=NAME_MAX), field="name"
        )
    contact = (contact or "").strip()
    if len(contact) > CONTACT_MAX:
        raise InvalidInput(
            _("An email or phone number has at most %(num)d characters.", num=CONTACT_MAX),
            field="contact",
        )
    day = school_today(school, now)
    assignment = SubstituteAssignment(
        school_id=school.id,
        teacher=teacher,
        day=day,
        name=name,
        contact=contact,
        expires_at=school_day_bounds(school, day)[1],
        created_by_id=actor.user.id if actor.user is not None else None,
        created_at=now,
    )
    code = _new_code(assignment)
    db.session.add(assignment)
    db.session.flush()
    mailed = assignment.code_nonce is not None
    if mailed:
        _mail_code(school, assignment)
    audit.record(
        "substitute.create",
        school_id=school.id,
        actor=actor,
        target=assignment,
        detail={"teacher_id": teacher.id, "day": day.isoformat(), "name": name, "mailed": mailed},
    )
    return Created(assignment, code, mailed)


def of_today(school: School, now: datetime | None = None) -> list[SubstituteAssignment]:
    """The school's substitutes of today (local day), newest first."""
    return list(
        db.session.scalars(
            select(SubstituteAssignment)
            .where(
                SubstituteAssignment.school_id == school.id,
                SubstituteAssignment.day == school_today(school, now),
            )
            .order_by(SubstituteAssignment.created_at.desc(), SubstituteAssignment.id.desc())
        )
    )


def status(assignment: SubstituteAssignment, now: datetime | None = None) -> str:
    """Where it stands: waiting (code unused), signed_in, revoked or expired."""
    if assignment.revoked_at is not None:
        return "revoked"
    if assignment.expires_at <= (now or utcnow()):
        return "expired"
    return "signed_in" if assignment.session_token_hash is not None else "waiting"


def _open_assignment(school: School, assignment_id: object) -> SubstituteAssignment:
    assignment = school_record(
        SubstituteAssignment, assignment_id, school.id, _("No such substitute today.")
    )
    if status(assignment) in ("revoked", "expired"):
        raise Conflict(_("This substitute's access has already ended."))
    return assignment


def revoke(school: School, actor: Actor, assignment_id: object) -> SubstituteAssignment:
    """End a substitute's access now: their next request (and poll) is refused."""
    assignment = _open_assignment(school, assignment_id)
    now = utcnow()
    ended = db.session.execute(
        update(SubstituteAssignment)
        .where(SubstituteAssignment.id == assignment.id, SubstituteAssignment.revoked_at.is_(None))
        .values(
            revoked_at=now,
            revoked_by_id=actor.user.id if actor.user is not None else None,
            code_nonce=None,
        )
        .execution_options(synchronize_session=False)
    )
    if ended.rowcount != 1:
        raise Conflict(_("This substitute's access has already ended."))
    db.session.refresh(assignment)
    live.access_changed([school.id])
    audit.record("substitute.revoke", school_id=school.id, actor=actor, target=assignment)
    return assignment


def new_code(school: School, actor: Actor, assignment_id: object) -> Created:
    """A fresh code for a substitute who lost theirs or their session: the old code and
    any browser signed in with it stop working at once."""
    assignment = _open_assignment(school, assignment_id)
    code = _new_code(assignment)
    assignment.session_token_hash = None
    db.session.flush()
    mailed = assignment.code_nonce is not None
    if mailed:
        _mail_code(school, assignment)
    live.access_changed([school.id])
    audit.record(
        "substitute.new_code",
        school_id=school.id,
        actor=actor,
        target=assignment,
        detail={"mailed": mailed},
    )
    return Created(assignment, code, mailed)


def sign_in(code: str, now: datetime | None = None) -> tuple[SubstituteAssignment, str]:
    """Use a code once: returns its assignment and the session token for the cookie.

    The caller counts the attempt first (shared/throttle.py). A mistyped, used, replaced,
    revoked or expired code gets the same answer, so nothing is learnt from it.
    """
    code = normalise_code(code or "")
    if len(code) != CODE_LENGTH:
        raise InvalidInput(
            _("A substitute's code has %(num)d letters and digits.", num=CODE_LENGTH),
            field="code",
        )
    now = now or utcnow()
    digest = _code_digest(code)
    token = secrets.token_urlsafe(32)
    used = db.session.execute(
        update(SubstituteAssignment)
        .where(
            SubstituteAssignment.code_hash == digest,
            SubstituteAssignment.code_used_at.is_(None),
            SubstituteAssignment.revoked_at.is_(None),
            SubstituteAssignment.expires_at > now,
        )
        .values(code_used_at=now, session_token_hash=secret_digest(token), code_nonce=None)
        .execution_options(synchronize_session=False)
    )
    if used.rowcount != 1:
        raise NotFound(_("That code is not valid. It may be mistyped, used or expired."))
    assignment = db.session.scalar(
        select(SubstituteAssignment).where(SubstituteAssignment.code_hash == digest)
    )
    audit.record(
        "substitute.sign_in",
        school_id=assignment.school_id,
        actor=Actor(user=assignment.teacher, substitute=assignment),
        target=assignment,
    )
    return assignment, token


def sign_out(principal: Principal) -> None:
    """The substitute signs out: this browser's session ends (a new code signs in again)."""
    assignment = principal.substitute
    audit.record("substitute.sign_out", school_id=assignment.school_id, target=assignment)
    db.session.execute(
        update(SubstituteAssignment)
        .where(SubstituteAssignment.id == assignment.id)
        .values(session_token_hash=None)
        .execution_options(synchronize_session=False)
    )
    live.access_changed([assignment.school_id])

"""Two-factor sign-in with time-based one-time passwords (RFC 6238, pyotp).

Any staff member may turn it on under *Account > Two-factor*; when the district turns
on `require_admin_totp` (*Admin > District*, district admins only), every admin (the
admin role at any school, or a district admin) must use it, and one who has not
enrolled yet does so during their next password sign-in. Single sign-on relies on the
provider's own MFA: this asks for a code after a password only.

- Enrolment: a new random secret, shown as a QR code rendered here (shared/qr.py) and
  as text; it is on only once a first code from the app is confirmed.
- A code is accepted for its 30-second step and one step either side (clock drift),
  and never twice: the last accepted step is kept per user and raised with one
  conditional UPDATE, so a code seen over a shoulder or replayed is refused, even by
  two requests at once.
- Ten recovery codes (80 random bits each, stored as SHA-256) stand in for a lost
  phone, once each. A district admin can reset a person's second factor (audited);
  the person enrols again at the next sign-in.

Code attempts are throttled like passwords (shared/throttle.py). The secret itself
must be stored to check codes; it is listed in the data inventory.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import pyotp
from flask_babel import gettext as _
from markupsafe import Markup
from sqlalchemy import delete, exists, or_, select, update

from shared import audit
from shared.audit import Actor
from shared.errors import Forbidden, InvalidInput
from shared.extensions import db
from shared.models import DistrictSetting, Membership, RecoveryCode, Role, User
from shared.qr import qr_svg
from shared.sessions import end_user_sessions
from shared.timeutil import utcnow

ISSUER = "passline"
REQUIRE_ADMIN_TOTP = "require_admin_totp"
RECOVERY_CODES = 10
_RECOVERY_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"  # 5 bits a character
#: Steps either side of now whose code is still accepted (30 s each).
DRIFT_STEPS = 1


# ------------------------------------------------------------------ the district's rule


def admins_must_use_it() -> bool:
    """Has the district turned on two-factor for every admin?"""
    setting = db.session.get(DistrictSetting, REQUIRE_ADMIN_TOTP)
    return bool(setting and setting.value)


def set_admins_must_use_it(actor: Actor, on: bool) -> None:
    """A district admin turns the rule on or off (audited)."""
    if actor.user is None or not actor.user.is_district_admin:
        raise Forbidden(_("Only a district admin may change district settings."))
    before = admins_must_use_it()
    setting = db.session.get(DistrictSetting, REQUIRE_ADMIN_TOTP)
    if setting is None:
        setting = DistrictSetting(key=REQUIRE_ADMIN_TOTP)
        db.session.add(setting)
    setting.value, setting.updated_at = bool(on), utcnow()
    db.session.flush()
    audit.record(
        "district.settings",
        detail={"key": REQUIRE_ADMIN_TOTP, "before": before, "after": bool(on)},
        actor=actor,
    )


def is_admin(user: User) -> bool:
    """An admin somewhere: a district admin or the admin role at any school."""
    if user.is_district_admin:
        return True
    return bool(
        db.session.scalar(
            select(exists().where(Membership.user_id == user.id, Membership.role == Role.ADMIN))
        )
    )


def enabled(user: User) -> bool:
    return user.totp_enabled_at is not None


def required(user: User) -> bool:
    """Must this person give a code after their password?"""
    return admins_must_use_it() and is_admin(user)


def needs_second_step(user: User) -> bool:
    """After a right password: a code (enrolled), or enrolment (required, not enrolled)."""
    return enabled(user) or required(user)


# ------------------------------------------------------------------ enrolment


@dataclass(frozen=True)
class Enrolment:
    """What the person scans or types into their authenticator app."""

    secret: str
    uri: str

    @property
    def qr(self) -> Markup:
        return qr_svg(self.uri)

    @property
    def grouped_secret(self) -> str:
        """The secret in groups of four, for typing it in by hand."""
        return " ".join(self.secret[i : i + 4] for i in range(0, len(self.secret), 4))


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret)


def enrolment(user: User) -> Enrolment:
    """The person's pending enrolment: a new secret the first time (not on until confirmed)."""
    if enabled(user):
        raise InvalidInput(_("Two-factor sign-in is on already; turn it off first to change it."))
    if user.totp_secret is None:
        user.totp_secret = pyotp.random_base32(32)
        db.session.flush()
    uri = _totp(user.totp_secret).provisioning_uri(name=user.email, issuer_name=ISSUER)
    return Enrolment(user.totp_secret, uri)


def _new_recovery_codes(user: User) -> list[str]:
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = [
        "-".join("".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(4)) for _ in range(4))
        for _ in range(RECOVERY_CODES)
    ]
    db.session.add_all(RecoveryCode(user_id=user.id, code_hash=_digest(code)) for code in codes)
    db.session.flush()
    return codes


def confirm_enrolment(user: User, code: str, actor: Actor | None = None) -> list[str]:
    """The first code from the app turns two-factor on; returns the recovery codes (shown
    once)."""
    if enabled(user) or user.totp_secret is None:
        raise InvalidInput(_("Start the set-up again: there is no pending enrolment."))
    if not _accept_totp(user, code):
        raise InvalidInput(
            _("That code is not right. Check the app's clock and try the next code."), field="code"
        )
    user.totp_enabled_at = utcnow()
    codes = _new_recovery_codes(user)
    audit.record("auth.totp_enable", target=user, actor=actor, actor_user=user)
    return codes


def disable(user: User, code: str) -> None:
    """The person turns two-factor off, with a current code (refused while required)."""
    if required(user):
        raise Forbidden(_("The district requires two-factor sign-in for admins."))
    if not enabled(user):
        raise InvalidInput(_("Two-factor sign-in is not on."))
    if check(user, code) is None:
        raise InvalidInput(_("That code is not right."), field="code")
    _clear(user)
    audit.record("auth.totp_disable", target=user)


def reset(actor: Actor, person: User) -> None:
    """A district admin clears a person's second factor (lost phone); their sessions end
    and they enrol again at the next sign-in."""
    if actor.user is None or not actor.user.is_district_admin:
        raise Forbidden(_("Only a district admin may reset someone's two-factor sign-in."))
    was_on = enabled(person)
    _clear(person)
    end_user_sessions(person, "reset")
    audit.record("staff.totp_reset", target=person, detail={"was_on": was_on}, actor=actor)


def _clear(user: User) -> None:
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    db.session.flush()


# ------------------------------------------------------------------ checking a code


def _digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def _normalise(code: str) -> str:
    return "".join(code.split()).lower()[:40]


def _accept_totp(user: User, code: str) -> bool:
    """A six-digit code of the current step (or one either side), never one accepted before.

    The step is claimed with one conditional UPDATE: of two requests with the same code,
    one wins.
    """
    code = _normalise(code)
    if not (len(code) == 6 and code.isascii() and code.isdigit()) or user.totp_secret is None:
        return False
    totp = _totp(user.totp_secret)
    current = int(time.time()) // totp.interval  # RFC 6238's T, with T0 = 0
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            claimed = db.session.execute(
                update(User)
                .where(
                    User.id == user.id,
                    or_(User.totp_last_step.is_(None), User.totp_last_step < step),
                )
                .values(totp_last_step=step)
                .execution_options(synchronize_session=False)
            )
            if claimed.rowcount == 1:
                user.totp_last_step = step
                return True
            return False  # this code (or a later one) was used already
    return False


def _accept_recovery(user: User, code: str) -> bool:
    code = _normalise(code).replace("-", "")
    if len(code) != 16:
        return False
    formatted = "-".join(code[i : i + 4] for i in range(0, 16, 4))
    used = db.session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == _digest(formatted),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return used.rowcount == 1


def check(user: User, code: str) -> str | None:
    """How `code` proves the second factor ("totp" or "recovery"), or None."""
    if not enabled(user):
        return None
    if _accept_totp(user, code):
        return "totp"
    if _accept_recovery(user, code):
        return "recovery"
    return None


def recovery_codes_left(user: User) -> int:
    return len(
        db.session.scalars(
            select(RecoveryCode.id).where(
                RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)
            )
        ).all()
    )

"""Views of two-factor sign-in: the code step after a password, enrolment, the account
page, and a district admin's reset. The rules live in shared/totp.py.

Between a right password and a right code the browser holds only a *pending* sign-in
(the user id, their session nonce, when, where to go next) in its signed cookie: no
flask-login user and no server-side session, so nothing else admits it. It lasts
`PENDING_SECONDS`, and a password change or reset (a new nonce) voids it.
"""

import time

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from shared import audit, staff, totp
from shared.access import access, public
from shared.errors import DomainError, rerender
from shared.extensions import db
from shared.models import User
from shared.sessions import sign_in
from shared.throttle import begin_second_factor, sign_in_succeeded

bp = Blueprint("two_factor", __name__)

PENDING = "two_factor_pending"
PENDING_SECONDS = 300


def begin(user: User, next_target: str | None):
    """The password was right and a second step is due: hold the sign-in pending."""
    session.clear()  # nothing from before sign-in carries over
    session[PENDING] = {
        "user": user.id,
        "nonce": user.session_nonce,
        "at": int(time.time()),
        "next": (next_target or "")[:500],
    }
    step = "code" if totp.enabled(user) else "enrolment"
    audit.record("auth.password_ok", target=user, actor_user=user, detail={"second_step": step})
    return redirect(url_for("two_factor.code" if step == "code" else "two_factor.enrol"))


def _pending_user() -> User | None:
    """The user of this browser's pending sign-in, if it is still good."""
    pending = session.get(PENDING)
    if not isinstance(pending, dict) or not isinstance(pending.get("user"), int):
        return None
    if not isinstance(pending.get("at"), int) or time.time() - pending["at"] > PENDING_SECONDS:
        return None
    user = db.session.get(User, pending["user"])
    if user is None or not user.active or user.session_nonce != pending.get("nonce"):
        return None
    return user


def _expired():
    session.pop(PENDING, None)
    flash(_("Sign in again: the sign-in took too long or was interrupted."), "info")
    return redirect(url_for("auth.login"))


def _finish(user: User, how: str) -> str:
    """Sign the pending user in (a new session, as a password sign-in does); where to go."""
    from shared.auth import safe_next  # the sign-in's own rule for `next`

    target = safe_next(session.get(PENDING, {}).get("next"))
    school_id = sign_in(user)
    audit.record(
        "auth.login",
        school_id=school_id,
        target=user,
        actor_user=user,
        detail={"second_factor": how},
    )
    return target


def _throttled(user: User, template: str, **context):
    """Count a code attempt first (committed at once); a refusal answer when over the limit."""
    attempt = begin_second_factor(user.id, request.remote_addr)
    db.session.commit()
    if attempt.retry_after is None:
        return attempt, None
    audit.record("auth.totp_throttled", target=user, actor_user=user)
    minutes = max(1, round(attempt.retry_after / 60))
    error = ngettext(
        "Too many wrong codes. Try again in %(num)d minute.",
        "Too many wrong codes. Try again in %(num)d minutes.",
        minutes,
    )
    page = render_template(template, error=error, **context)
    return attempt, (page, 429, {"Retry-After": str(attempt.retry_after)})


@bp.route("/login/code", methods=["GET", "POST"])
@public
def code():
    """The second step of a password sign-in: a code from the app, or a recovery code."""
    user = _pending_user()
    if user is None or not totp.enabled(user):
        return _expired()
    if request.method == "GET":
        return render_template("two_factor/code.html")
    attempt, refusal = _throttled(user, "two_factor/code.html")
    if refusal is not None:
        return refusal
    how = totp.check(user, request.form.get("code", ""))
    if how is None:
        audit.record("auth.totp_failed", target=user, actor_user=user)
        db.session.commit()
        error = _("That code is not right, or was used already. Wait for the next code.")
        return render_template("two_factor/code.html", error=error), 401
    sign_in_succeeded(attempt)
    target = _finish(user, how)
    if how == "recovery":
        left = totp.recovery_codes_left(user)
        flash(
            ngettext(
                "You signed in with a recovery code; %(num)d left.",
                "You signed in with a recovery code; %(num)d left.",
                left,
            ),
            "info",
        )
    return redirect(target)


@bp.route("/login/two-factor-setup", methods=["GET", "POST"])
@public
def enrol():
    """Set up two-factor during sign-in: the district requires it and it is not set up."""
    user = _pending_user()
    if user is None or totp.enabled(user) or not totp.required(user):
        return _expired()
    enrolment = totp.enrolment(user)
    if request.method == "GET":
        return render_template("two_factor/enrol.html", enrolment=enrolment, at_sign_in=True)
    attempt, refusal = _throttled(
        user, "two_factor/enrol.html", enrolment=enrolment, at_sign_in=True
    )
    if refusal is not None:
        return refusal
    try:
        codes = totp.confirm_enrolment(user, request.form.get("code", ""))
    except DomainError as error:
        return rerender(
            "two_factor/enrol.html", error, enrolment=totp.enrolment(user), at_sign_in=True
        )
    sign_in_succeeded(attempt)
    target = _finish(user, "totp")
    return render_template("two_factor/recovery_codes.html", codes=codes, next=target)


@bp.route("/account/two-factor")
@access("user")
def account():
    """Your two-factor sign-in: on or off, recovery codes left, set up or turn off."""
    user = g.principal.user
    return render_template(
        "two_factor/account.html",
        enabled=totp.enabled(user),
        required=totp.required(user),
        left=totp.recovery_codes_left(user),
    )


@bp.route("/account/two-factor/setup", methods=["GET", "POST"])
@access("user")
def setup():
    """Turn on two-factor sign-in: scan the code, confirm with a first code."""
    user = g.principal.user
    enrolment = totp.enrolment(user)
    if request.method == "GET":
        return render_template("two_factor/enrol.html", enrolment=enrolment, at_sign_in=False)
    attempt, refusal = _throttled(
        user, "two_factor/enrol.html", enrolment=enrolment, at_sign_in=False
    )
    if refusal is not None:
        return refusal
    try:
        codes = totp.confirm_enrolment(user, request.form.get("code", ""))
    except DomainError as error:
        return rerender(
            "two_factor/enrol.html", error, enrolment=totp.enrolment(user), at_sign_in=False
        )
    sign_in_succeeded(attempt)
    return render_template(
        "two_factor/recovery_codes.html", codes=codes, next=url_for("two_factor.account")
    )


@bp.route("/account/two-factor/off", methods=["POST"])
@access("user")
def turn_off():
    """Turn two-factor sign-in off, with a current code (not while the district requires it)."""
    user = g.principal.user
    _attempt, refusal = _throttled(
        user, "two_factor/account.html", enabled=True, required=False, left=0
    )
    if refusal is not None:
        return refusal
    try:
        totp.disable(user, request.form.get("code", ""))
    except DomainError as error:
        return rerender(
            "two_factor/account.html",
            error,
            enabled=totp.enabled(user),
            required=totp.required(user),
            left=totp.recovery_codes_left(user),
        )
    flash(_("Two-factor sign-in is off."), "success")
    return redirect(url_for("two_factor.account"))


@bp.route("/admin/staff/<int:user_id>/two-factor-reset", methods=["POST"])
@access("admin")
def reset(user_id: int):
    """A district admin clears a staff member's second factor (they set it up again)."""
    person = staff.school_member(g.principal.school_id, user_id)
    totp.reset(audit.current_actor(), person)
    flash(
        _("Two-factor sign-in of %(name)s is reset; they set it up again.", name=person.name),
        "success",
    )
    return redirect(url_for("admin.staff_edit", user_id=person.id))

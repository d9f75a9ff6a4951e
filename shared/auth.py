"""Staff sign-in and account views: log in, log out, change password, switch school,
and the invitations to other schools waiting for the signed-in person."""

from urllib.parse import urlsplit

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import login_user, logout_user

from shared import audit, sso_providers, staff, totp
from shared.access import access, public
from shared.errors import DomainError, Forbidden
from shared.extensions import db, login_manager
from shared.models import User
from shared.passwords import hash_password, needs_rehash, password_problem, verify_password
from shared.sessions import (
    end_current_session,
    end_user_sessions,
    first_school_id,
    load_session_user,
    sign_in,
    start_session,
)
from shared.throttle import begin_sign_in, sign_in_succeeded

bp = Blueprint("auth", __name__)


@login_manager.user_loader
def load_user(session_id: str) -> User | None:
    """Find the user of an open server-side session (see shared/sessions.py)."""
    return load_session_user(session_id)


def safe_next(target: str | None) -> str:
    """Only same-site relative paths: never an open redirect."""
    if not target:
        return url_for("home.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("home.index")
    return target


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    """Sign in with email and password."""
    if request.method == "GET":
        return render_template("auth/login.html", next=request.args.get("next", ""))
    email = request.form.get("email", "").strip().lower()[:254]
    password = request.form.get("password", "")
    attempt = begin_sign_in(email, request.remote_addr)
    # The attempt counts in every process before its password is checked, and the
    # counter row is not held locked during the check.
    db.session.commit()
    retry_after = attempt.retry_after
    if retry_after is not None:
        minutes = max(1, round(retry_after / 60))
        audit.record(
            "auth.login_throttled", detail={"email": email}, actor_label=email or "anonymous"
        )
        db.session.commit()
        response = render_template(
            "auth/login.html",
            error=ngettext(
                "Too many failed sign-ins. Try again in %(num)d minute.",
                "Too many failed sign-ins. Try again in %(num)d minutes.",
                minutes,
            ),
            email=email,
            next=request.form.get("next", ""),
        )
        return response, 429, {"Retry-After": str(retry_after)}
    user = staff.find_user_by_email(email) if email else None
    ok = verify_password(user.password_hash if user else None, password)
    if not ok or user is None or not user.active:
        reason = "unknown account" if user is None else ("inactive" if ok else "bad password")
        audit.record(
            "auth.login_failed",
            school_id=first_school_id(user) if user else None,
            target=user,
            detail={"email": email, "reason": reason},
            actor_label=email or "anonymous",
        )
        db.session.commit()  # the attempt was counted as a failure before the check
        message = (
            _("This account is deactivated. Ask your school admin.")
            if ok and user is not None and not user.active
            else _("Email or password is incorrect.")
        )
        return render_template(
            "auth/login.html", error=message, email=email, next=request.form.get("next", "")
        ), 401
    closed_by = sso_providers.password_refused_by(user)
    if closed_by is not None:
        return _password_closed(user, email, closed_by)
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    if totp.needs_second_step(user):  # a code (or enrolment) first: shared/two_factor_views.py
        from shared.two_factor_views import begin

        sign_in_succeeded(attempt)
        return begin(user, request.form.get("next"))
    sign_in_succeeded(attempt)
    school_id = sign_in(user)
    audit.record("auth.login", school_id=school_id, target=user, actor_user=user)
    if staff.my_invitations(user):
        flash(_("A school invited you to join it: see Invitations on your account page."), "info")
    return redirect(safe_next(request.form.get("next")))


def _password_closed(user: User, email: str, closed_by: sso_providers.Provider):
    """The right password, but the district signs this domain in with its provider only."""
    audit.record(
        "auth.login_failed",
        school_id=first_school_id(user),
        target=user,
        detail={"email": email, "reason": f"password sign-in closed ({closed_by.key})"},
        actor_label=email,
    )
    db.session.commit()
    message = _(
        "Your district signs you in with %(provider)s: use the button above.",
        provider=closed_by.label,
    )
    return render_template(
        "auth/login.html", error=message, email=email, next=request.form.get("next", "")
    ), 403


@bp.route("/logout", methods=["POST"])
@access("user")
def logout():
    """Sign out and forget the session."""
    audit.record("auth.logout", target=g.principal.user)
    end_current_session(g.principal.user, "signout")
    logout_user()
    session.clear()
    flash(_("You are signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@access("user")
def change_password():
    """Change your own password; every other session of yours ends."""
    if request.method == "GET":
        return render_template("auth/change_password.html")
    user = g.principal.user
    current = request.form.get("current_password", "")
    new = request.form.get("new_password", "")
    error = None
    if not verify_password(user.password_hash, current):
        error = _("Your current password is not right.")
    elif new != request.form.get("confirm_password", ""):
        error = _("The two new passwords are not the same.")
    else:
        error = password_problem(new)
    if error:
        return render_template("auth/change_password.html", error=error), 400
    user.password_hash = hash_password(new)
    end_user_sessions(user, "password")
    audit.record("auth.password_change", target=user)
    login_user(user)  # this browser continues under the new nonce, in a new session
    start_session(user)
    flash(_("Your password is changed. Other sessions were signed out."), "success")
    return redirect(url_for("home.index"))


@bp.route("/school", methods=["POST"])
@access("user")
def switch_school():
    """Act at another of your schools."""
    wanted = request.form.get("school_id", type=int)
    if wanted not in {school_id for school_id, _ in g.principal.schools}:
        raise Forbidden(_("You have no role at that school."))
    session["school_id"] = wanted
    return redirect(url_for("home.index"))


@bp.route("/account/invitations")
@access("user")
def invitations():
    """Invitations from other schools waiting for you to accept or decline."""
    return render_template(
        "auth/invitations.html", invitations=staff.my_invitations(g.principal.user)
    )


@bp.route("/account/invitations/<int:invitation_id>", methods=["POST"])
@access("user")
def answer_invitation(invitation_id: int):
    """Accept an invitation (you get its roles at that school) or decline it."""
    action = request.form.get("action")
    if action not in ("accept", "decline"):
        raise DomainError(_("Choose accept or decline."))
    school = staff.answer_invitation(g.principal.user, invitation_id, action == "accept")
    if action == "accept":
        flash(_("You now work at %(school)s too.", school=school.name), "success")
    else:
        flash(_("The invitation is declined."), "info")
    return redirect(url_for("auth.invitations"))

"""Views of the single-use account links: "forgot password" and the link's own page.

Both are public. The rules (throttling, the neutral answer, single use) live in
shared/account_links.py; these views parse the form and render the answer. The link's
page is sent with `Referrer-Policy: no-referrer`, so its token never leaves in a
Referer header.
"""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from shared import account_links
from shared.access import public
from shared.errors import DomainError, rerender
from shared.extensions import db

bp = Blueprint("account", __name__)


@bp.route("/login/forgot", methods=["GET", "POST"])
@public
def forgot_password():
    """Ask for a link to set a new password (the answer never says if the address exists)."""
    if request.method == "GET":
        return render_template("account/forgot.html", email="")
    email = request.form.get("email", "").strip()[:254]
    try:
        answer = account_links.request_reset(email, request.remote_addr)
    except DomainError as error:
        return rerender("account/forgot.html", error, email=email)
    if answer.retry_after is not None:
        minutes = max(1, round(answer.retry_after / 60))
        page = render_template(
            "account/forgot.html",
            email=email,
            error=ngettext(
                "Too many requests. Try again in %(num)d minute.",
                "Too many requests. Try again in %(num)d minutes.",
                minutes,
            ),
        )
        return page, 429, {"Retry-After": str(answer.retry_after)}
    return render_template("account/forgot_sent.html", mail_available=answer.mail_available)


@bp.route("/account/link/<token>", methods=["GET", "POST"])
@public
def set_password(token: str):
    """Set a password with an invitation or reset link (once)."""
    try:
        link = account_links.open_link(token)
    except DomainError as error:
        answer = rerender("account/link_gone.html", error)
        if request.method == "POST":  # an attempt to use it: audited (a look is not)
            account_links.record_refusal(token)
        return _no_referrer(answer)
    if request.method == "GET":
        return _no_referrer(render_template("account/set_password.html", link=link))
    try:
        account_links.set_password(
            token, request.form.get("new_password", ""), request.form.get("confirm_password", "")
        )
    except DomainError as error:
        if error.status_code != 400:  # used by another request in the meantime
            answer = rerender("account/link_gone.html", error)
            account_links.record_refusal(token)
            return _no_referrer(answer)
        db.session.rollback()
        return _no_referrer(
            rerender("account/set_password.html", error, link=account_links.open_link(token))
        )
    flash(_("Your password is set. Sign in with it now."), "success")
    return redirect(url_for("auth.login"))


def _no_referrer(answer):
    html, status = answer if isinstance(answer, tuple) else (answer, 200)
    return html, status, {"Referrer-Policy": "no-referrer"}

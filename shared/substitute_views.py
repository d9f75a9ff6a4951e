"""Views of substitutes: the office's page (today's substitutes: add, new code, end) and
the substitute's own sign-in with a one-time code, and their sign-out.

The rules (today's day, the code used once, expiry, what a substitute may reach) live in
shared/substitutes.py and shared/access.py; these views parse forms and render answers.
A page that shows a code is never cached.
"""

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import logout_user

from shared import audit, substitutes
from shared.access import SUBSTITUTE_COOKIE, access, public
from shared.errors import DomainError, Forbidden, rerender
from shared.extensions import db
from shared.sessions import end_current_session
from shared.throttle import begin_substitute_code, sign_in_succeeded

bp = Blueprint("substitutes", __name__)
OFFICE = ("admin", "office")


def _page_context() -> dict:
    school = g.principal.school
    return {
        "assignments": substitutes.of_today(school),
        "teachers": substitutes.absent_teacher_choices(school),
        "status_of": substitutes.status,
        "status_labels": substitutes.STATUS_LABELS,
    }


def _code_page(created: substitutes.Created):
    html = render_template(
        "substitutes/code.html",
        created=created,
        sign_in_url=url_for("substitutes.sign_in", _external=True),
    )
    return html, 200, {"Cache-Control": "no-store"}


@bp.route("/substitutes", methods=["GET", "POST"])
@access(*OFFICE)
def index():
    """Today's substitutes; add one for an absent teacher (the code is shown once)."""
    if request.method == "GET":
        return render_template("substitutes/index.html", form={}, **_page_context())
    try:
        created = substitutes.create(
            g.principal.school,
            audit.current_actor(),
            teacher_id=request.form.get("teacher_id", ""),
            name=request.form.get("name", ""),
            contact=request.form.get("contact", ""),
        )
    except DomainError as error:
        return rerender("substitutes/index.html", error, form=request.form, reload=_page_context)
    return _code_page(created)


@bp.route("/substitutes/<int:assignment_id>/code", methods=["POST"])
@access(*OFFICE)
def new_code(assignment_id: int):
    """A new code for a substitute of today: the old code and session stop working."""
    try:
        created = substitutes.new_code(g.principal.school, audit.current_actor(), assignment_id)
    except DomainError as error:
        return rerender("substitutes/index.html", error, form={}, reload=_page_context)
    return _code_page(created)


@bp.route("/substitutes/<int:assignment_id>/revoke", methods=["POST"])
@access(*OFFICE)
def revoke(assignment_id: int):
    """End a substitute's access now."""
    try:
        ended = substitutes.revoke(g.principal.school, audit.current_actor(), assignment_id)
    except DomainError as error:
        return rerender("substitutes/index.html", error, form={}, reload=_page_context)
    flash(_("%(name)s's access has ended.", name=ended.name), "success")
    return redirect(url_for("substitutes.index"))


@bp.route("/substitute", methods=["GET", "POST"])
@public
def sign_in():
    """A substitute signs in with the code the office gave them."""
    if request.method == "GET":
        return render_template("substitutes/sign_in.html")
    attempt = begin_substitute_code(request.remote_addr)
    db.session.commit()  # counted in every process before the code is checked
    if attempt.retry_after is not None:
        minutes = max(1, round(attempt.retry_after / 60))
        page = render_template(
            "substitutes/sign_in.html",
            error=ngettext(
                "Too many wrong codes. Try again in %(num)d minute.",
                "Too many wrong codes. Try again in %(num)d minutes.",
                minutes,
            ),
        )
        return page, 429, {"Retry-After": str(attempt.retry_after)}
    try:
        assignment, token = substitutes.sign_in(request.form.get("code", ""))
    except DomainError as error:
        answer = rerender("substitutes/sign_in.html", error)
        audit.record("substitute.sign_in_failed", actor_label="anonymous")
        db.session.commit()
        return answer
    sign_in_succeeded(attempt)
    principal = g.principal
    if principal is not None and principal.user is not None and principal.substitute is None:
        end_current_session(principal.user)  # a staff member signed in here is signed out
    logout_user()
    response = redirect(url_for("hallpass.index"))
    response.set_cookie(
        SUBSTITUTE_COOKIE,
        token,
        expires=assignment.expires_at,
        httponly=True,
        secure=current_app.config["SESSION_COOKIE_SECURE"],
        samesite="Lax",
    )
    return response


@bp.route("/substitute/sign-out", methods=["POST"])
@access("teacher")
def sign_out():
    """The substitute signs out of this browser."""
    if g.principal.substitute is None:
        raise Forbidden(_("Only a substitute signs out here."))
    substitutes.sign_out(g.principal)
    response = redirect(url_for("substitutes.sign_in"))
    response.delete_cookie(SUBSTITUTE_COOKIE)
    flash(_("You are signed out."), "info")
    return response

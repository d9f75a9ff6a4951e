"""Guardians sign in to the family page with a single-use link mailed to them.

No password, no app: the guardian types their email address, and each guardian with
that address (of an active family, at a school in use) gets a link by mail, through the
outbox (shared/mail.py). The link is an account link of purpose "family"
(shared/account_links.py: random, stored as a hash, usable once, 15 minutes). Opening it
shows one button; pressing it (a POST, so a mail scanner that follows links uses
nothing) starts a long-lived family session on that phone (shared/family_sessions.py).

Guardians without email sign in with the family code of a letter home instead
(`code`, the page the letter's QR opens; the codes are shared/family_codes.py).

The answer to a request never says whether the address is known: the same page, the
same status, whether a mail went out or not. Requests are throttled per address typed
and per client address, and the links mailed per family (shared/throttle.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from flask import (
    Blueprint,
    Response,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import force_locale, ngettext
from flask_babel import gettext as _
from sqlalchemy import select

from shared import account_links, audit, mail
from shared.access import access, public
from shared.audit import Actor, current_actor
from shared.errors import DomainError, NotFound
from shared.extensions import db
from shared.family_codes import TooManyCodes, sign_in_with_code
from shared.family_sessions import (
    end_session,
    family_session,
    open_sessions,
    set_cookie,
    start_session,
)
from shared.guardians import clean_email
from shared.i18n import mail_locale
from shared.models import Family, Guardian, LinkPurpose, School
from shared.student_records import export_family
from shared.throttle import count_family_link_request, count_family_link_sent

bp = Blueprint("family_sign_in", __name__, url_prefix="/family")

#: The link's page is sent so that its token never leaves in a Referer header.
NO_REFERRER = {"Referrer-Policy": "no-referrer"}
#: How a family code looks, as the code field's placeholder.
CODE_EXAMPLE = "ABCD-EFGH-JKMN"
#: The family page a signed-in guardian lands on (carline/family_page_views.py).
HOME_ENDPOINT = "carline.family_home"


@dataclass(frozen=True)
class LinkAnswer:
    """What a request may tell the requester: nothing about the address."""

    mail_available: bool
    retry_after: int | None = None


def _guardians_with(email: str) -> list[Guardian]:
    return list(
        db.session.scalars(
            select(Guardian)
            .join(Family, Family.id == Guardian.family_id)
            .join(School, School.id == Guardian.school_id)
            .where(Guardian.email == email, Family.active.is_(True), School.archived_at.is_(None))
            .order_by(Guardian.id)
        )
    )


def request_link(email: str, client_address: str | None) -> LinkAnswer:
    """Mail a sign-in link to every guardian with this address (the answer is the same
    whether there is one or not). Throttled per address typed, per client address, and
    per family."""
    if not mail.configured():
        return LinkAnswer(mail_available=False)
    typed = clean_email(email)
    if typed is None:
        raise DomainError(_("Enter your email address."), field="email")
    attempt = count_family_link_request(typed, client_address)
    if attempt.retry_after is not None:
        audit.record("family.link_throttled", actor_label="anonymous")
        return LinkAnswer(True, attempt.retry_after)
    sent = 0
    for guardian in _guardians_with(typed):
        if count_family_link_sent(guardian.family_id).retry_after is not None:
            audit.record(
                "family.link_throttled",
                school_id=guardian.school_id,
                target=guardian,
                detail={"per": "family"},
                actor_label="anonymous",
            )
            continue
        _mail_link(guardian)
        sent += 1
    if not sent:
        audit.record("family.link_request", detail={"sent": False}, actor_label="anonymous")
    return LinkAnswer(True)


def _mail_link(guardian: Guardian) -> None:
    link = account_links.issue_for_guardian(guardian)
    school = db.session.get(School, guardian.school_id)
    with force_locale(mail_locale(guardian, school)):
        subject = _("Sign in to the family page of %(school)s", school=school.name)
        body = _(
            "Hello %(name)s,\n\n"
            "Open this link on your phone to sign in to %(school)s's family page, where you"
            " see how your children go home today, change a day's plan and say \"I'm here\""
            " at pickup:\n\n%(link)s\n\n"
            "The link works once, within 15 minutes. If you did not ask for it, ignore this"
            " mail.\n",
            name=guardian.name,
            school=school.name,
            link=mail.LINK_MARK,
        )
    mail.enqueue(
        kind="family_link",
        to=guardian,
        subject=subject,
        body=body,
        school_id=school.id,
        link=link,
    )
    audit.record(
        "family.link_request",
        school_id=school.id,
        target=guardian,
        detail={"sent": True, "family_id": guardian.family_id},
        actor_label="anonymous",
    )


def _open_family_link(token: str):
    link = account_links.find_link(token)
    if link is None or link.purpose != LinkPurpose.FAMILY or link.guardian is None:
        raise NotFound(_("This link is not valid. Check that it was copied whole."))
    guardian = link.guardian
    family = db.session.get(Family, guardian.family_id)
    school = db.session.get(School, guardian.school_id)
    if not account_links.is_open(link) or not family.active or school.archived_at is not None:
        raise account_links.LinkGone(
            _("This link was already used or has expired. Ask for a new one.")
        )
    return link, guardian


def sign_in_with_link(token: str, user_agent: str | None) -> tuple[Guardian, str]:
    """Use the link once: a new family session for its guardian; (guardian, cookie token)."""
    link, guardian = _open_family_link(token)
    if not account_links.use_once(link):
        raise account_links.LinkGone(
            _("This link was already used or has expired. Ask for a new one.")
        )
    session_token = start_session(guardian, user_agent)
    audit.record(
        "family.sign_in",
        school_id=guardian.school_id,
        target=guardian,
        detail={"family_id": guardian.family_id},
        actor=Actor(guardian=guardian),
    )
    return guardian, session_token


# ------------------------------------------------------------------ views


@bp.route("/sign-in", methods=["GET", "POST"])
@public
def start():
    """Ask for a sign-in link by email (the answer never says whether it is known)."""
    if request.method == "GET":
        return render_template("family/sign_in.html", mail_available=mail.configured())
    email = request.form.get("email", "")[:254]
    try:
        answer = request_link(email, request.remote_addr)
    except DomainError as error:
        return render_template(
            "family/sign_in.html", error=error.message, email=email, mail_available=True
        ), 400
    if answer.retry_after is not None:
        minutes = max(1, round(answer.retry_after / 60))
        return (
            render_template(
                "family/sign_in.html",
                error=ngettext(
                    "Too many requests. Try again in %(num)d minute.",
                    "Too many requests. Try again in %(num)d minutes.",
                    minutes,
                ),
                email=email,
                mail_available=True,
            ),
            429,
            {"Retry-After": str(answer.retry_after)},
        )
    return render_template("family/link_sent.html", mail_available=answer.mail_available)


@bp.route("/link/<token>", methods=["GET", "POST"])
@public
def link(token: str):
    """A mailed link: GET shows one button, POST uses the link and signs this phone in."""
    try:
        if request.method == "GET":
            _open_family_link(token)
            return render_template("family/link.html", token=token), 200, NO_REFERRER
        _guardian, session_token = sign_in_with_link(token, request.headers.get("User-Agent"))
    except DomainError as error:
        db.session.rollback()
        audit.record("family.link_refused", actor_label="anonymous")
        db.session.commit()
        page = render_template("family/link_gone.html", error=error.message)
        return page, error.status_code, NO_REFERRER
    return set_cookie(make_response(redirect(url_for(HOME_ENDPOINT))), session_token)


@bp.route("/code", methods=["GET", "POST"])
@public
def code():
    """Sign in with the family code of a letter home. GET is the page the letter's QR
    opens (its code, after the `#`, is filled in by app.js); POST signs this phone in."""
    if request.method == "GET":
        return render_template("family/code.html", example=CODE_EXAMPLE), 200, NO_REFERRER
    try:
        _guardian, session_token = sign_in_with_code(
            request.form.get("code"), request.headers.get("User-Agent"), request.remote_addr
        )
    except DomainError as error:
        db.session.rollback()
        audit.record("family.code_refused", actor_label="anonymous")
        db.session.commit()
        headers = dict(NO_REFERRER)
        if isinstance(error, TooManyCodes):
            headers["Retry-After"] = str(error.retry_after)
        page = render_template("family/code.html", error=error.message, example=CODE_EXAMPLE)
        return page, error.status_code, headers
    return set_cookie(make_response(redirect(url_for(HOME_ENDPOINT))), session_token)


@bp.route("/sign-out", methods=["POST"])
@access("guardian")
def sign_out():
    """End this phone's family session."""
    end_session(g.principal.guardian_session, "signout", actor=current_actor())
    g.forget_family = True
    return redirect(url_for("family_sign_in.start"))


@bp.route("/phones")
@access("guardian")
def phones():
    """The phones signed in to this family's page (every guardian's), to end one."""
    family = g.principal.guardian.family
    return render_template(
        "family/phones.html",
        sessions=open_sessions(family),
        current_id=g.principal.guardian_session.id,
    )


@bp.route("/data.json")
@access("guardian")
def family_data():
    """Download what the school keeps about this family and its children (JSON)."""
    family = g.principal.guardian.family
    records = export_family(family, current_actor())
    body = json.dumps(records, ensure_ascii=False, indent=2, default=str)
    return Response(
        body,
        mimetype="application/json",
        headers={
            "Content-Disposition": f"attachment; filename=family-{family.tag_number}-records.json",
            "Cache-Control": "no-store",
        },
    )


@bp.route("/phones/<int:session_id>/end", methods=["POST"])
@access("guardian")
def end_phone(session_id: int):
    """End one of the family's sessions (a lost phone, say)."""
    found = family_session(g.principal.guardian.family, session_id)
    end_session(found, "signout", actor=current_actor())
    if found.id == g.principal.guardian_session.id:
        g.forget_family = True
        return redirect(url_for("family_sign_in.start"))
    return redirect(url_for("family_sign_in.phones"))

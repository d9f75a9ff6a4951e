"""Single sign-on views: the provider buttons' start and callback, and the district admin's
page of providers. The rules live in shared/sso.py (the sign-in) and shared/sso_providers.py
(the providers); these views parse, call and answer.

Network calls to a provider happen outside any database transaction: a provider that is
slow must never hold SQLite's write lock or a PostgreSQL transaction open.
"""

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from shared import audit, sso, sso_providers, staff
from shared.access import access, public
from shared.auth import safe_next
from shared.database import write_intent
from shared.errors import DomainError, rerender
from shared.extensions import db
from shared.models import SSO_PROVIDER_KINDS
from shared.sessions import first_school_id, sign_in
from shared.throttle import attempt_did_not_fail, begin_sso_callback

bp = Blueprint("sso", __name__)

#: Where the page the sign-in started from waits during the round trip to the provider.
NEXT_KEY = "sso_next"


@bp.record_once
def _read_environment(state) -> None:
    """Providers from SSO_PROVIDERS are read when the app is made: a mistake in them stops
    the app at start, naming the variable (shared/sso_providers.py, parse_environment)."""
    found = sso_providers.parse_environment(state.app.config["SSO_ENVIRONMENT"])
    state.app.extensions[sso_providers.ENVIRONMENT_KEY] = found


def _callback_url(key: str) -> str:
    return url_for("sso.callback", key=key, _external=True)


@bp.app_context_processor
def _templates():
    """The sign-in page's provider buttons and a staff member's links (read only when a
    page shows them)."""
    return {"sso_buttons": sso_providers.sign_in_buttons, "sso_links": sso.links_of}


def _refused(error: DomainError, key: str, label: str):
    """The refusal page, with the refusal in the audit log (nothing else is kept)."""
    db.session.rollback()
    reason = getattr(error, "reason", "provider unavailable")
    email = getattr(error, "email", "")
    with write_intent():
        # In the audit log of the person's school, when passline knows them.
        person = staff.find_user_by_email(email) if email else None
        audit.record(
            "sso.refused",
            school_id=first_school_id(person) if person else None,
            target=person,
            detail={"provider": key, "reason": reason, "email": email},
            actor_label=email or "anonymous",
        )
        db.session.commit()
    headers = {"Retry-After": "30"} if isinstance(error, sso.ProviderUnavailable) else {}
    page = render_template("sso/refused.html", message=error.message, label=label)
    return page, error.status_code, headers


@bp.route("/sso/<key>/start")
@public
def start(key: str):
    """Send the browser to the provider's sign-in page.

    A link, not a form: the page's CSP (`form-action 'self'`) would block a form whose
    answer redirects to the provider. Starting a sign-in changes nothing but this
    browser's own session.
    """
    chosen = sso_providers.provider(key)
    db.session.commit()  # nothing held open while the provider answers
    try:
        response = sso.redirect_to_provider(chosen, _callback_url(chosen.key))
    except DomainError as error:
        return _refused(error, chosen.key, chosen.label)
    session[NEXT_KEY] = request.args.get("next", "")[:500]
    return response


@bp.route("/sso/<key>/callback")
@public
def callback(key: str):
    """The provider's answer: check it, sign the staff member in (or say why not)."""
    chosen = sso_providers.provider(key)
    with write_intent():
        attempt = begin_sso_callback(request.remote_addr)
        db.session.commit()  # counted in every process before the code is exchanged
    if attempt.retry_after is not None:
        error = sso.SignInRefused(
            _("Too many sign-ins from here at once. Try again in a few minutes."),
            "throttled",
            status=429,
        )
        page, status, _headers = _refused(error, chosen.key, chosen.label)
        return page, status, {"Retry-After": str(attempt.retry_after)}
    try:
        claims = sso.verified_claims(chosen)
        with write_intent():
            admitted = sso.admit(chosen, claims)
    except DomainError as error:
        return _refused(error, chosen.key, chosen.label)
    target = safe_next(session.get(NEXT_KEY))
    attempt_did_not_fail(attempt)
    user = admitted.user
    school_id = sign_in(user)
    detail = {"provider": chosen.key}
    if admitted.registered:
        audit.record("sso.registered", target=user, actor_user=user, detail=detail)
    audit.record("sso.login", school_id=school_id, target=user, actor_user=user, detail=detail)
    if school_id is None and not user.is_district_admin:
        flash(
            _(
                "You are signed in, but no school has given you a role yet. Ask your school's "
                "admin to add you."
            ),
            "info",
        )
        return redirect(url_for("home.index"))
    return redirect(target)


# ------------------------------------------------------------------ district admin


def _page(template: str = "sso/providers.html", **context):
    return render_template(
        template,
        providers=sso_providers.providers(),
        waiting=sso_providers.waiting_accounts(),
        kinds=SSO_PROVIDER_KINDS,
        kind_labels=sso_providers.KIND_LABELS,
        callback_url=_callback_url,
        **context,
    )


@bp.route("/admin/sign-in", methods=["GET", "POST"])
@access("admin")
def providers():
    """The district's sign-in providers; a district admin adds one here."""
    sso_providers.require_district_admin(g.principal)
    if request.method == "GET":
        return _page(form={"password_sign_in": "on"})
    try:
        added = sso_providers.add_provider(g.principal, request.form)
    except DomainError as error:
        return rerender(
            "sso/providers.html",
            error,
            providers=sso_providers.providers(),
            waiting=sso_providers.waiting_accounts(),
            kinds=SSO_PROVIDER_KINDS,
            kind_labels=sso_providers.KIND_LABELS,
            callback_url=_callback_url,
            form=request.form,
        )
    flash(
        _(
            "%(provider)s is added. Register %(url)s as its redirect URI.",
            provider=added.label,
            url=_callback_url(added.key),
        ),
        "success",
    )
    return redirect(url_for("sso.providers"))


@bp.route("/admin/sign-in/<key>", methods=["GET", "POST"])
@access("admin")
def edit_provider(key: str):
    """Change or remove a stored provider (district admins)."""
    sso_providers.require_district_admin(g.principal)
    if request.method == "GET":
        return render_template(
            "sso/provider_edit.html",
            form=sso_providers.stored_settings(key),
            kinds=SSO_PROVIDER_KINDS,
            kind_labels=sso_providers.KIND_LABELS,
            callback_url=_callback_url(key),
        )
    try:
        if request.form.get("action") == "delete":
            sso_providers.delete_provider(g.principal, key)
            flash(
                _("The provider is removed; its buttons are gone from the sign-in page."), "success"
            )
        else:
            sso_providers.update_provider(g.principal, key, request.form)
            flash(_("Provider saved."), "success")
    except DomainError as error:
        return rerender(
            "sso/provider_edit.html",
            error,
            form={**request.form, "key": key},
            kinds=SSO_PROVIDER_KINDS,
            kind_labels=sso_providers.KIND_LABELS,
            callback_url=_callback_url(key),
        )
    return redirect(url_for("sso.providers"))


@bp.route("/admin/staff/<int:user_id>/sso/<key>", methods=["POST"])
@access("admin")
def unlink(user_id: int, key: str):
    """Forget a staff member's provider account (district admins, from the staff page)."""
    person = staff.school_member(g.principal.school_id, user_id)
    sso.unlink(g.principal, person, key)
    flash(
        _(
            "%(name)s's next sign-in with this provider links their account again.",
            name=person.name,
        ),
        "success",
    )
    return redirect(url_for("admin.staff_edit", user_id=person.id))

"""Single sign-on with OpenID Connect: the protocol and the rules of who may come in.

Why it exists: districts sign staff in with their Google Workspace, Microsoft Entra ID or
ClassLink accounts; nobody should hand 100 teachers a password after a roster import.
Which providers there are, and their settings, is shared/sso_providers.py.

The protocol is Authlib's Flask OAuth client (`FlaskOAuth2App`): authorization code
flow with PKCE (S256), `state` kept in the signed session and used once, a `nonce` in
the ID token, and the ID token's signature checked against the provider's JWKS (fetched
again when a token names a key it does not know, so the provider may rotate its keys),
with its issuer, audience and expiry. What passline adds here, in one place:

- the discovery document must name the configured issuer (OpenID Discovery 4.3), and
  the `iss` of the authorization response too when the provider sends one (RFC 9207);
- who may come in (`admit`): a verified email (`email_verified`) of a configured
  domain, the hosted domain (`hd`, Google) or tenant (`tid`, Microsoft) of the
  district, an active passline account with that email, and the provider subject
  already linked to it (or none yet). Roles always come from passline. An unknown
  address is refused, unless its domain allows self-registration: the account is
  created without any role and waits for an admin;
- every provider call is bounded by `SSO_HTTP_TIMEOUT` seconds: a provider that is
  down gives a clear page within seconds (`ProviderUnavailable`), never a 500.

The client secret reaches Authlib only (client_secret_basic to the token endpoint);
it is never logged.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.base_client.errors import MismatchingStateError, OAuthError
from authlib.integrations.flask_client import FlaskIntegration, FlaskOAuth2App
from flask import current_app, request
from flask_babel import gettext as _
from joserfc.errors import JoseError
from sqlalchemy import select

from shared import audit, staff
from shared.access import Principal
from shared.errors import DomainError, NotFound
from shared.extensions import db
from shared.models import SsoIdentity, SsoProviderKind, User
from shared.sso_providers import Provider, require_district_admin
from shared.timeutil import utcnow

#: The scopes passline asks for: the ID token with the person's email and name.
SCOPES = "openid email profile"
#: A process keeps a provider's discovery document and keys this long (seconds); an
#: unknown key id in a token fetches the keys again at once.
METADATA_MAX_AGE = 3600.0


class ProviderUnavailable(DomainError):
    """The provider did not answer in time, or answered with something unusable."""

    status_code = 502


class SignInRefused(DomainError):
    """An SSO sign-in passline will not accept; `reason` is for the audit log."""

    status_code = 403

    def __init__(self, message: str, reason: str, *, email: str = "", status: int = 403):
        super().__init__(message)
        self.reason, self.email, self.status_code = reason, email, status


def links_of(user: User) -> list[SsoIdentity]:
    """The provider subjects linked to this account."""
    return list(
        db.session.scalars(
            select(SsoIdentity)
            .where(SsoIdentity.user_id == user.id)
            .order_by(SsoIdentity.provider_key)
        )
    )


def unlink(principal: Principal, user: User, key: str) -> None:
    """Forget which provider account signs in to `user` (district admins; audited): the
    next SSO sign-in with this email links its subject again. For an address the
    provider gave to a new person, or a person's new account at the provider."""
    require_district_admin(principal)
    identity = db.session.scalar(
        select(SsoIdentity).where(SsoIdentity.user_id == user.id, SsoIdentity.provider_key == key)
    )
    if identity is None:
        raise NotFound(_("This account has no link to that provider."))
    audit.record("sso.unlink", target=user, detail={"provider": key})
    db.session.delete(identity)


# ------------------------------------------------------------------ the protocol


_clients_lock = threading.Lock()


def _fingerprint(chosen: Provider) -> str:
    timeout = current_app.config["SSO_HTTP_TIMEOUT"]
    material = f"{chosen.issuer}\n{chosen.client_id}\n{chosen.client_secret}\n{timeout}"
    return hashlib.sha256(material.encode()).hexdigest()


def _clients() -> dict[str, tuple[str, float, FlaskOAuth2App]]:
    return current_app.extensions.setdefault("passline.sso_clients", {})


def forget_client(key: str) -> None:
    """Drop this process's client of a provider (its settings changed or it failed)."""
    with _clients_lock:
        _clients().pop(key, None)


def oauth_client(chosen: Provider) -> FlaskOAuth2App:
    """Authlib's client of the provider, kept per process with its discovery document and
    keys for METADATA_MAX_AGE seconds (a changed setting makes a new one)."""
    if chosen.client_secret is None:
        raise ProviderUnavailable(
            _(
                "%(provider)s cannot be used: its client secret cannot be read (the "
                "server's SECRET_KEY changed). A district admin must enter the secret again.",
                provider=chosen.label,
            )
        )
    fingerprint = _fingerprint(chosen)
    with _clients_lock:
        kept = _clients().get(chosen.key)
        if kept and kept[0] == fingerprint and time.monotonic() - kept[1] < METADATA_MAX_AGE:
            return kept[2]
        client = FlaskOAuth2App(
            FlaskIntegration(chosen.key),
            chosen.key,
            client_id=chosen.client_id,
            client_secret=chosen.client_secret,
            server_metadata_url=chosen.discovery_url,
            client_kwargs={
                "scope": SCOPES,
                "code_challenge_method": "S256",
                # Every call to the provider (discovery, keys, token) waits this long at most.
                "default_timeout": current_app.config["SSO_HTTP_TIMEOUT"],
            },
        )
        _clients()[chosen.key] = (fingerprint, time.monotonic(), client)
        return client


def _unavailable(chosen: Provider, error: Exception) -> ProviderUnavailable:
    forget_client(chosen.key)
    current_app.logger.warning("SSO provider %s unavailable: %s", chosen.key, type(error).__name__)
    return ProviderUnavailable(
        _(
            "%(provider)s is not answering right now. Try again in a few minutes; if it "
            "keeps failing, tell your district's IT team.",
            provider=chosen.label,
        )
    )


def _metadata(chosen: Provider, client: FlaskOAuth2App) -> dict[str, Any]:
    """The provider's discovery document, which must name the configured issuer."""
    try:
        metadata = client.load_server_metadata()
    except (requests.RequestException, ValueError) as error:
        raise _unavailable(chosen, error) from error
    if metadata.get("issuer") != chosen.issuer:
        forget_client(chosen.key)
        raise ProviderUnavailable(
            _(
                "%(provider)s is set up with a wrong issuer URL (its discovery document "
                "names another issuer). A district admin must correct it.",
                provider=chosen.label,
            )
        )
    return metadata


def redirect_to_provider(chosen: Provider, redirect_uri: str):
    """The redirect to the provider's sign-in page, with state, nonce and PKCE saved in the
    session (Authlib keeps them under the provider's key, each used once)."""
    client = oauth_client(chosen)
    _metadata(chosen, client)
    try:
        return client.authorize_redirect(redirect_uri)
    except (requests.RequestException, AuthlibBaseError, ValueError) as error:
        raise _unavailable(chosen, error) from error


def verified_claims(chosen: Provider) -> dict[str, Any]:
    """The claims of the provider's ID token for this callback, once Authlib has checked
    state, code (with the PKCE verifier), signature, issuer, audience, expiry and nonce.

    Every failure is a `SignInRefused` (its reason for the audit log) or, when the
    provider does not answer, a `ProviderUnavailable`.
    """
    client = oauth_client(chosen)
    if request.args.get("error"):
        raise SignInRefused(
            _(
                "%(provider)s did not sign you in (%(error)s). Try again, or ask your "
                "school's admin.",
                provider=chosen.label,
                error=request.args["error"][:60],
            ),
            "provider error",
            status=400,
        )
    if not request.args.get("state") or not request.args.get("code"):
        raise SignInRefused(
            _("This sign-in link is incomplete. Start again from the sign-in page."),
            "missing state or code",
            status=400,
        )
    metadata = _metadata(chosen, client)
    returned_issuer = request.args.get("iss")
    if metadata.get("authorization_response_iss_parameter_supported") and (
        returned_issuer != chosen.issuer
    ):
        raise SignInRefused(
            _("The answer came from another provider. Start again from the sign-in page."),
            "issuer of the authorization response",
            status=400,
        )
    # Authlib checks `aud` only when told which values it may hold: without this, a token
    # for another client that names this one as `azp` would pass (tests/shared/test_sso.py).
    claims_options = {
        "iss": {"essential": True, "values": [chosen.issuer]},
        "aud": {"essential": True, "values": [chosen.client_id]},
    }
    try:
        token = client.authorize_access_token(claims_options=claims_options)
    except MismatchingStateError as error:
        raise SignInRefused(
            _("This sign-in has expired or was already used. Start again from the sign-in page."),
            "state missing, replayed or not this browser's",
            status=400,
        ) from error
    except requests.RequestException as error:
        raise _unavailable(chosen, error) from error
    except (AuthlibBaseError, JoseError, ValueError, KeyError) as error:
        if isinstance(error, OAuthError):
            reason = f"token refused: {error.error or type(error).__name__}"
        else:
            reason = f"ID token rejected: {type(error).__name__} {str(error)[:80]}"
        raise SignInRefused(
            _(
                "The answer from %(provider)s could not be trusted, so you are not signed "
                "in. Try again; if it keeps failing, tell your district's IT team.",
                provider=chosen.label,
            ),
            reason,
        ) from error
    claims = token.get("userinfo")
    if not claims:
        raise SignInRefused(
            _("%(provider)s sent no ID token, so you are not signed in.", provider=chosen.label),
            "no ID token",
        )
    return dict(claims)


def _verified(chosen: Provider, claims: Mapping[str, Any]) -> bool:
    """Does the provider vouch for the email? `email_verified` (Microsoft Entra: or its
    optional `xms_edov`, "email domain owner verified")."""

    def true(value: Any) -> bool:
        return value is True or (isinstance(value, str) and value.lower() == "true")

    if true(claims.get("email_verified")):
        return True
    return chosen.kind == SsoProviderKind.MICROSOFT and true(claims.get("xms_edov"))


@dataclass(frozen=True)
class Admitted:
    user: User
    #: True when this sign-in created the account (self-registration).
    registered: bool = False


def admit(chosen: Provider, claims: Mapping[str, Any]) -> Admitted:
    """The passline account these verified claims sign in to, or `SignInRefused`."""
    email = str(claims.get("email") or "").strip().lower()[:254]
    subject = str(claims.get("sub") or "")[:255]
    if not email or "@" not in email or not subject:
        raise SignInRefused(
            _("%(provider)s did not say who you are (no email address).", provider=chosen.label),
            "no email",
        )
    if not _verified(chosen, claims):
        raise SignInRefused(
            _(
                "%(provider)s has not verified your email address, so passline cannot "
                "sign you in with it. Ask your district's IT team.",
                provider=chosen.label,
            ),
            "email not verified",
            email=email,
        )
    domain = email.rpartition("@")[2]
    if not chosen.allows(domain):
        raise SignInRefused(
            _(
                "Accounts of %(domain)s cannot sign in here with %(provider)s. Use your "
                "school account.",
                domain=domain,
                provider=chosen.label,
            ),
            "domain not allowed",
            email=email,
        )
    if chosen.kind == SsoProviderKind.GOOGLE and claims.get("hd") not in chosen.domains:
        raise SignInRefused(
            _(
                "This Google account is not one of the district's Google Workspace. Use your "
                "school account."
            ),
            "hosted domain (hd) not allowed",
            email=email,
        )
    if chosen.kind == SsoProviderKind.MICROSOFT and claims.get("tid") != chosen.tenant_id:
        raise SignInRefused(
            _(
                "This Microsoft account is not one of the district's directory. Use your "
                "school account."
            ),
            "tenant (tid) not allowed",
            email=email,
        )
    user = staff.find_user_by_email(email)
    linked = db.session.scalar(
        select(SsoIdentity).where(
            SsoIdentity.provider_key == chosen.key, SsoIdentity.subject == subject
        )
    )
    if linked is not None and (user is None or linked.user_id != user.id):
        raise SignInRefused(
            _("This provider account belongs to another passline account. Ask a district admin."),
            "subject linked to another account",
            email=email,
        )
    registered = False
    if user is None:
        if domain not in chosen.self_registration_domains:
            raise SignInRefused(
                _(
                    "passline has no staff account for %(email)s. Ask your school's admin to "
                    "add you, then sign in again.",
                    email=email,
                ),
                "unknown email",
                email=email,
            )
        name = str(claims.get("name") or email.partition("@")[0])[:200]
        user = User(email=email, name=name, password_hash=None)
        db.session.add(user)
        db.session.flush()
        registered = True
    if not user.active:
        raise SignInRefused(
            _("This account is deactivated. Ask your school's admin."),
            "deactivated",
            email=email,
        )
    if linked is None:
        other = db.session.scalar(
            select(SsoIdentity).where(
                SsoIdentity.provider_key == chosen.key, SsoIdentity.user_id == user.id
            )
        )
        if other is not None:
            raise SignInRefused(
                _(
                    "Your %(provider)s account is not the one this passline account was "
                    "first used with. A district admin can remove the old link on your staff "
                    "page.",
                    provider=chosen.label,
                ),
                "another subject is linked to this account",
                email=email,
            )
        linked = SsoIdentity(user_id=user.id, provider_key=chosen.key, subject=subject)
        db.session.add(linked)
    linked.last_login_at = utcnow()
    return Admitted(user=user, registered=registered)

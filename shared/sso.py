"""Single sign-on with OpenID Connect: the district's providers and the rules of an SSO sign-in.

Why it exists: districts sign staff in with their Google Workspace, Microsoft Entra ID or
ClassLink accounts; nobody should hand 100 teachers a password after a roster import.

The protocol is Authlib's Flask OAuth client (`FlaskOAuth2App`): authorization code
flow with PKCE (S256), `state` kept in the signed session and used once, a `nonce` in
the ID token, and the ID token's signature checked against the provider's JWKS (fetched
again when a token names a key it does not know, so the provider may rotate its keys),
with its issuer, audience and expiry. What passline adds here, in one place:

- which providers exist: stored ones (`sso_providers`, a district admin's page) and
  ones from the environment (`SSO_PROVIDERS`, for automated installs), validated by
  the same rules (`clean_settings`);
- the discovery document must name the configured issuer (OpenID Discovery 4.3), and
  the `iss` of the authorization response too when the provider sends one (RFC 9207);
- who may come in (`admit`): a verified email (`email_verified`) of a configured
  domain, the hosted domain (`hd`, Google) or tenant (`tid`, Microsoft) of the
  district, an active passline account with that email, and the provider subject
  already linked to it (or none yet). Roles always come from passline. An unknown
  address is refused, unless its domain allows self-registration: the account is
  created without any role and waits for an admin;
- whether password sign-in stays open to staff of a provider's domains;
- every provider call is bounded by `SSO_HTTP_TIMEOUT` seconds: a provider that is
  down gives a clear page within seconds (`ProviderUnavailable`), never a 500.

Client secrets are stored encrypted (Fernet, with a key derived from SECRET_KEY), never
shown back, never written to the audit log or the logs.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.base_client.errors import MismatchingStateError, OAuthError
from authlib.integrations.flask_client import FlaskIntegration, FlaskOAuth2App
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app, request
from joserfc.errors import JoseError
from sqlalchemy import delete, select
from sqlalchemy.exc import SQLAlchemyError

from shared import audit, staff
from shared.access import Principal
from shared.dbguard import is_outage
from shared.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from shared.extensions import db
from shared.models import (
    SSO_PROVIDER_KINDS,
    Membership,
    SsoIdentity,
    SsoProvider,
    SsoProviderKind,
    User,
)
from shared.timeutil import utcnow

#: The scopes passline asks for: the ID token with the person's email and name.
SCOPES = "openid email profile"
#: A process keeps a provider's discovery document and keys this long (seconds); an
#: unknown key id in a token fetches the keys again at once.
METADATA_MAX_AGE = 3600.0
KIND_LABELS = {
    "google": "Google Workspace",
    "microsoft": "Microsoft Entra ID",
    "classlink": "ClassLink",
    "oidc": "Other OpenID provider (by its issuer)",
}
#: What the sign-in button says after "Sign in with", by default.
DEFAULT_LABELS = {
    "google": "Google",
    "microsoft": "Microsoft",
    "classlink": "ClassLink",
    "oidc": "your district account",
}
DEFAULT_ISSUERS = {
    "google": "https://accounts.google.com",
    "classlink": "https://launchpad.classlink.com",
}
ENV_PREFIX = "SSO_"
_KEY = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
_DOMAIN = re.compile(r"(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}")
_TENANT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_SPLIT = re.compile(r"[\s,;]+")


class ProviderUnavailable(DomainError):
    """The provider did not answer in time, or answered with something unusable."""

    status_code = 502


class SignInRefused(DomainError):
    """An SSO sign-in passline will not accept; `reason` is for the audit log."""

    status_code = 403

    def __init__(self, message: str, reason: str, *, email: str = "", status: int = 403):
        super().__init__(message)
        self.reason, self.email, self.status_code = reason, email, status


# ------------------------------------------------------------------ providers


@dataclass(frozen=True)
class Provider:
    """A provider as the sign-in uses it, whether stored or from the environment."""

    key: str
    kind: str
    label: str
    issuer: str
    client_id: str
    #: None when a stored secret cannot be decrypted (SECRET_KEY changed).
    client_secret: str | None = field(repr=False)
    domains: tuple[str, ...]
    self_registration_domains: tuple[str, ...] = ()
    password_sign_in: bool = True
    tenant_id: str | None = None
    #: "admin" (stored, editable) or "environment" (read-only in the UI).
    source: str = "admin"

    @property
    def discovery_url(self) -> str:
        return self.issuer.rstrip("/") + "/.well-known/openid-configuration"

    def allows(self, domain: str) -> bool:
        return domain in self.domains


def _fernet() -> Fernet:
    """The key that seals client secrets, derived from SECRET_KEY (HKDF-SHA256)."""
    secret = current_app.config["SECRET_KEY"]
    raw = secret.encode() if isinstance(secret, str) else bytes(secret)
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"passline sso client secret"
    ).derive(raw)
    return Fernet(base64.urlsafe_b64encode(derived))


def seal(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def unseal(sealed: str) -> str | None:
    try:
        return _fernet().decrypt(sealed.encode()).decode()
    except InvalidToken:
        return None


def _from_row(row: SsoProvider) -> Provider:
    return Provider(
        key=row.key,
        kind=row.kind,
        label=row.label,
        issuer=row.issuer,
        client_id=row.client_id,
        client_secret=unseal(row.client_secret_sealed),
        domains=tuple(row.domains),
        self_registration_domains=tuple(row.self_registration_domains),
        password_sign_in=row.password_sign_in,
        tenant_id=row.tenant_id,
        source="admin",
    )


#: Where the app keeps the providers read from its environment when it was made.
ENVIRONMENT_KEY = "passline.sso_environment"


def environment_providers() -> dict[str, Provider]:
    """The providers `SSO_PROVIDERS` names, read once when the app was made (see the
    README and shared/sso_views.py)."""
    return current_app.extensions.get(ENVIRONMENT_KEY, {})


def parse_environment(environ: Mapping[str, str]) -> dict[str, Provider]:
    """Providers from `SSO_PROVIDERS=key1,key2` and `SSO_<KEY>_<SETTING>` variables.

    A mistake stops the app at start with the variable's name: an automated install
    must not come up with a provider half-configured.
    """
    found: dict[str, Provider] = {}
    for key in [k for k in _SPLIT.split(environ.get("SSO_PROVIDERS", "").strip()) if k]:
        prefix = f"{ENV_PREFIX}{key.upper().replace('-', '_')}_"

        def value(name: str, prefix: str = prefix) -> str:
            return environ.get(prefix + name, "")

        secret = value("CLIENT_SECRET")
        secret_file = value("CLIENT_SECRET_FILE")
        if not secret and secret_file:
            with open(secret_file, encoding="utf-8") as handle:
                secret = handle.read().strip()
        try:
            settings = clean_settings(
                {
                    "key": key,
                    "kind": value("KIND"),
                    "label": value("LABEL"),
                    "issuer": value("ISSUER"),
                    "tenant_id": value("TENANT_ID"),
                    "client_id": value("CLIENT_ID"),
                    "client_secret": secret,
                    "domains": value("DOMAINS"),
                    "self_registration_domains": value("SELF_REGISTRATION"),
                    "password_sign_in": value("PASSWORD_SIGN_IN") or "yes",
                },
                secret_required=True,
            )
        except DomainError as error:
            name = prefix + (error.field or "").upper()
            raise RuntimeError(f"SSO provider {key!r} ({name}): {error.message}") from error
        found[key] = Provider(**settings, source="environment")
    return found


def providers() -> list[Provider]:
    """Every configured provider: the environment's, then the stored ones, by label."""
    stored = db.session.scalars(select(SsoProvider).order_by(SsoProvider.label, SsoProvider.id))
    from_env = environment_providers()
    return [*from_env.values(), *(_from_row(row) for row in stored if row.key not in from_env)]


@dataclass(frozen=True)
class Button:
    """A provider's button on the sign-in page."""

    key: str
    label: str


def sign_in_buttons() -> list[Button]:
    """The sign-in page's buttons, one per provider.

    The sign-in page renders while the database is down (shared/errorpages.py, the
    outage tests): the buttons are then the ones this process read last.
    """
    kept = current_app.extensions.setdefault("passline.sso_buttons", [])
    try:
        buttons = [Button(p.key, p.label) for p in providers()]
    except SQLAlchemyError as error:
        if not is_outage(error):
            raise
        try:
            db.session.rollback()
        except SQLAlchemyError:
            db.session.close()  # the connection is gone with the database
        return list(kept) or [Button(p.key, p.label) for p in environment_providers().values()]
    kept[:] = buttons
    return buttons


def provider(key: str) -> Provider:
    """The provider with this key, or NotFound (404)."""
    found = environment_providers().get(key)
    if found is not None:
        return found
    row = db.session.scalar(select(SsoProvider).where(SsoProvider.key == key[:40]))
    if row is None:
        raise NotFound("There is no such sign-in provider.")
    return _from_row(row)


def _domains(raw: str, field_name: str, label: str) -> tuple[str, ...]:
    domains = []
    for part in _SPLIT.split(raw.strip().lower()):
        part = part.lstrip("@")
        if not part:
            continue
        if not _DOMAIN.fullmatch(part):
            raise InvalidInput(f"{label}: {part[:60]!r} is not a domain name.", field=field_name)
        if part not in domains:
            domains.append(part)
    return tuple(domains)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _issuer(raw: str) -> str:
    """An https issuer URL (http only on this machine's loopback, for tests and trials)."""
    issuer = raw.strip().rstrip("/")
    parts = urlsplit(issuer)
    host = parts.hostname or ""
    scheme_ok = parts.scheme == "https" or (parts.scheme == "http" and _is_loopback(host))
    if len(issuer) > 500 or not host or not scheme_ok or parts.query or parts.fragment:
        raise InvalidInput(
            "Issuer URL: give the provider's https address, e.g. https://sso.district.org.",
            field="issuer",
        )
    return issuer


def clean_settings(values: Mapping[str, Any], *, secret_required: bool) -> dict[str, Any]:
    """A provider's settings from a form or the environment, checked; the one home of the
    rules. Raises InvalidInput naming the field. A blank secret means "keep it" when
    `secret_required` is false (editing)."""

    def text(name: str) -> str:
        raw = values.get(name)
        return raw.strip() if isinstance(raw, str) else ""

    key = text("key").lower()
    if not _KEY.fullmatch(key):
        raise InvalidInput(
            "Key: 1 to 40 lower-case letters, digits or dashes, e.g. google.", field="key"
        )
    kind = text("kind").lower()
    if kind not in SSO_PROVIDER_KINDS:
        raise InvalidInput("Kind: choose Google, Microsoft, ClassLink or Other.", field="kind")
    label = text("label") or DEFAULT_LABELS.get(kind, "")
    if not label or len(label) > 100:
        raise InvalidInput("Button label: 1 to 100 characters.", field="label")
    tenant_id = text("tenant_id").lower() or None
    if kind == SsoProviderKind.MICROSOFT:
        if tenant_id is None or not _TENANT.fullmatch(tenant_id):
            raise InvalidInput(
                "Tenant ID: the Directory (tenant) ID of your Entra directory, "
                "e.g. 72f988bf-86f1-41af-91ab-2d7cd011db47.",
                field="tenant_id",
            )
        default_issuer = f"https://login.microsoftonline.com/{tenant_id}/v2.0"
    else:
        tenant_id = None
        default_issuer = DEFAULT_ISSUERS.get(kind, "")
    issuer_text = text("issuer") or default_issuer
    if not issuer_text:
        raise InvalidInput("Issuer URL: required for this kind of provider.", field="issuer")
    client_id = text("client_id")
    if not client_id or len(client_id) > 255:
        raise InvalidInput("Client ID: 1 to 255 characters.", field="client_id")
    client_secret = text("client_secret")
    if len(client_secret) > 2000:
        raise InvalidInput("Client secret: at most 2000 characters.", field="client_secret")
    if secret_required and not client_secret:
        raise InvalidInput("Client secret: required.", field="client_secret")
    domains = _domains(text("domains"), "domains", "Email domains")
    if not domains:
        raise InvalidInput(
            "Email domains: at least one, e.g. district.org (staff of other domains are refused).",
            field="domains",
        )
    self_registration = _domains(
        text("self_registration_domains"), "self_registration_domains", "Self-registration"
    )
    if not set(self_registration) <= set(domains):
        raise InvalidInput(
            "Self-registration: only domains listed under Email domains.",
            field="self_registration_domains",
        )
    password = values.get("password_sign_in")
    password_sign_in = isinstance(password, str) and password.strip().lower() in {
        "1",
        "on",
        "yes",
        "true",
    }
    return {
        "key": key,
        "kind": kind,
        "label": label,
        "issuer": _issuer(issuer_text),
        "tenant_id": tenant_id,
        "client_id": client_id,
        "client_secret": client_secret or None,
        "domains": domains,
        "self_registration_domains": self_registration,
        "password_sign_in": password_sign_in,
    }


def require_district_admin(principal: Principal) -> None:
    if principal.user is None or not principal.user.is_district_admin:
        raise Forbidden("Only a district admin may change the sign-in providers.")


def _audited(settings: Mapping[str, Any]) -> dict[str, Any]:
    """What the audit log keeps of a provider's settings: everything but the secret."""
    shown = {k: v for k, v in settings.items() if k != "client_secret"}
    for name in ("domains", "self_registration_domains"):
        shown[name] = list(shown[name])
    return shown


def _stored(key: str) -> SsoProvider:
    if key in environment_providers():
        raise Forbidden("This provider is set in the server's environment; change it there.")
    row = db.session.scalar(select(SsoProvider).where(SsoProvider.key == key[:40]))
    if row is None:
        raise NotFound("There is no such sign-in provider.")
    return row


def add_provider(principal: Principal, values: Mapping[str, Any]) -> SsoProvider:
    """Store a new provider (district admins only; audited without its secret)."""
    require_district_admin(principal)
    settings = clean_settings(values, secret_required=True)
    taken = settings["key"] in environment_providers() or db.session.scalar(
        select(SsoProvider.id).where(SsoProvider.key == settings["key"])
    )
    if taken:
        raise Conflict("Another provider has this key already.", field="key")
    row = SsoProvider(
        **{k: v for k, v in settings.items() if k != "client_secret"},
        client_secret_sealed=seal(settings["client_secret"]),
    )
    row.domains, row.self_registration_domains = (
        list(settings["domains"]),
        list(settings["self_registration_domains"]),
    )
    db.session.add(row)
    db.session.flush()
    audit.record("sso.provider_add", target=row, detail=_audited(settings))
    return row


def update_provider(principal: Principal, key: str, values: Mapping[str, Any]) -> SsoProvider:
    """Change a stored provider; a blank secret keeps the stored one (audited, no secret)."""
    require_district_admin(principal)
    row = _stored(key)
    settings = clean_settings({**values, "key": row.key}, secret_required=False)
    before = _audited(_settings_of(row))
    secret = settings.pop("client_secret")
    for name, value in settings.items():
        setattr(row, name, list(value) if isinstance(value, tuple) else value)
    if secret is not None:
        row.client_secret_sealed = seal(secret)
    row.updated_at = utcnow()
    after = _audited({**settings, "client_secret": None})
    changed = {k: {"before": before[k], "after": v} for k, v in after.items() if before[k] != v}
    audit.record(
        "sso.provider_update",
        target=row,
        detail={"key": row.key, "changed": changed, "secret_replaced": secret is not None},
    )
    forget_client(row.key)
    return row


def delete_provider(principal: Principal, key: str) -> None:
    """Remove a stored provider and the subjects linked through it (audited)."""
    require_district_admin(principal)
    row = _stored(key)
    unlinked = db.session.execute(
        delete(SsoIdentity).where(SsoIdentity.provider_key == row.key)
    ).rowcount
    audit.record(
        "sso.provider_delete",
        target=row,
        detail={"key": row.key, "label": row.label, "unlinked_accounts": unlinked},
    )
    db.session.delete(row)
    forget_client(row.key)


def _settings_of(row: SsoProvider) -> dict[str, Any]:
    return {
        "key": row.key,
        "kind": row.kind,
        "label": row.label,
        "issuer": row.issuer,
        "tenant_id": row.tenant_id,
        "client_id": row.client_id,
        "client_secret": None,
        "domains": tuple(row.domains),
        "self_registration_domains": tuple(row.self_registration_domains),
        "password_sign_in": row.password_sign_in,
    }


def stored_settings(key: str) -> dict[str, Any]:
    """A stored provider's settings for its edit form (the secret is never among them)."""
    settings = _settings_of(_stored(key))
    settings.pop("client_secret")
    return settings


def waiting_accounts() -> list[User]:
    """Accounts made by self-registration that no school has given a role yet."""
    has_role = select(Membership.id).where(Membership.user_id == User.id).exists()
    linked = select(SsoIdentity.id).where(SsoIdentity.user_id == User.id).exists()
    return list(
        db.session.scalars(
            select(User)
            .where(~has_role, linked, User.is_district_admin.is_(False), User.active.is_(True))
            .order_by(User.created_at, User.id)
        )
    )


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
        raise NotFound("This account has no link to that provider.")
    audit.record("sso.unlink", target=user, detail={"provider": key})
    db.session.delete(identity)


def password_refused_by(user: User) -> Provider | None:
    """The provider that closes password sign-in to this account's domain, if any.

    District admins keep their password: the way in when the provider is down.
    """
    if user.is_district_admin:
        return None
    domain = user.email.rpartition("@")[2].lower()
    for candidate in providers():
        if not candidate.password_sign_in and candidate.allows(domain):
            return candidate
    return None


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
            f"{chosen.label} cannot be used: its client secret cannot be read (the "
            "server's SECRET_KEY changed). A district admin must enter the secret again."
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
        f"{chosen.label} is not answering right now. Try again in a few minutes; if it "
        "keeps failing, tell your district's IT team."
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
            f"{chosen.label} is set up with a wrong issuer URL (its discovery document "
            "names another issuer). A district admin must correct it."
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
            f"{chosen.label} did not sign you in ({request.args['error'][:60]}). "
            "Try again, or ask your school's admin.",
            "provider error",
            status=400,
        )
    if not request.args.get("state") or not request.args.get("code"):
        raise SignInRefused(
            "This sign-in link is incomplete. Start again from the sign-in page.",
            "missing state or code",
            status=400,
        )
    metadata = _metadata(chosen, client)
    returned_issuer = request.args.get("iss")
    if metadata.get("authorization_response_iss_parameter_supported") and (
        returned_issuer != chosen.issuer
    ):
        raise SignInRefused(
            "The answer came from another provider. Start again from the sign-in page.",
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
            "This sign-in has expired or was already used. Start again from the sign-in page.",
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
            f"The answer from {chosen.label} could not be trusted, so you are not signed "
            "in. Try again; if it keeps failing, tell your district's IT team.",
            reason,
        ) from error
    claims = token.get("userinfo")
    if not claims:
        raise SignInRefused(
            f"{chosen.label} sent no ID token, so you are not signed in.", "no ID token"
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
            f"{chosen.label} did not say who you are (no email address).", "no email"
        )
    if not _verified(chosen, claims):
        raise SignInRefused(
            f"{chosen.label} has not verified your email address, so passline cannot "
            "sign you in with it. Ask your district's IT team.",
            "email not verified",
            email=email,
        )
    domain = email.rpartition("@")[2]
    if not chosen.allows(domain):
        raise SignInRefused(
            f"Accounts of {domain} cannot sign in here with {chosen.label}. Use your "
            "school account.",
            "domain not allowed",
            email=email,
        )
    if chosen.kind == SsoProviderKind.GOOGLE and claims.get("hd") not in chosen.domains:
        raise SignInRefused(
            "This Google account is not one of the district's Google Workspace. Use your "
            "school account.",
            "hosted domain (hd) not allowed",
            email=email,
        )
    if chosen.kind == SsoProviderKind.MICROSOFT and claims.get("tid") != chosen.tenant_id:
        raise SignInRefused(
            "This Microsoft account is not one of the district's directory. Use your "
            "school account.",
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
            "This provider account belongs to another passline account. Ask a district admin.",
            "subject linked to another account",
            email=email,
        )
    registered = False
    if user is None:
        if domain not in chosen.self_registration_domains:
            raise SignInRefused(
                "passline has no staff account for "
                f"{email}. Ask your school's admin to add you, then sign in again.",
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
            "This account is deactivated. Ask your school's admin.",
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
                f"Your {chosen.label} account is not the one this passline account was "
                "first used with. A district admin can remove the old link on your staff page.",
                "another subject is linked to this account",
                email=email,
            )
        linked = SsoIdentity(user_id=user.id, provider_key=chosen.key, subject=subject)
        db.session.add(linked)
    linked.last_login_at = utcnow()
    return Admitted(user=user, registered=registered)

"""Single sign-on providers: which OpenID providers the district uses, and their settings.

Why it exists: a district admin sets up Google Workspace, Microsoft Entra ID, ClassLink
or any OpenID provider once (Admin, Sign-in providers; or `SSO_PROVIDERS` in the
environment for automated installs), and every school's sign-in page shows its button.
Both kinds of provider are checked by the same rules (`clean_settings`, the one home of
them); stored ones are audited when they change, without their client secret, which is
kept encrypted (Fernet, a key derived from SECRET_KEY) and never shown back.

The sign-in itself (the protocol and who may come in) is shared/sso.py.

Why one module: a provider's settings have one life, whether they come from the
environment or the admin's form: read (`parse_environment`, `_from_row`), checked
(`clean_settings`), sealed, stored and audited. Split, the check would sit apart from the
two places that must both pass through it. The admin's writes (`add_provider` and the
rest) are the part to move out first if it grows.
"""

from __future__ import annotations

import base64
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from sqlalchemy import delete, select
from sqlalchemy.exc import SQLAlchemyError

from shared import audit
from shared.access import Principal
from shared.dbguard import is_outage
from shared.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from shared.extensions import db
from shared.forms import parse_bool
from shared.models import (
    SSO_PROVIDER_KINDS,
    Membership,
    SsoIdentity,
    SsoProvider,
    SsoProviderKind,
    User,
)
from shared.timeutil import utcnow

KIND_LABELS = {
    "google": "Google Workspace",
    "microsoft": "Microsoft Entra ID",
    "classlink": "ClassLink",
    "oidc": lazy_gettext("Other OpenID provider (by its issuer)"),
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


def providers_for_email(email: str) -> list[Provider]:
    """The providers that may sign in this address (its domain is one of theirs)."""
    domain = email.rpartition("@")[2].lower()
    return [chosen for chosen in providers() if chosen.allows(domain)]


def provider(key: str) -> Provider:
    """The provider with this key, or NotFound (404)."""
    found = environment_providers().get(key)
    if found is not None:
        return found
    row = db.session.scalar(select(SsoProvider).where(SsoProvider.key == key[:40]))
    if row is None:
        raise NotFound(_("There is no such sign-in provider."))
    return _from_row(row)


def _domains(raw: str, field_name: str, label: str) -> tuple[str, ...]:
    domains = []
    for part in _SPLIT.split(raw.strip().lower()):
        part = part.lstrip("@")
        if not part:
            continue
        if not _DOMAIN.fullmatch(part):
            raise InvalidInput(
                _("%(field)s: %(value)s is not a domain name.", field=label, value=repr(part[:60])),
                field=field_name,
            )
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
            _("Issuer URL: give the provider's https address, e.g. https://sso.district.org."),
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
            _("Key: 1 to 40 lower-case letters, digits or dashes, e.g. google."), field="key"
        )
    kind = text("kind").lower()
    if kind not in SSO_PROVIDER_KINDS:
        raise InvalidInput(_("Kind: choose Google, Microsoft, ClassLink or Other."), field="kind")
    label = text("label") or DEFAULT_LABELS.get(kind, "")
    if not label or len(label) > 100:
        raise InvalidInput(_("Button label: 1 to 100 characters."), field="label")
    tenant_id = text("tenant_id").lower() or None
    if kind == SsoProviderKind.MICROSOFT:
        if tenant_id is None or not _TENANT.fullmatch(tenant_id):
            raise InvalidInput(
                _(
                    "Tenant ID: the Directory (tenant) ID of your Entra directory, "
                    "e.g. 72f988bf-86f1-41af-91ab-2d7cd011db47."
                ),
                field="tenant_id",
            )
        default_issuer = f"https://login.microsoftonline.com/{tenant_id}/v2.0"
    else:
        tenant_id = None
        default_issuer = DEFAULT_ISSUERS.get(kind, "")
    issuer_text = text("issuer") or default_issuer
    if not issuer_text:
        raise InvalidInput(_("Issuer URL: required for this kind of provider."), field="issuer")
    client_id = text("client_id")
    if not client_id or len(client_id) > 255:
        raise InvalidInput(_("Client ID: 1 to 255 characters."), field="client_id")
    client_secret = text("client_secret")
    if len(client_secret) > 2000:
        raise InvalidInput(_("Client secret: at most 2000 characters."), field="client_secret")
    if secret_required and not client_secret:
        raise InvalidInput(_("Client secret: required."), field="client_secret")
    domains = _domains(text("domains"), "domains", _("Email domains"))
    if not domains:
        raise InvalidInput(
            _(
                "Email domains: at least one, e.g. district.org (staff of other domains are "
                "refused)."
            ),
            field="domains",
        )
    self_registration = _domains(
        text("self_registration_domains"), "self_registration_domains", _("Self-registration")
    )
    if not set(self_registration) <= set(domains):
        raise InvalidInput(
            _("Self-registration: only domains listed under Email domains."),
            field="self_registration_domains",
        )
    password_sign_in = parse_bool(values.get("password_sign_in"))
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
        raise Forbidden(_("Only a district admin may change the sign-in providers."))


def _audited(settings: Mapping[str, Any]) -> dict[str, Any]:
    """What the audit log keeps of a provider's settings: everything but the secret."""
    shown = {k: v for k, v in settings.items() if k != "client_secret"}
    for name in ("domains", "self_registration_domains"):
        shown[name] = list(shown[name])
    return shown


def _stored(key: str) -> SsoProvider:
    if key in environment_providers():
        raise Forbidden(_("This provider is set in the server's environment; change it there."))
    row = db.session.scalar(select(SsoProvider).where(SsoProvider.key == key[:40]))
    if row is None:
        raise NotFound(_("There is no such sign-in provider."))
    return row


def add_provider(principal: Principal, values: Mapping[str, Any]) -> SsoProvider:
    """Store a new provider (district admins only; audited without its secret)."""
    require_district_admin(principal)
    settings = clean_settings(values, secret_required=True)
    taken = settings["key"] in environment_providers() or db.session.scalar(
        select(SsoProvider.id).where(SsoProvider.key == settings["key"])
    )
    if taken:
        raise Conflict(_("Another provider has this key already."), field="key")
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

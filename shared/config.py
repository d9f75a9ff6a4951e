"""Configuration from environment variables (each one is documented in the README).

Production mode (`PASSLINE_ENV`, see `is_production`) asks for a lasting place for the
secret key and the SQLite file: installed from a wheel, Flask's default instance folder is
`<venv>/var/shared-instance`, which a rebuilt virtual environment loses, and with it the
key that signs every session (everyone signed out, paired devices unpaired) or the
database itself. `require_persistent_instance` refuses to start there instead.
"""

import os
import secrets
import sys
from datetime import timedelta
from pathlib import Path

from shared.database import normalise_database_url

_TRUE = {"1", "true", "yes", "on"}


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in _TRUE


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or not value.strip():
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise RuntimeError(f"{name} must be a whole number, not {value!r}") from exc


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    if value is None or not value.strip():
        return default
    try:
        return float(value)
    except ValueError as exc:
        raise RuntimeError(f"{name} must be a number, not {value!r}") from exc


class ConfigurationError(RuntimeError):
    """The environment cannot run passline as it stands; the message says what to set."""


#: The folder that holds the packages (`shared`, `hallpass`, `carline`): a source
#: checkout has pyproject.toml there, an installed package has site-packages.
CODE_ROOT = Path(__file__).resolve().parent.parent


def is_production() -> bool:
    """`PASSLINE_ENV` (`production` or `development`) when set; else production exactly
    when passline runs from an installed package rather than from a source checkout."""
    value = os.environ.get("PASSLINE_ENV", "").strip().lower()
    if value in ("production", "development"):
        return value == "production"
    if value:
        raise ConfigurationError(f"PASSLINE_ENV must be production or development, not {value!r}")
    return not (CODE_ROOT / "pyproject.toml").is_file()


def require_persistent_instance(instance_path: str, overrides: dict | None = None) -> None:
    """In production, refuse an instance folder nobody chose when something lives in it.

    The instance folder holds the generated secret key and the default SQLite file. It is
    chosen with PASSLINE_INSTANCE_PATH; without it, production needs both SECRET_KEY and
    DATABASE_URL, so nothing that must last is kept in the default folder (inside the
    virtual environment when installed from a wheel).
    """
    overrides = overrides or {}
    if os.environ.get("PASSLINE_INSTANCE_PATH") or overrides.get("TESTING") or not is_production():
        return
    has_key = bool(os.environ.get("SECRET_KEY") or overrides.get("SECRET_KEY"))
    has_database = bool(os.environ.get("DATABASE_URL") or overrides.get("SQLALCHEMY_DATABASE_URI"))
    if has_key and has_database:
        return
    missing = " and ".join(
        name
        for name, present in (("SECRET_KEY", has_key), ("DATABASE_URL", has_database))
        if not present
    )
    inside = " (inside the virtual environment)" if instance_path.startswith(sys.prefix) else ""
    raise ConfigurationError(
        "passline runs in production mode without PASSLINE_INSTANCE_PATH, so its secret key "
        f"and SQLite database would be kept in {instance_path}{inside} and lost when it is "
        "rebuilt. Set PASSLINE_INSTANCE_PATH to a lasting folder (e.g. /var/lib/passline), "
        f"or set {missing}. For a trial, PASSLINE_ENV=development allows the default folder."
    )


def load_secret_key(instance_path: str) -> str:
    """SECRET_KEY from the environment, else one generated once into the instance folder."""
    key = os.environ.get("SECRET_KEY")
    if key:
        return key
    path = Path(instance_path) / "secret_key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


#: How a connection to the SMTP server is secured: STARTTLS after connecting (port 587),
#: TLS from the start (port 465), or not at all (a relay on the same host or network).
SMTP_SECURITY_CHOICES = ("starttls", "tls", "none")


def smtp_from_environment() -> dict:
    """The SMTP settings (README, Configuration). Mail is off while SMTP_HOST is empty.

    With SMTP_HOST set, MAIL_FROM and PUBLIC_URL are required: PUBLIC_URL is the address
    the links in the mail point at. It is never taken from the request, whose Host header
    the sender of a "forgot password" request chooses (a reset link to their own server).
    """
    host = os.environ.get("SMTP_HOST", "").strip()
    security = os.environ.get("SMTP_SECURITY", "starttls").strip().lower()
    if security not in SMTP_SECURITY_CHOICES:
        raise RuntimeError(f"SMTP_SECURITY must be one of {', '.join(SMTP_SECURITY_CHOICES)}")
    settings = {
        "SMTP_HOST": host,
        "SMTP_PORT": env_int("SMTP_PORT", 465 if security == "tls" else 587),
        "SMTP_SECURITY": security,
        "SMTP_USER": os.environ.get("SMTP_USER", ""),
        "SMTP_PASSWORD": os.environ.get("SMTP_PASSWORD", ""),
        "SMTP_TIMEOUT_SECONDS": env_float("SMTP_TIMEOUT_SECONDS", 10.0),
        #: A CA bundle to check the mail server's certificate with (the district's own CA);
        #: empty: the system's CAs.
        "SMTP_CA_FILE": os.environ.get("SMTP_CA_FILE", "").strip(),
        "MAIL_FROM": os.environ.get("MAIL_FROM", "").strip(),
        "PUBLIC_URL": os.environ.get("PUBLIC_URL", "").strip().rstrip("/"),
    }
    if host and not (settings["MAIL_FROM"] and settings["PUBLIC_URL"]):
        raise RuntimeError("With SMTP_HOST set, set MAIL_FROM and PUBLIC_URL too (see README)")
    return settings


def from_environment(instance_path: str) -> dict:
    """Settings read from the environment, with safe defaults for a single school."""
    default_db = f"sqlite:///{Path(instance_path) / 'passline.sqlite3'}"
    return {
        "SECRET_KEY": load_secret_key(instance_path),
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(
            os.environ.get("DATABASE_URL", default_db)
        ),
        "SESSION_COOKIE_NAME": os.environ.get("SESSION_COOKIE_NAME", "passline_session"),
        "SESSION_COOKIE_SECURE": env_bool("SESSION_COOKIE_SECURE", False),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_IDLE_MINUTES": env_int("SESSION_IDLE_MINUTES", 60),
        "SESSION_ABSOLUTE_HOURS": env_int("SESSION_ABSOLUTE_HOURS", 12),
        "PERMANENT_SESSION_LIFETIME": timedelta(hours=env_int("SESSION_ABSOLUTE_HOURS", 12)),
        "DATABASE_CONNECT_TIMEOUT": env_float("DATABASE_CONNECT_TIMEOUT", 2.0),
        "DATABASE_POOL_TIMEOUT": env_float("DATABASE_POOL_TIMEOUT", 3.0),
        # Each worker process keeps a pool (PostgreSQL): workers x (size + overflow) must
        # stay under the server's max_connections (README, Production).
        "DATABASE_POOL_SIZE": env_int("DATABASE_POOL_SIZE", 5),
        "DATABASE_MAX_OVERFLOW": env_int("DATABASE_MAX_OVERFLOW", 10),
        "DATABASE_POOL_RECYCLE": env_int("DATABASE_POOL_RECYCLE", 0),
        "DATABASE_POOL_PRE_PING": env_bool("DATABASE_POOL_PRE_PING", True),
        "DATABASE_STATEMENT_TIMEOUT": env_float("DATABASE_STATEMENT_TIMEOUT", 5.0),
        "DATABASE_LOCK_TIMEOUT": env_float("DATABASE_LOCK_TIMEOUT", 5.0),
        "DATABASE_RETRY_AFTER": env_int("DATABASE_RETRY_AFTER", 5),
        "REDIS_URL": os.environ.get("REDIS_URL", ""),
        "REDIS_TIMEOUT_SECONDS": env_float("REDIS_TIMEOUT_SECONDS", 0.5),
        "REDIS_RETRY_SECONDS": env_float("REDIS_RETRY_SECONDS", 5.0),
        "LOGIN_FAILURES_PER_ACCOUNT": env_int("LOGIN_FAILURES_PER_ACCOUNT", 5),
        "LOGIN_FAILURES_PER_ADDRESS": env_int("LOGIN_FAILURES_PER_ADDRESS", 50),
        "LOGIN_THROTTLE_MINUTES": env_int("LOGIN_THROTTLE_MINUTES", 15),
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO").upper(),
        "PAIRING_CODE_MINUTES": env_int("PAIRING_CODE_MINUTES", 10),
        "PROXY_COUNT": env_int("PROXY_COUNT", 0),
        "LIVE_POLL_SHORTCUT": env_bool("LIVE_POLL_SHORTCUT", True),
        # Live push streams one process keeps open at most (shared/live_push.py); under
        # gunicorn's threaded worker each holds a thread (shared/gunicorn_conf.py).
        "LIVE_STREAMS": env_int("LIVE_STREAMS", 5000),
        "MAX_CONTENT_LENGTH": env_int("MAX_UPLOAD_MB", 20) * 1024 * 1024,
        # Roster bundles (shared/roster/files.py): the most uncompressed data one may hold,
        # and how many times a member may expand before it is taken for a zip bomb.
        "ROSTER_MAX_MB": env_int("ROSTER_MAX_MB", 1024),
        "ROSTER_MAX_RATIO": env_int("ROSTER_MAX_RATIO", 100),
        "RESET_REQUESTS_PER_ACCOUNT": env_int("RESET_REQUESTS_PER_ACCOUNT", 3),
        "RESET_REQUESTS_PER_ADDRESS": env_int("RESET_REQUESTS_PER_ADDRESS", 20),
        # Guardians' sign-in links (shared/family_sign_in.py): requests per address typed,
        # per family and per client address in LOGIN_THROTTLE_MINUTES; session length.
        "FAMILY_LINKS_PER_EMAIL": env_int("FAMILY_LINKS_PER_EMAIL", 3),
        "FAMILY_LINKS_PER_FAMILY": env_int("FAMILY_LINKS_PER_FAMILY", 6),
        "FAMILY_LINKS_PER_ADDRESS": env_int("FAMILY_LINKS_PER_ADDRESS", 30),
        "FAMILY_SESSION_DAYS": env_int("FAMILY_SESSION_DAYS", 180),
        # Wrong family codes (letters home, shared/family_codes.py) from one client address
        # in LOGIN_THROTTLE_MINUTES before the sign-in page refuses codes from it.
        "FAMILY_CODE_FAILURES_PER_ADDRESS": env_int("FAMILY_CODE_FAILURES_PER_ADDRESS", 10),
        **smtp_from_environment(),
        # Single sign-on: the longest wait for a provider's answer, and the providers
        # set in the environment (SSO_PROVIDERS and SSO_<KEY>_..., read by shared/sso_providers.py).
        "SSO_HTTP_TIMEOUT": env_float("SSO_HTTP_TIMEOUT", 5.0),
        "SSO_ENVIRONMENT": {k: v for k, v in os.environ.items() if k.startswith("SSO_")},
        "SOURCE_URL": os.environ.get("PASSLINE_SOURCE_URL", "").strip(),
        # Who may read /metrics (shared/metrics.py): client addresses or networks, and a
        # bearer token for a Prometheus elsewhere.
        "METRICS_ALLOW": os.environ.get("METRICS_ALLOW", "127.0.0.1,::1"),
        "METRICS_TOKEN": os.environ.get("METRICS_TOKEN", "").strip(),
    }

"""Configuration from the environment, the generated secret key, and the SQLite set-up."""

import os
import stat

import pytest
from sqlalchemy import text

from shared.config import env_int, from_environment, load_secret_key
from shared.database import normalise_database_url


def test_secret_key_is_generated_once_with_owner_only_permissions(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    first = load_secret_key(str(tmp_path))
    assert len(first) >= 64
    mode = stat.S_IMODE(os.stat(tmp_path / "secret_key").st_mode)
    assert mode == 0o600
    assert load_secret_key(str(tmp_path)) == first


def test_secret_key_from_environment_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "from-env")
    assert load_secret_key(str(tmp_path)) == "from-env"
    assert not (tmp_path / "secret_key").exists()


def test_defaults_use_a_sqlite_file_in_the_instance_folder(tmp_path, monkeypatch):
    for name in ("DATABASE_URL", "SESSION_COOKIE_SECURE", "SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    config = from_environment(str(tmp_path))
    assert config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'passline.sqlite3'}"
    assert config["SESSION_COOKIE_HTTPONLY"] is True
    assert config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert config["SESSION_COOKIE_SECURE"] is False
    monkeypatch.setenv("SESSION_COOKIE_SECURE", "true")
    monkeypatch.setenv("DATABASE_URL", "postgres://u@db/passline")
    config = from_environment(str(tmp_path))
    assert config["SESSION_COOKIE_SECURE"] is True
    assert config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@db/passline"


def test_bad_numbers_in_the_environment_are_explained(monkeypatch):
    monkeypatch.setenv("SESSION_LIFETIME_HOURS", "twelve")
    with pytest.raises(RuntimeError, match="SESSION_LIFETIME_HOURS must be a whole number"):
        env_int("SESSION_LIFETIME_HOURS", 12)


def test_postgres_urls_are_normalised():
    assert normalise_database_url("postgresql://x/y") == "postgresql+psycopg://x/y"
    assert normalise_database_url("postgresql+psycopg://x/y") == "postgresql+psycopg://x/y"
    assert normalise_database_url("sqlite:///a.db") == "sqlite:///a.db"


def test_sqlite_runs_in_wal_mode_with_foreign_keys_and_a_busy_timeout(db):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    with db.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() >= 5000


def test_the_poll_shortcut_is_on_unless_turned_off(tmp_path, monkeypatch):
    monkeypatch.delenv("LIVE_POLL_SHORTCUT", raising=False)
    assert from_environment(str(tmp_path))["LIVE_POLL_SHORTCUT"] is True
    monkeypatch.setenv("LIVE_POLL_SHORTCUT", "off")
    assert from_environment(str(tmp_path))["LIVE_POLL_SHORTCUT"] is False


def test_database_url_options_are_kept_beside_the_timeouts():
    from shared.dbguard import engine_options

    config = {
        "DATABASE_POOL_TIMEOUT": 3,
        "DATABASE_POOL_SIZE": 5,
        "DATABASE_MAX_OVERFLOW": 10,
        "DATABASE_POOL_RECYCLE": 0,
        "DATABASE_STATEMENT_TIMEOUT": 5,
        "DATABASE_LOCK_TIMEOUT": 5,
        "DATABASE_CONNECT_TIMEOUT": 2,
    }
    url = "postgresql+psycopg://u@db/passline?options=-csearch_path%3Dschool"
    options = engine_options(url, config)["connect_args"]["options"]
    assert options == "-csearch_path=school -c statement_timeout=5000 -c lock_timeout=5000"


def test_smtp_settings_come_from_the_environment(monkeypatch):
    from shared.config import smtp_from_environment

    for name in ("SMTP_HOST", "SMTP_PORT", "SMTP_SECURITY", "MAIL_FROM", "PUBLIC_URL"):
        monkeypatch.delenv(name, raising=False)
    assert smtp_from_environment()["SMTP_HOST"] == ""  # no mail: hand-over links
    monkeypatch.setenv("SMTP_HOST", "relay.district.org")
    with pytest.raises(RuntimeError, match="MAIL_FROM and PUBLIC_URL"):
        smtp_from_environment()
    monkeypatch.setenv("MAIL_FROM", "passline@district.org")
    monkeypatch.setenv("PUBLIC_URL", "https://passline.district.org/")
    monkeypatch.setenv("SMTP_SECURITY", "TLS")
    settings = smtp_from_environment()
    assert settings["SMTP_PORT"] == 465 and settings["SMTP_SECURITY"] == "tls"
    assert settings["PUBLIC_URL"] == "https://passline.district.org"
    assert settings["SMTP_TIMEOUT_SECONDS"] == 10.0
    monkeypatch.setenv("SMTP_SECURITY", "ssl3")
    with pytest.raises(RuntimeError, match="SMTP_SECURITY must be one of"):
        smtp_from_environment()


def test_the_database_pool_comes_from_the_environment(tmp_path, monkeypatch):
    from shared.dbguard import engine_options

    monkeypatch.setenv("DATABASE_POOL_SIZE", "12")
    monkeypatch.setenv("DATABASE_MAX_OVERFLOW", "3")
    monkeypatch.setenv("DATABASE_POOL_RECYCLE", "1800")
    monkeypatch.setenv("DATABASE_POOL_PRE_PING", "off")
    config = from_environment(str(tmp_path))
    assert config["DATABASE_POOL_PRE_PING"] is False
    options = engine_options("postgresql+psycopg://u@db/passline", config)
    assert (options["pool_size"], options["max_overflow"], options["pool_recycle"]) == (12, 3, 1800)
    monkeypatch.setenv("DATABASE_POOL_RECYCLE", "0")
    config = from_environment(str(tmp_path))
    assert "pool_recycle" not in engine_options("postgresql+psycopg://u@db/passline", config)
    monkeypatch.delenv("DATABASE_POOL_PRE_PING")
    assert from_environment(str(tmp_path))["DATABASE_POOL_PRE_PING"] is True


@pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql"),
    reason="the pool settings and the ping apply to PostgreSQL (set TEST_DATABASE_URL)",
)
@pytest.mark.parametrize("pre_ping", [True, False])
def test_a_postgresql_pool_is_sized_and_pinged_as_configured(app, pre_ping, monkeypatch):
    from shared import create_app
    from shared.extensions import db

    other = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret-key",
            "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
            "DATABASE_POOL_SIZE": 2,
            "DATABASE_MAX_OVERFLOW": 1,
            "DATABASE_POOL_PRE_PING": pre_ping,
        }
    )
    with other.app_context():
        engine = db.engine
        assert (engine.pool.size(), engine.pool._max_overflow) == (2, 1)
        pings = []
        ping = engine.dialect.do_ping
        monkeypatch.setattr(engine.dialect, "do_ping", lambda c: pings.append(1) or ping(c))
        for _ in range(2):  # the first checkout is a fresh connection: never pinged
            with engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
        assert len(pings) == (1 if pre_ping else 0)
        engine.dispose()

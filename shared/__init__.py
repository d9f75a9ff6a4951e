"""The common core of passline and its app factory, `create_app`."""

import logging
import os
from typing import Any

from flask import Flask, g, request

from shared.database import has_writes
from shared.extensions import csrf, db, htmx, login_manager, migrate


class PasslineFlask(Flask):
    """Flask with one commit per request, made after the view has returned.

    Services only flush; the view's whole work commits here at once. A failure at
    commit (a constraint the database held for us) is raised inside the request, so
    the error handlers turn it into a clear 4xx and nothing is half-written.
    """

    def dispatch_request(self) -> Any:
        rv = super().dispatch_request()
        session = db.session()
        if request.method not in ("GET", "HEAD") or has_writes(session):
            session.commit()
        # A read that wrote nothing (a poll) skips the COMMIT; teardown ends it.
        return rv


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the passline app; `config` overrides what the environment says.

    In production mode it refuses to start (`ConfigurationError`, with what to set) when
    the secret key or the SQLite file would live in a folder nobody chose
    (shared/config.py, `require_persistent_instance`).
    """
    from shared.config import require_persistent_instance

    app = PasslineFlask(
        __name__.split(".")[0],
        instance_path=os.environ.get("PASSLINE_INSTANCE_PATH") or None,
        instance_relative_config=True,
    )
    require_persistent_instance(app.instance_path, config)
    os.makedirs(app.instance_path, exist_ok=True)
    configure(app, config or {})
    register_extensions(app)
    register_request_hooks(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_template_helpers(app)
    register_commands(app)
    wrap_wsgi(app)
    from shared import metrics

    metrics.init_app(app)  # last: it counts every answer, the poll shortcut's too
    return app


def configure(app: Flask, overrides: dict[str, Any]) -> None:
    from shared.config import env_bool, from_environment
    from shared.database import normalise_database_url
    from shared.dbguard import engine_options

    app.config.update(from_environment(app.instance_path))
    app.config.update(overrides)
    app.config["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(
        app.config["SQLALCHEMY_DATABASE_URI"]
    )
    options = engine_options(app.config["SQLALCHEMY_DATABASE_URI"], app.config)
    options.update(app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {}))
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
    app.config["WTF_CSRF_TIME_LIMIT"] = None  # tied to the session instead
    app.config["WTF_CSRF_HEADERS"] = ["X-CSRFToken"]
    if "HOUSEKEEPING" not in overrides:  # a test app runs none unless it asks
        app.config["HOUSEKEEPING"] = env_bool("PASSLINE_HOUSEKEEPING", True) and not app.testing
    logging.basicConfig(level=app.config["LOG_LEVEL"])
    app.logger.setLevel(app.config["LOG_LEVEL"])
    from shared.housekeeping import warn_if_off

    warn_if_off(app)


def register_extensions(app: Flask) -> None:
    from shared.database import configure_sqlite
    from shared.dbguard import guard_engine
    from shared.sessions import RememberingCookieSessionInterface

    app.session_interface = RememberingCookieSessionInterface()
    db.init_app(app)
    migrate.init_app(app, db, directory=migrations_directory())
    login_manager.init_app(app)
    csrf.init_app(app)
    htmx.init_app(app)
    from shared import i18n

    i18n.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            configure_sqlite(db.engine, int(app.config["DATABASE_LOCK_TIMEOUT"] * 1000))
        guard_engine(db.engine, app.config)

    from shared import auth  # noqa: F401  (registers the flask-login user loader)


def migrations_directory() -> str:
    """The Alembic migrations: inside the package when installed from a wheel
    (`shared/migrations`, built from the repo's top-level migrations/ by pyproject.toml's
    package-dir), else the checkout's top-level migrations/ (an editable install)."""
    here = os.path.dirname(os.path.abspath(__file__))
    packaged = os.path.join(here, "migrations")
    if os.path.isfile(os.path.join(packaged, "env.py")):
        return packaged
    return os.path.join(os.path.dirname(here), "migrations")


def register_request_hooks(app: Flask) -> None:
    from shared.access import (
        DEVICE_COOKIE,
        FAMILY_COOKIE,
        SUBSTITUTE_COOKIE,
        enforce_access,
        load_principal,
    )
    from shared.database import clear_request_write_intent, set_request_write_intent
    from shared.headers import add_security_headers
    from shared.housekeeping import ensure_running
    from shared.pairing import touch_device

    @app.before_request
    def _start_request():
        ensure_running(app)  # whatever serves the app (shared/housekeeping.py)
        set_request_write_intent(request.method)
        load_principal()
        if g.principal is not None and g.principal.device is not None:
            touch_device(g.principal.device)
        return enforce_access()

    @app.teardown_request
    def _end_request(_exc):
        clear_request_write_intent()

    @app.after_request
    def _headers(response):
        if g.get("forget_device"):
            response.delete_cookie(DEVICE_COOKIE)
        if g.get("forget_family"):
            response.delete_cookie(FAMILY_COOKIE)
        if g.get("forget_substitute"):
            response.delete_cookie(SUBSTITUTE_COOKIE)
        return add_security_headers(response)


def wrap_wsgi(app: Flask) -> None:
    """WSGI layers around Flask: unchanged polls are answered before it (PollShortcut,
    unless LIVE_POLL_SHORTCUT is off), behind the proxy fix (a poll's security headers
    depend on its scheme); live push streams open a few at a time (StreamGate)."""
    from shared.live_push import StreamGate
    from shared.poll_shortcut import PollShortcut

    app.wsgi_app = StreamGate(app.wsgi_app, app.config["DATABASE_POOL_SIZE"])
    app.wsgi_app = PollShortcut(app)
    if app.config["PROXY_COUNT"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        count = app.config["PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)


def register_blueprints(app: Flask) -> None:
    from carline import bp as carline_bp
    from hallpass import bp as hallpass_bp
    from shared import reunification_views  # noqa: F401  (the gates' routes on emergency_bp)
    from shared.account_views import bp as account_bp
    from shared.admin import bp as admin_bp
    from shared.auth import bp as auth_bp
    from shared.devices import bp as devices_bp
    from shared.emergency_views import bp as emergency_bp
    from shared.family_sign_in import bp as family_sign_in_bp
    from shared.home import bp as home_bp
    from shared.i18n import bp as i18n_bp
    from shared.live_views import bp as live_bp
    from shared.privacy import bp as privacy_bp
    from shared.roster_views import bp as roster_bp
    from shared.school_views import bp as schools_bp
    from shared.sso_views import bp as sso_bp
    from shared.substitute_views import bp as substitutes_bp
    from shared.two_factor_views import bp as two_factor_bp

    for blueprint in (
        home_bp,
        i18n_bp,
        live_bp,
        auth_bp,
        account_bp,
        two_factor_bp,
        sso_bp,
        devices_bp,
        family_sign_in_bp,
        admin_bp,
        roster_bp,
        privacy_bp,
        schools_bp,
        substitutes_bp,
        emergency_bp,
        hallpass_bp,
        carline_bp,
    ):
        app.register_blueprint(blueprint)


def register_errorhandlers(app: Flask) -> None:
    from shared.errorpages import register

    register(app)


def register_template_helpers(app: Flask) -> None:
    from shared import formats, static_files, ui

    ui.register(app)
    formats.register(app)
    static_files.register(app)


def register_commands(app: Flask) -> None:
    from shared.cli import register

    register(app)

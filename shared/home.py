"""The start page (where each kind of signed-in user or paired device begins), /healthz,
and /source (the code this server runs, shared/source.py)."""

from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    url_for,
)
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from shared import housekeeping, source
from shared.access import access, public
from shared.extensions import db
from shared.throttle import redis_available

bp = Blueprint("home", __name__)


@bp.route("/")
@public
def index():
    """Send devices to their screen, guardians to their family page, staff to their
    dashboard, others to sign in."""
    principal = g.principal
    if principal is None:
        return redirect(url_for("auth.login"))
    if principal.device is not None:
        return redirect(url_for("devices.device_home"))
    if principal.guardian is not None:
        return redirect(url_for("carline.family_home"))
    if principal.substitute is not None:  # a substitute's day starts on the class tablet
        return redirect(url_for("hallpass.index"))
    return redirect(url_for("home.dashboard"))


@bp.route("/dashboard")
@access("user")
def dashboard():
    """Links to what this staff member can do at the current school."""
    return render_template("shared/dashboard.html")


#: /healthz waits at most this long for the database's answer.
HEALTH_TIMEOUT_SECONDS = 2.0


def _database_answers() -> bool:
    """One `SELECT 1` on its own connection, bounded by HEALTH_TIMEOUT_SECONDS."""
    try:
        with db.engine.connect() as connection:
            connection.execution_options(passline_timeout=HEALTH_TIMEOUT_SECONDS).execute(
                text("SELECT 1")
            )
    except SQLAlchemyError:
        return False
    return True


@bp.route("/healthz")
@public
def healthz():
    """For load balancers and monitoring: 200 when the database answers, else 503.

    Redis and housekeeping are reported as "degraded" when they fail; the app still
    serves without them (sign-in falls back to the database), so the status stays 200.
    """
    database_ok = _database_answers()
    redis = redis_available()
    answer = {
        "status": "ok" if database_ok else "error",
        "database": "ok" if database_ok else "unreachable",
        "redis": "off" if redis is None else ("ok" if redis else "degraded"),
        "housekeeping": housekeeping.health(current_app),
    }
    if database_ok and "degraded" in (answer["redis"], answer["housekeeping"]):
        answer["status"] = "degraded"
    response = jsonify(answer)
    response.headers["Cache-Control"] = "no-store"
    if not database_ok:
        response.status_code = 503
        response.headers["Retry-After"] = str(current_app.config["DATABASE_RETRY_AFTER"])
    return response


@bp.route("/source")
@public
def source_code():
    """The source of this passline as a zip, as the AGPL asks (shared/source.py)."""
    response = Response(source.source_zip(current_app), mimetype="application/zip")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="passline-{source.version()}-source.zip"'
    )
    return response

"""The start page (where each kind of signed-in user or paired device begins) and /healthz."""

from flask import Blueprint, g, jsonify, redirect, render_template, url_for
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from shared.access import access, public
from shared.extensions import db

bp = Blueprint("home", __name__)


@bp.route("/")
@public
def index():
    """Send devices to their screen, staff to their dashboard, others to sign in."""
    principal = g.principal
    if principal is None:
        return redirect(url_for("auth.login"))
    if principal.device is not None:
        return redirect(url_for("devices.device_home"))
    return redirect(url_for("home.dashboard"))


@bp.route("/dashboard")
@access("user")
def dashboard():
    """Links to what this staff member can do at the current school."""
    return render_template("shared/dashboard.html")


@bp.route("/healthz")
@public
def healthz():
    """For load balancers and monitoring: 200 when the database answers, else 503."""
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        db.session.rollback()
        return jsonify(status="error", database="unreachable"), 503
    return jsonify(status="ok", database="ok")

"""The start page: where each kind of signed-in user or paired device begins."""

from flask import Blueprint, g, redirect, render_template, url_for

from shared.access import access, public

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

"""The pickup line sign's screens: the sign at the entrance, its printed form, the scan.

Thin views over `carline.pickup_sign`:

- the sign's screen (a display paired for dismissal, or the office's browser on a
  screen at the entrance): the school's QR code, a new one every minute (live region);
- the printed sign (office): today's code, good on this school day only;
- the scan (a guardian's phone, its camera opened the QR's URL): the phone gets its
  presence cookie, and the family page shows the "I'm here" button.
"""

from __future__ import annotations

from flask import current_app, flash, g, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from carline import bp
from carline.pickup_sign import PRESENCE_COOKIE, PRESENCE_MINUTES, daily_token, scanned, sign_token
from shared.access import access
from shared.audit import current_actor
from shared.database import write_intent
from shared.errors import Forbidden
from shared.extensions import db
from shared.qr import qr_svg
from shared.rotating_code import code_step
from shared.schedule import school_today
from shared.timeutil import utcnow

OFFICE = ("admin", "office")


def _sign_viewer():
    """Office and admin, or a display paired to show dismissal; the caller's school."""
    device = g.principal.device
    if device is not None and device.purpose != "dismissal":
        raise Forbidden(_("This display is not set up to show the pickup line sign."))
    return g.principal.school


def _scan_url(token: str) -> str:
    return url_for("carline.pickup_sign_scan", token=token, _external=True)


def _render_sign_qr(school) -> str:
    now = utcnow()
    step = code_step(now)
    return render_template(
        "carline/sign/partials/sign_qr.html",
        qr=qr_svg(_scan_url(sign_token(school, now))),
        poll_url=url_for("carline.pickup_sign_qr", v=step),
    )


@bp.route("/sign")
@access(*OFFICE, "device:display")
def pickup_sign_display():
    """The pickup line sign on a screen at the entrance: a QR code changing every minute."""
    school = _sign_viewer()
    return render_template("carline/sign/display.html", sign_qr=_render_sign_qr(school))


@bp.route("/sign/qr")
@access(*OFFICE, "device:display")
def pickup_sign_qr():
    """Live region of the sign's QR code: a new code every minute, 204 within one."""
    school = _sign_viewer()
    if request.args.get("v", type=int) == code_step(utcnow()):
        return "", 204
    return _render_sign_qr(school)


@bp.route("/sign/print")
@access(*OFFICE)
def pickup_sign_print():
    """The printable sign: today's code, good on this school day only."""
    school = g.principal.school
    today = school_today(school)
    return render_template(
        "carline/sign/print.html",
        day=today,
        qr=qr_svg(_scan_url(daily_token(school, today))),
    )


@bp.route("/family/sign/<token>")
@access("guardian")
def pickup_sign_scan(token: str):
    """A guardian's phone opened the sign's QR code: it may say "I'm here" for a while."""
    principal = g.principal
    db.session.commit()  # the read so far; the scan's audit takes the write lock up front
    with write_intent():
        value = scanned(principal.school, current_actor(), principal.guardian_session, token)
        db.session.commit()
    flash(
        ngettext(
            'You scanned the pickup line sign: press "I\'m here" within %(num)d minute.',
            'You scanned the pickup line sign: press "I\'m here" within %(num)d minutes.',
            PRESENCE_MINUTES,
        ),
        "success",
    )
    response = make_response(redirect(url_for("carline.family_home")))
    response.set_cookie(
        PRESENCE_COOKIE,
        value,
        max_age=PRESENCE_MINUTES * 60,
        httponly=True,
        secure=current_app.config["SESSION_COOKIE_SECURE"],
        samesite="Lax",
    )
    return response

"""Device views: create a pairing code, pair this browser, list and revoke devices.

A paired device's own page unpairs it only with a staff member's email and password:
kiosks stand where students are.
"""

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from sqlalchemy import select

from shared import audit, pairing
from shared.access import DEVICE_COOKIE, access, public
from shared.contributions import contributions
from shared.errors import DomainError, InvalidInput, rerender
from shared.extensions import db
from shared.formats import format_duration
from shared.models import DEVICE_KIND_LABELS, DISPLAY_PURPOSES, Device
from shared.qr import qr_svg
from shared.throttle import begin_sign_in, sign_in_succeeded

bp = Blueprint("devices", __name__)

#: A paired device keeps its cookie for about a year, until it is revoked.
DEVICE_COOKIE_SECONDS = 400 * 24 * 3600
#: What a display shows, as people read it.
PURPOSE_LABELS = {"dismissal": lazy_gettext("Dismissal"), "hallway": lazy_gettext("Hallway")}


def device_screens(kind: str, purpose: str | None) -> list[tuple[str, str]]:
    """The screens a device of this kind (and purpose) opens: [(label, endpoint)], as the
    blueprints contributed them (`contribute(bp, device_screens=[...])`)."""
    return [
        (screen.label, screen.endpoint)
        for screen in contributions().device_screens
        if (screen.kind, screen.purpose) == (kind, purpose)
    ]


@bp.route("/pair", methods=["GET", "POST"])
@public
def pair():
    """Enter a pairing code on the device being set up."""
    if request.method == "GET":
        return render_template("devices/pair.html")
    try:
        _device, secret = pairing.redeem_pairing_code(request.form.get("code", ""))
    except DomainError as error:
        return rerender("devices/pair.html", error)
    response = make_response(redirect(url_for("devices.device_home")))
    response.set_cookie(
        DEVICE_COOKIE,
        secret,
        max_age=DEVICE_COOKIE_SECONDS,
        httponly=True,
        secure=current_app.config["SESSION_COOKIE_SECURE"],
        samesite="Lax",
    )
    return response


def _device_page() -> dict:
    device = g.principal.device
    return {
        "device": device,
        "screens": device_screens(device.kind, device.purpose),
        "purpose_labels": PURPOSE_LABELS,
    }


@bp.route("/device")
@access("device:kiosk", "device:display", "device:classroom-display", "device:scanner")
def device_home():
    """What this paired device is, and the screen it may show."""
    return render_template("devices/home.html", **_device_page())


@bp.route("/device/unpair", methods=["POST"])
@access("device:kiosk", "device:display", "device:classroom-display", "device:scanner")
def unpair():
    """Forget this device's pairing, a staff member of its school confirming with their
    email and password (it can be paired again with a new code)."""
    device = g.principal.device
    email = request.form.get("email", "").strip().lower()[:254]
    attempt = begin_sign_in(email, request.remote_addr)
    db.session.commit()  # the attempt counts in every process before the password is checked
    try:
        if attempt.retry_after is not None:
            minutes = max(1, round(attempt.retry_after / 60))
            raise InvalidInput(
                _("Too many tries. Try again in %(wait)s.", wait=format_duration(minutes)),
                field="email",
            )
        staff_member = pairing.staff_confirming(device, email, request.form.get("password", ""))
    except InvalidInput as error:
        db.session.rollback()
        audit.record("device.unpair_refused", target=device, detail={"email": email})
        db.session.commit()
        return rerender("devices/home.html", error, reload=_device_page)
    sign_in_succeeded(attempt)
    pairing.unpair_self(device, staff_member)
    response = make_response(redirect(url_for("devices.pair")))
    response.delete_cookie(DEVICE_COOKIE)
    return response


@bp.route("/devices/new", methods=["GET", "POST"])
@access("admin", "office", "teacher")
def new_pairing_code():
    """Create a one-time code to pair a tablet, screen or phone."""
    principal = g.principal
    context = {
        "kinds": [(k, DEVICE_KIND_LABELS[k]) for k in pairing.pairable_kinds(principal)],
        "rooms": pairing.pairable_rooms(principal),
        "purposes": DISPLAY_PURPOSES,
        "purpose_labels": PURPOSE_LABELS,
    }
    if request.method == "GET":
        return render_template("devices/new.html", form={}, **context)
    try:
        code_record, code = pairing.create_pairing_code(
            principal,
            kind=request.form.get("kind", ""),
            label=request.form.get("label", ""),
            room_id=request.form.get("room_id", type=int),
            purpose=request.form.get("purpose") or None,
        )
    except DomainError as error:
        return rerender("devices/new.html", error, form=request.form, **context)
    pair_url = url_for("devices.pair", _external=True) + "#code=" + code
    return render_template(
        "devices/code.html",
        pairing=code_record,
        code=pairing.format_code(code),
        qr=qr_svg(pair_url),
        pair_url=url_for("devices.pair", _external=True),
    )


@bp.route("/devices")
@access("admin")
def list_devices():
    """Paired devices of this school, when each was last seen, with revoke buttons."""
    devices = db.session.scalars(
        select(Device)
        .where(Device.school_id == g.principal.school_id)
        .order_by(Device.revoked_at.is_not(None), Device.label)
    ).all()
    return render_template(
        "devices/list.html",
        devices=devices,
        kind_labels=DEVICE_KIND_LABELS,
        purpose_labels=PURPOSE_LABELS,
    )


@bp.route("/devices/<int:device_id>/language", methods=["POST"])
@access("admin")
def set_language(device_id: int):
    """The language of a device's screens (empty: the school's)."""
    device = pairing.set_device_language(g.principal, device_id, request.form.get("language", ""))
    flash(_("%(device)s: language saved.", device=device.label), "success")
    return redirect(url_for("devices.list_devices"))


@bp.route("/devices/<int:device_id>/revoke", methods=["POST"])
@access("admin")
def revoke(device_id: int):
    """Revoke a device at once."""
    device = pairing.revoke_device(g.principal, device_id)
    flash(
        _("%(device)s is revoked and can no longer open any screen.", device=device.label),
        "success",
    )
    return redirect(url_for("devices.list_devices"))

"""Pairing devices: one-time codes, limited device sessions, revocation, last seen.

A staff member creates a short code bound to a purpose and place; the device that
enters it first gets its own session secret (only a hash is stored). Codes expire
in minutes and are redeemed with one conditional UPDATE, so two devices racing with
the same code cannot both win.
"""

import secrets
from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from sqlalchemy import select, update
from sqlalchemy.orm.attributes import set_committed_value

from shared import audit, live
from shared.access import Principal, school_record, secret_digest
from shared.database import write_now
from shared.errors import Forbidden, InvalidInput, NotFound
from shared.extensions import db
from shared.models import (
    DEVICE_KINDS,
    DISPLAY_PURPOSES,
    ROOM_DEVICE_KINDS,
    Device,
    Membership,
    PairingCode,
    Room,
    User,
)
from shared.passwords import verify_password
from shared.schedule import taught_room_ids
from shared.staff import find_user_by_email
from shared.timeutil import utcnow

#: No 0/O, 1/I/L: easy to read off a screen and type on a tablet.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 8
#: How often a device's "last seen" time is written (not on every poll).
LAST_SEEN_EVERY = timedelta(seconds=60)

#: Which device kinds each role may pair (teachers only for rooms they teach in).
PAIRABLE_KINDS = {
    "admin": set(DEVICE_KINDS),
    "office": {"display", "scanner"},
    "teacher": {"kiosk", "classroom-display"},
}


def normalise_code(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


def format_code(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


def pairable_kinds(principal: Principal) -> list[str]:
    kinds: set[str] = set()
    for role in principal.roles:
        kinds |= PAIRABLE_KINDS.get(role, set())
    return [kind for kind in DEVICE_KINDS if kind in kinds]


def pairable_rooms(principal: Principal) -> list[Room]:
    """Rooms the principal may pair a kiosk or classroom display for."""
    query = select(Room).where(Room.school_id == principal.school_id, Room.active.is_(True))
    if not principal.has_role("admin"):
        query = query.where(Room.id.in_(taught_room_ids(principal.user.id)))
    return list(db.session.scalars(query.order_by(Room.name)))


def create_pairing_code(
    principal: Principal, *, kind: str, label: str, room_id: int | None, purpose: str | None
) -> tuple[PairingCode, str]:
    """Make a one-time pairing code; returns the record and the code to show once."""
    if kind not in DEVICE_KINDS:
        raise InvalidInput(_("Choose what kind of device to pair."), field="kind")
    if kind not in pairable_kinds(principal):
        raise Forbidden(_("You may not pair that kind of device."))
    label = label.strip()
    if not label or len(label) > 100:
        raise InvalidInput(_("Give the device a name of 1 to 100 characters."), field="label")
    room = None
    if kind in ROOM_DEVICE_KINDS:
        room = next((r for r in pairable_rooms(principal) if r.id == room_id), None)
        if room is None:
            raise InvalidInput(_("Choose one of your rooms for this device."), field="room_id")
    if kind == "display":
        if purpose not in DISPLAY_PURPOSES:
            raise InvalidInput(_("Choose what the display shows."), field="purpose")
    else:
        purpose = None
    code = "".join(secrets.choice(CODE_ALPHABET) for _i in range(CODE_LENGTH))
    pairing = PairingCode(
        school_id=principal.school_id,
        code_hash=secret_digest(code),
        kind=kind,
        room_id=room.id if room else None,
        purpose=purpose,
        label=label,
        created_by_id=principal.user.id,
        expires_at=utcnow() + timedelta(minutes=current_app.config["PAIRING_CODE_MINUTES"]),
    )
    db.session.add(pairing)
    db.session.flush()
    audit.record(
        "device.pairing_code",
        target=pairing,
        detail={"kind": kind, "label": label, "room_id": pairing.room_id, "purpose": purpose},
    )
    return pairing, code


def redeem_pairing_code(code: str) -> tuple[Device, str]:
    """Pair this device: use the code once and return the device and its session secret."""
    code = normalise_code(code)
    if len(code) != CODE_LENGTH:
        raise InvalidInput(
            _("A pairing code has %(num)d letters and digits.", num=CODE_LENGTH), field="code"
        )
    now = utcnow()
    digest = secret_digest(code)
    claimed = db.session.execute(
        update(PairingCode)
        .where(
            PairingCode.code_hash == digest,
            PairingCode.used_at.is_(None),
            PairingCode.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        raise NotFound(_("That code is not valid. It may be mistyped, used or expired."))
    pairing = db.session.scalar(select(PairingCode).where(PairingCode.code_hash == digest))
    secret = secrets.token_urlsafe(32)
    device = Device(
        school_id=pairing.school_id,
        kind=pairing.kind,
        room_id=pairing.room_id,
        purpose=pairing.purpose,
        label=pairing.label,
        secret_hash=secret_digest(secret),
        paired_by_id=pairing.created_by_id,
        last_seen_at=now,
    )
    db.session.add(device)
    db.session.flush()
    pairing.device_id = device.id
    audit.record(
        "device.pair",
        school_id=device.school_id,
        target=device,
        detail={"kind": device.kind, "label": device.label},
        actor_label=f"device: {device.label}",
    )
    return device, secret


def school_device(school_id: int, device_id: int) -> Device:
    """A device of this school (404 otherwise)."""
    return school_record(Device, device_id, school_id, _("No such device at this school."))


def revoke_device(principal: Principal, device_id: int) -> Device:
    """End a device's session at once; it must be paired again to be used."""
    device = school_device(principal.school_id, device_id)
    if device.is_revoked:
        raise InvalidInput(_("That device is already revoked."))
    device.revoked_at = utcnow()
    live.access_changed([device.school_id])
    audit.record("device.revoke", target=device, detail={"label": device.label})
    return device


def set_device_language(principal: Principal, device_id: int, language: str) -> Device:
    """The language a device's screens speak ("" for the school's), audited."""
    from shared.i18n import valid_language

    device = school_device(principal.school_id, device_id)
    chosen = valid_language(language) if language else None
    if language and chosen is None:
        raise InvalidInput(_("Choose a language from the list."), field="language")
    if device.language != chosen:
        before, device.language = device.language, chosen
        audit.record("device.language", target=device, detail={"before": before, "after": chosen})
    return device


#: Who may unpair a device on the device itself: staff of its school.
UNPAIR_ROLES = ("admin", "office", "teacher")
UNPAIR_REFUSED = lazy_gettext(
    "That is not the email and password of a staff member of this school."
)


def staff_confirming(device: Device, email: str, password: str) -> User:
    """The staff member whose email and password were typed on the device, if they work
    at its school (`InvalidInput` otherwise, the same answer whatever was wrong).

    A kiosk stands in a classroom: without this any student could unpair it. The caller
    counts the attempt with the sign-in limiter first (`throttle.begin_sign_in`), so the
    form cannot be used to guess passwords.
    """
    user = find_user_by_email(email) if email else None
    right = verify_password(user.password_hash if user else None, password)
    works_here = user is not None and (
        user.is_district_admin
        or db.session.scalar(
            select(Membership.id).where(
                Membership.user_id == user.id,
                Membership.school_id == device.school_id,
                Membership.role.in_(UNPAIR_ROLES),
            )
        )
        is not None
    )
    if not (right and user.active and works_here):
        raise InvalidInput(UNPAIR_REFUSED, field="email")
    return user


def unpair_self(device: Device, staff_member: User) -> None:
    """A device forgets its own pairing, a staff member of its school confirming it."""
    device.revoked_at = utcnow()
    live.access_changed([device.school_id])
    audit.record(
        "device.unpair",
        target=device,
        detail={"label": device.label},
        actor=audit.Actor(user=staff_member, device=device),
    )


def touch_device(device: Device) -> None:
    """Record that a device was seen, at most once a minute (see `write_now`)."""
    now = utcnow()
    if device.last_seen_at is not None and now - device.last_seen_at < LAST_SEEN_EVERY:
        return
    statement = (
        update(Device)
        .where(Device.id == device.id)
        .values(last_seen_at=now)
        .execution_options(synchronize_session=False)
    )
    write_now(db.session, statement)
    set_committed_value(device, "last_seen_at", now)  # no second write at commit

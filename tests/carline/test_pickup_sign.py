"""The pickup line sign: its rotating and daily codes, the scan, and "I'm here" behind it.

Where the school requires the sign, a guardian's "I'm here" is refused (409, nothing
written) until their phone opens the sign's QR code; the code on the screen changes
every minute (the previous minute's still works), the printed one is good for its day,
and another school's code is refused. Location is never read: only the scan counts.
"""

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from carline.dismissal import start_dismissal
from carline.family_page import announce
from carline.guardians import add_guardian
from carline.models import QueueEntry
from carline.pickup_sign import (
    PRESENCE_COOKIE,
    SignExpired,
    daily_token,
    is_present,
    read_sign,
    scanned,
    sign_token,
)
from carline.settings import carline_settings, save_settings
from shared.access import DEVICE_COOKIE, secret_digest
from shared.audit import SYSTEM, Actor
from shared.errors import Conflict, NotFound
from shared.guardians import clean_fields
from shared.models import AuditEvent, Device, GuardianSession
from shared.schedule import school_today
from tests.carline.test_family_page import CHICAGO, sign_in

NOON = datetime(2026, 12, 7, 18, 0, 30, tzinfo=UTC)


def require_sign(school, on: bool = True):
    current = carline_settings(school)
    save_settings(
        school,
        SYSTEM,
        lanes=current.lanes,
        spots_per_lane=current.spots_per_lane,
        cutoff=None,
        walker_doors={},
        require_pickup_sign=on,
    )


@pytest.fixture
def family(db, school, make_family, make_student):
    ana = make_student(school, "Ana", "Ruiz")
    family = make_family(school, 40, ana)
    guardian = add_guardian(
        school, SYSTEM, family, clean_fields(name="Rosa Ruiz", email="rosa@example.net")
    )
    db.session.commit()
    return {"family": family, "ana": ana, "guardian": guardian}


def test_the_screens_code_is_good_this_minute_and_the_next_only(app, db, school, make_school):
    token = sign_token(school, NOON)
    assert read_sign(school, token, NOON) == "screen"
    assert read_sign(school, token, NOON + timedelta(seconds=60)) == "screen"
    with pytest.raises(SignExpired):
        read_sign(school, token, NOON + timedelta(seconds=121))
    with pytest.raises(NotFound, match="another school"):
        read_sign(make_school(), token, NOON)
    with pytest.raises(NotFound, match="not a pickup line sign"):
        read_sign(school, token[:-2] + ("AA" if token[-2:] != "AA" else "BB"), NOON)
    # the room QR's codes are another kind: refused here
    from shared.rotating_code import rotating_token

    with pytest.raises(NotFound):
        read_sign(school, rotating_token("hallpass.room-qr", [school.id], NOON), NOON)


def test_the_printed_code_is_good_on_its_day_only(app, db, school, make_school):
    today = school_today(school)
    assert read_sign(school, daily_token(school, today)) == "printed"
    with pytest.raises(SignExpired):
        read_sign(school, daily_token(school, today - timedelta(days=1)))
    with pytest.raises(NotFound, match="another school"):
        read_sign(make_school(), daily_token(school, today))


def test_a_scan_is_audited_and_counts_for_a_few_minutes_on_that_phone(db, school, family):
    from shared.family_sessions import start_session

    start_session(family["guardian"], "iPhone Safari")
    session = db.session.scalar(select(GuardianSession))
    actor = Actor(guardian=family["guardian"])
    value = scanned(school, actor, session, sign_token(school, NOON), NOON)
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "carline.pickup_sign_scan")
    )
    assert event.detail["sign"] == "screen"
    assert is_present(value, school, session, NOON + timedelta(minutes=9))
    assert not is_present(value, school, session, NOON + timedelta(minutes=10))
    start_session(family["guardian"], "Android Chrome")
    db.session.flush()
    other = db.session.scalars(select(GuardianSession).order_by(GuardianSession.id)).all()[1]
    assert not is_present(value, school, other, NOON)  # another phone of the guardian
    assert not is_present(value + "x", school, session, NOON)
    assert not is_present(None, school, session, NOON)


def test_im_here_needs_the_scan_where_the_school_requires_it(db, school, family, office_user):
    start_dismissal(school, Actor(user=office_user), 1, 1, datetime.now(CHICAGO).date())
    require_sign(school)
    db.session.commit()
    actor = Actor(guardian=family["guardian"])
    with pytest.raises(Conflict, match="Scan the QR code on the pickup line sign first"):
        announce(school, actor, "k-1")
    assert db.session.scalar(select(func.count(QueueEntry.id))) == 0
    assert announce(school, actor, "k-1", present=True).entry is not None
    require_sign(school, on=False)
    assert announce(school, actor, "k-2").entry is not None  # off: as before


def _here(phone):
    page = phone.get("/carline/family").get_data(as_text=True)
    key = re.search(r'name="key" value="([^"]+)"', page).group(1)
    return page, phone.post("/carline/family/here", data={"key": key})


def test_the_phone_scans_the_sign_then_says_im_here(app, db, school, family, office_user):
    family["guardian"].language = "en"
    start_dismissal(school, Actor(user=office_user), 1, 1, datetime.now(CHICAGO).date())
    require_sign(school)
    db.session.commit()
    phone = sign_in(app, db, family["guardian"])
    page, refused = _here(phone)
    assert "data-sign-needed" in page and "data-im-here" in page
    assert refused.status_code == 409
    assert "Scan the QR code on the pickup line sign first" in refused.get_data(as_text=True)
    assert db.session.scalar(select(func.count(QueueEntry.id))) == 0
    assert not db.session.scalar(
        select(func.count(AuditEvent.id)).where(AuditEvent.action.like("carline.curb%"))
    )
    stale = phone.get(
        f"/carline/family/sign/{sign_token(school, datetime.now(UTC) - timedelta(minutes=3))}"
    )
    assert stale.status_code == 410 and PRESENCE_COOKIE not in stale.headers.get("Set-Cookie", "")
    scan = phone.get(f"/carline/family/sign/{sign_token(school)}")
    assert scan.status_code == 302 and scan.headers["Location"].endswith("/carline/family")
    assert "HttpOnly" in scan.headers["Set-Cookie"]
    page, answered = _here(phone)
    assert "data-sign-needed" not in page and "You scanned the pickup line sign" in page
    assert answered.status_code == 302
    entry = db.session.scalar(select(QueueEntry))
    assert entry.announced_by_guardian_id == family["guardian"].id


def test_another_schools_sign_is_refused_on_the_phone(app, db, school, family, make_school):
    phone = sign_in(app, db, family["guardian"])
    other = make_school()
    db.session.commit()
    answer = phone.get(f"/carline/family/sign/{sign_token(other)}")
    assert answer.status_code == 404 and PRESENCE_COOKIE not in answer.headers.get("Set-Cookie", "")


def test_the_sign_on_a_dismissal_display_rotates_and_prints(
    app, db, school, office_user, login, client
):
    display = Device(
        school_id=school.id,
        kind="display",
        purpose="dismissal",
        label="Entrance",
        secret_hash=secret_digest("entrance"),
    )
    db.session.add(display)
    db.session.commit()
    screen = app.test_client()
    screen.set_cookie(DEVICE_COOKIE, "entrance", domain="passline.test")
    page = screen.get("/carline/sign").get_data(as_text=True)
    assert 'id="sign-qr"' in page and "<svg" in page and "changes every minute" in page
    step = re.search(r"/carline/sign/qr\?v=(\d+)", page).group(1)
    assert screen.get(f"/carline/sign/qr?v={step}").status_code == 204
    region = screen.get("/carline/sign/qr?v=1")
    assert region.status_code == 200 and b"<html" not in region.data and b"<svg" in region.data
    login(office_user)
    assert "data-pickup-sign-link" not in client.get("/carline/dismissal").get_data(as_text=True)
    require_sign(school)
    db.session.commit()
    assert "data-pickup-sign-link" in client.get("/carline/dismissal").get_data(as_text=True)
    printed = client.get("/carline/sign/print").get_data(as_text=True)
    assert f'data-sign-day="{school_today(school).isoformat()}"' in printed and "<svg" in printed


def test_the_setting_is_off_by_default_and_saved_by_the_admin(
    app, db, school, make_user, login, client
):
    assert carline_settings(school).require_pickup_sign is False
    login(make_user(school, "admin"))
    form = {"lanes": "2", "spots_per_lane": "5", "cutoff": "", "walker_doors": "",
            "office_phone": "", "family_modes": ["car"], "require_pickup_sign": "1"}  # fmt: skip
    assert client.post("/carline/settings", data=form).status_code == 302
    db.session.expire_all()
    assert carline_settings(school).require_pickup_sign is True
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "carline.settings")
    ).all()[-1]
    assert event.detail["after"]["require_pickup_sign"] is True
    page = client.get("/carline/settings").get_data(as_text=True)
    assert 'name="require_pickup_sign" value="1" checked' in page
    del form["require_pickup_sign"]
    client.post("/carline/settings", data=form)
    db.session.expire_all()
    assert carline_settings(school).require_pickup_sign is False

"""The office changes, takes back or refuses a guardian's change: the family is told by mail.

The mails go to a real SMTP server (tests/smtp_server.py), one to each guardian of the
family with an address, in their own language; SMTP down is retried through the outbox
and shown on the family screen, never a 500; every step is audited.
"""

import re
import time as time_module
from datetime import datetime, time, timedelta

import pytest
from sqlalchemy import func, select

from carline.family_page import change_plan, report_absence
from carline.guardians import add_guardian
from carline.models import DailyChange, DismissalDefault
from carline.plans import (
    clear_absence,
    mark_absent,
    record_change,
    refuse_change,
    take_back_change,
)
from carline.settings import save_settings
from shared.audit import SYSTEM, Actor
from shared.errors import Forbidden, InvalidInput, NotFound
from shared.guardians import clean_fields
from shared.housekeeping import CORE_JOBS, run_jobs
from shared.models import AuditEvent, OutboxMail
from tests.carline.test_family_page import CHICAGO, at
from tests.shared.test_account_links import _configure, _due_now, smtp  # noqa: F401

TOMORROW = datetime.now(CHICAGO).date() + timedelta(days=1)


@pytest.fixture
def mail_on(app, smtp):  # noqa: F811
    from shared import mail

    saved = _configure(app, smtp)
    yield smtp
    mail.sender(app).stop()
    app.config.update(saved)


@pytest.fixture
def family(db, school, make_family, make_student):
    """Ana on tag 40 (a bus rider on weekdays), her guardians Rosa (Spanish) and Tom
    (English), and Luis without email; the office's phone; no cutoff."""
    ana = make_student(school, "Ana", "Ruiz")
    family = make_family(school, 40, ana)
    for weekday in range(7):
        db.session.add(
            DismissalDefault(student_id=ana.id, weekday=weekday, mode="bus", bus_route="7")
        )
    save_settings(
        school,
        SYSTEM,
        lanes=1,
        spots_per_lane=2,
        cutoff=None,
        walker_doors={},
        office_phone="555-0100",
    )
    rosa = add_guardian(
        school,
        SYSTEM,
        family,
        clean_fields(name="Rosa Ruiz", email="rosa@example.net", language="es"),
    )
    tom = add_guardian(
        school, SYSTEM, family, clean_fields(name="Tom Ruiz", email="tom@example.net")
    )
    add_guardian(school, SYSTEM, family, clean_fields(name="Luis Ruiz"))
    db.session.commit()
    return {"family": family, "ana": ana, "rosa": rosa, "tom": tom}


def _guardian_walks(school, family, db):
    change_plan(school, Actor(guardian=family["rosa"]), family["ana"], TOMORROW, mode="walker")
    db.session.commit()


def _settled(db, timeout: float = 10.0) -> list[OutboxMail]:
    """The outbox once the background sender has tried every mail (sent, or failed once):
    the test writes only then (SQLite has one writer)."""
    deadline = time_module.monotonic() + timeout
    while time_module.monotonic() < deadline:
        db.session.rollback()  # a fresh snapshot each time
        mails = db.session.scalars(select(OutboxMail).order_by(OutboxMail.id)).all()
        if all(m.sent_at or m.last_error for m in mails):
            return mails
        time_module.sleep(0.05)
    raise AssertionError("the background sender did not try every mail")


def _by_address(messages):
    return {message["To"]: message for message in messages}


def test_a_refusal_undoes_the_change_and_tells_each_guardian_in_their_language(
    app, db, school, family, office_user, mail_on
):
    _guardian_walks(school, family, db)
    mail_on.wait_for(1)  # Rosa's own confirmation
    _settled(db)
    mail_on.messages.clear()
    office = Actor(user=office_user)
    refuse_change(school, office, family["ana"], TOMORROW, reason="  Nobody at home  ")
    db.session.commit()
    assert db.session.scalar(select(func.count(DailyChange.id))) == 0
    mails = _by_address(mail_on.wait_for(2))
    assert set(mails) == {"rosa@example.net", "tom@example.net"}
    spanish = mails["rosa@example.net"].get_content()
    assert "no pudo aceptar" in mails["rosa@example.net"]["Subject"]
    assert "Motivo: Nobody at home" in spanish and "Autobús 7" in spanish
    assert "555-0100" in spanish
    english = mails["tom@example.net"].get_content()
    assert "could not accept the change for Ana" in english
    assert "you had asked: Walker" in english and "goes home as usual: Bus 7" in english
    assert "Reason: Nobody at home" in english
    refused = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "carline.plan_change_refused")
    )
    assert refused.detail["reason"] == "Nobody at home" and refused.actor_user_id == office_user.id
    notice = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "carline.family_notice")
    )
    assert notice.detail["what"] == "refused"
    assert sorted(notice.detail["guardians"]) == sorted([family["rosa"].id, family["tom"].id])


def test_an_office_edit_or_take_back_of_a_guardians_change_is_told(
    app, db, school, family, office_user, mail_on
):
    office = Actor(user=office_user)
    _guardian_walks(school, family, db)
    mail_on.wait_for(1)
    _settled(db)
    mail_on.messages.clear()
    record_change(school, office, family["ana"], TOMORROW, mode="aftercare", note="Club day")
    db.session.commit()
    mails = _by_address(mail_on.wait_for(2))
    _settled(db)
    english = mails["tom@example.net"].get_content()
    assert "The office changed the plan for Ana" in english
    assert "You had asked: Walker. Now: After-care." in english
    assert "Reason: Club day" in english
    # The change is the office's now: taking it back tells nobody.
    mail_on.messages.clear()
    take_back_change(school, office, family["ana"], TOMORROW)
    db.session.commit()
    _guardian_walks(school, family, db)
    mail_on.wait_for(1)
    _settled(db)
    mail_on.messages.clear()
    take_back_change(school, office, family["ana"], TOMORROW)
    db.session.commit()
    mails = _by_address(mail_on.wait_for(2))
    assert "took back the change for Ana" in mails["tom@example.net"].get_content()
    assert "retiró" in mails["rosa@example.net"]["Subject"]
    assert len(mail_on.messages) == 2


def test_office_changes_of_its_own_changes_and_guardians_own_edits_mail_nobody(
    app, db, school, family, office_user, mail_on
):
    office = Actor(user=office_user)
    record_change(school, office, family["ana"], TOMORROW, mode="walker")
    record_change(school, office, family["ana"], TOMORROW, mode="aftercare")
    db.session.commit()
    with pytest.raises(InvalidInput, match="Only a guardian's change can be refused"):
        refuse_change(school, office, family["ana"], TOMORROW, reason="No")
    db.session.rollback()
    take_back_change(school, office, family["ana"], TOMORROW)
    db.session.commit()
    assert db.session.scalar(select(func.count(OutboxMail.id))) == 0
    with pytest.raises(NotFound):
        refuse_change(school, office, family["ana"], TOMORROW, reason="No")
    with pytest.raises(Forbidden):
        refuse_change(school, Actor(guardian=family["rosa"]), family["ana"], TOMORROW, reason="x")


def test_a_refusal_needs_a_reason_and_writes_nothing_without_one(db, school, family, office_user):
    _guardian_walks(school, family, db)
    for reason in ("", "   ", "x" * 301):
        with pytest.raises(InvalidInput, match="Say why"):
            refuse_change(school, Actor(user=office_user), family["ana"], TOMORROW, reason=reason)
    db.session.rollback()
    assert db.session.scalar(select(func.count(DailyChange.id))) == 1


def test_a_refusal_after_the_cutoff_is_the_offices_override(db, school, family, office_user):
    today = at(9).astimezone(CHICAGO).date()
    change_plan(
        school, Actor(guardian=family["rosa"]), family["ana"], today, mode="walker", now=at(9)
    )
    save_settings(school, SYSTEM, lanes=1, spots_per_lane=2, cutoff=time(14), walker_doors={})
    refuse_change(school, Actor(user=office_user), family["ana"], today, reason="Storm", now=at(15))
    override = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "carline.cutoff_override")
    )
    assert override.detail == {"day": today.isoformat(), "reason": "Storm", "change": "refuse"}


def test_the_office_refuses_on_the_plan_screen_and_smtp_down_is_retried_and_shown(
    app, client, db, school, family, office_user, login, mail_on, monkeypatch
):
    monkeypatch.delitem(app.extensions, "passline_housekeeping", raising=False)
    _guardian_walks(school, family, db)
    mail_on.wait_for(1)
    _settled(db)
    mail_on.messages.clear()
    login(office_user)
    page = client.get(f"/carline/plans/students/{family['ana'].id}").get_data(as_text=True)
    assert "by Rosa Ruiz (guardian)" in page and "data-refuse" in page
    mail_on.stop()
    url = f"/carline/plans/students/{family['ana'].id}/change/refuse"
    blank = client.post(url, data={"day": TOMORROW.isoformat(), "refuse_reason": ""})
    assert blank.status_code == 400 and "Say why the change is refused" in blank.get_data(
        as_text=True
    )
    answer = client.post(url, data={"day": TOMORROW.isoformat(), "refuse_reason": "Nobody at home"})
    assert answer.status_code == 302  # acknowledged, never a 500
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Change refused" in page and "Mails tell Rosa Ruiz, Tom Ruiz" in page
    assert "No mail reaches Luis Ruiz: call them" in page
    assert "data-refuse" not in page
    _settled(db)
    waiting = db.session.scalars(
        select(OutboxMail).where(OutboxMail.sent_at.is_(None)).order_by(OutboxMail.id)
    ).all()
    assert len(waiting) == 2
    screen = client.get(f"/carline/families/{family['family'].id}").get_data(as_text=True)
    assert 'data-mail-state="waiting"' in screen and "ConnectionRefusedError" in screen
    mail_on.start()
    _due_now(db)
    run_jobs(app, CORE_JOBS)
    mails = _by_address(mail_on.wait_for(2))
    assert set(mails) == {"rosa@example.net", "tom@example.net"}
    screen = client.get(f"/carline/families/{family['family'].id}").get_data(as_text=True)
    assert screen.count('data-mail-state="sent"') == 2
    assert re.search(r'data-mail-state="(waiting|failed)"', screen) is None


def test_without_mail_set_up_the_office_is_told_to_call_the_family(
    app, client, db, school, family, office_user, login
):
    _guardian_walks(school, family, db)
    login(office_user)
    url = f"/carline/plans/students/{family['ana'].id}/change/refuse"
    answer = client.post(url, data={"day": TOMORROW.isoformat(), "refuse_reason": "No"})
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "No mail reaches Rosa Ruiz, Tom Ruiz, Luis Ruiz: call them" in page
    assert db.session.scalar(select(func.count(OutboxMail.id))) == 0


def test_the_office_taking_back_an_absence_a_guardian_reported_is_told(
    app, db, school, family, office_user, mail_on
):
    report_absence(school, Actor(guardian=family["rosa"]), family["ana"], TOMORROW, note="Fever")
    db.session.commit()
    mail_on.wait_for(1)  # Rosa's own confirmation
    _settled(db)
    mail_on.messages.clear()
    clear_absence(school, Actor(user=office_user), family["ana"], TOMORROW)
    db.session.commit()
    mails = _by_address(mail_on.wait_for(2))
    english = mails["tom@example.net"].get_content()
    assert "took back the change for Ana" in english
    assert "you had asked: Absent" in english and "goes home as usual: Bus 7" in english
    assert "retiró" in mails["rosa@example.net"]["Subject"]
    _settled(db)
    # An absence the office marked itself, taken back: nobody is mailed.
    mail_on.messages.clear()
    mark_absent(school, Actor(user=office_user), family["ana"], TOMORROW)
    clear_absence(school, Actor(user=office_user), family["ana"], TOMORROW)
    db.session.commit()
    assert db.session.scalar(
        select(func.count(AuditEvent.id)).where(AuditEvent.action == "carline.family_notice")
    ) == 1

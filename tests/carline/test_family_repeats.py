"""The family page's repeated changes (chosen weekdays until a date) and early pickups:
the office's own services, all days or none, confirmed by one mail."""

from datetime import datetime, time, timedelta

import pytest
from sqlalchemy import func, select

from carline.day_plans import day_plans
from carline.family_page import change_plan, family_today, pick_up_early
from carline.models import DailyChange
from carline.plans import repeat_days
from shared.audit import Actor
from shared.errors import Forbidden, InvalidInput, NotFound
from shared.models import AuditEvent
from tests.carline.test_family_page import CHICAGO, at, home, mail_on, reads_english, sign_in  # noqa: F401
from tests.shared.test_account_links import smtp  # noqa: F401


def next_monday():
    today = datetime.now(CHICAGO).date()
    return today + timedelta(days=7 - today.weekday())


def changes(db):
    return db.session.scalars(select(DailyChange).order_by(DailyChange.day)).all()


def test_repeat_days_once_or_on_weekdays_until_a_date():
    monday = next_monday()
    assert repeat_days(monday, None) == [monday]
    days = repeat_days(monday, monday + timedelta(days=13), [0, 2])
    assert days == [monday + timedelta(days=n) for n in (0, 2, 7, 9)]
    with pytest.raises(InvalidInput, match="before the first"):
        repeat_days(monday, monday - timedelta(days=1), [0])
    with pytest.raises(InvalidInput, match="at least one weekday"):
        repeat_days(monday, monday + timedelta(days=7), [])
    with pytest.raises(InvalidInput, match="None of the chosen weekdays"):
        repeat_days(monday, monday + timedelta(days=1), [4])


def test_a_change_on_chosen_weekdays_until_a_date(db, school, home):  # noqa: F811
    actor, ana = Actor(guardian=home["guardian"]), home["ana"]
    monday = next_monday()
    made = change_plan(
        school, actor, ana, monday, mode="bus", bus_route="7",
        until=monday + timedelta(days=20), weekdays=[0, 2],
    )  # fmt: skip
    db.session.commit()
    assert [c.day for c in made] == [monday + timedelta(days=n) for n in (0, 2, 7, 9, 14, 16)]
    assert {(c.mode, c.bus_route, c.created_by_guardian_id) for c in made} == {
        ("bus", "7", home["guardian"].id)
    }
    # each day by the one rule that reads plans; the days between keep theirs
    assert day_plans(school.id, monday + timedelta(days=2), [ana.id])[ana.id].bus_route == "7"
    assert day_plans(school.id, monday + timedelta(days=1), [ana.id])[ana.id].mode == "car"
    audited = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "carline.plan_change")
    ).all()
    assert len(audited) == 6 and all(e.actor_label.startswith("guardian") for e in audited)


def test_a_series_is_all_or_nothing(db, school, home):  # noqa: F811
    actor, ana = Actor(guardian=home["guardian"]), home["ana"]
    today = datetime.now(CHICAGO).date()
    weekdays = list(range(7))
    # today is past the cutoff: the whole series is refused, not the later days kept
    with pytest.raises(Forbidden, match="call the office at 555-0100"):
        change_plan(
            school, actor, ana, today, mode="walker", until=today + timedelta(days=6),
            weekdays=weekdays, now=at(14, 30),
        )  # fmt: skip
    db.session.rollback()
    with pytest.raises(InvalidInput, match="within 120 days") as refused:
        change_plan(
            school, actor, ana, today, mode="walker", until=today + timedelta(days=121),
            weekdays=weekdays, now=at(9),
        )  # fmt: skip
    assert refused.value.field == "until"
    with pytest.raises(InvalidInput, match="bus routes"):
        change_plan(
            school, actor, ana, today, mode="bus", bus_route="99",
            until=today + timedelta(days=6), weekdays=weekdays, now=at(9),
        )  # fmt: skip
    db.session.rollback()
    assert db.session.scalar(select(func.count(DailyChange.id))) == 0


def test_the_page_repeats_a_change_and_mails_one_confirmation(app, db, school, home, mail_on):  # noqa: F811
    phone = sign_in(app, db, home["guardian"])  # Rosa reads Spanish
    monday = next_monday()
    answer = phone.post(
        f"/carline/family/students/{home['ana'].id}/change",
        data={
            "day": monday.isoformat(),
            "mode": "walker",
            "repeat": "weekdays",
            "weekday": ["1", "3"],
            "until": (monday + timedelta(days=10)).isoformat(),
        },
    )
    assert answer.status_code == 302
    assert [c.day for c in changes(db)] == [monday + timedelta(days=n) for n in (1, 3, 8, 10)]
    page = phone.get("/carline/family").get_data(as_text=True)
    assert "4 días" in page  # the flash, in Rosa's language
    (message,) = mail_on.wait_for(1)
    assert "en 4 días" in message.get_content() and "Caminando" in message.get_content()


def test_a_bad_series_on_the_page_writes_nothing_and_says_why(app, db, home):  # noqa: F811
    phone = sign_in(app, db, reads_english(db, home["guardian"]))
    monday = next_monday()
    url = f"/carline/family/students/{home['ana'].id}/change"
    base = {"day": monday.isoformat(), "mode": "walker", "repeat": "weekdays"}
    for data, words in (
        ({**base, "weekday": ["0"]}, "Until"),  # no last day
        ({**base, "weekday": ["0"], "until": "soon"}, "Until"),
        ({**base, "until": (monday + timedelta(days=7)).isoformat()}, "at least one weekday"),
        ({**base, "weekday": ["9"], "until": (monday + timedelta(days=7)).isoformat()}, ""),
    ):
        answer = phone.post(url, data=data)
        assert 400 <= answer.status_code < 500, data
        assert words in answer.get_data(as_text=True)
        assert 'value="weekdays" checked' in answer.get_data(as_text=True)  # kept as typed
    assert changes(db) == []
    # "once" ignores the weekdays and the last day
    once = phone.post(url, data={**base, "repeat": "once", "until": "soon"})
    assert once.status_code == 302 and [c.day for c in changes(db)] == [monday]


def test_an_early_pickup_before_the_cutoff(app, db, school, home, mail_on):  # noqa: F811
    actor, ben = Actor(guardian=home["guardian"]), home["ben"]
    today = datetime.now(CHICAGO).date()
    change = pick_up_early(school, actor, ben, today, at=time(12, 30), note="Dentist", now=at(10))
    db.session.commit()
    assert (change.mode, change.early_pickup, change.note) == ("car", time(12, 30), "Dentist")
    assert change.created_by_guardian_id == home["guardian"].id
    (message,) = mail_on.wait_for(1)
    assert "12:30" in message.get_content()
    page = family_today(school, home["guardian"], actor=actor, audited=False, now=at(10))
    assert [c.student.first_name for c in page.car_riders] == ["Ana"]  # Ben is not called
    with pytest.raises(Forbidden, match="call the office"):
        pick_up_early(school, actor, ben, today, at=time(15), now=at(14, 5))
    with pytest.raises(NotFound):
        pick_up_early(school, actor, home["other_child"], today, at=time(12), now=at(9))
    db.session.rollback()


def test_the_page_takes_an_early_pickup_and_refuses_a_bad_time(app, db, home):  # noqa: F811
    phone = sign_in(app, db, reads_english(db, home["guardian"]))
    tomorrow = (datetime.now(CHICAGO).date() + timedelta(days=1)).isoformat()
    url = f"/carline/family/students/{home['ben'].id}/early"
    refused = phone.post(url, data={"day": tomorrow, "at": "noonish"})
    assert refused.status_code == 400 and "Pickup time" in refused.get_data(as_text=True)
    assert changes(db) == []
    done = phone.post(url, data={"day": tomorrow, "at": "12:45", "note": "Doctor"})
    assert done.status_code == 302
    (change,) = changes(db)
    assert change.early_pickup == time(12, 45)
    page = phone.get("/carline/family").get_data(as_text=True)
    assert "early pickup 12:45" in page

"""Carpools between families: set up by the office or agreed by both families' guardians,
the day plans they allow, the car that then calls the child, the family page's switches
(carline/carpools.py, carline/settings.py), on SQLite and PostgreSQL."""

import json
import threading
from datetime import time, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from carline import carpools
from carline.curb import curb_entry
from carline.dismissal import start_dismissal
from carline.family_page import (
    announce,
    change_plan,
    family_today,
    pick_up_early,
    report_absence,
)
from carline.guardians import add_guardian
from carline.models import CalledStudent, CarpoolAgreement, DailyChange
from carline.plans import record_change
from carline.settings import carline_settings, save_family_features
from shared.access import FAMILY_COOKIE
from shared.audit import SYSTEM, Actor
from shared.errors import Conflict, Forbidden, InvalidInput, NotFound
from shared.extensions import db as _db
from shared.guardians import clean_fields
from shared.models import AuditEvent, Guardian, School
from shared.schedule import school_today
from tests.helpers import audit_actions


@pytest.fixture
def two(db, school, make_family, make_student):
    """Family 40 (Ana) and family 41 (Olga), each with a guardian; 41 has a second one."""
    ana, olga = make_student(school, "Ana", "Ruiz"), make_student(school, "Olga", "Ortiz")
    ruiz, ortiz = make_family(school, 40, ana), make_family(school, 41, olga)
    rosa = add_guardian(school, SYSTEM, ruiz, clean_fields(name="Rosa Ruiz", language="en"))
    omar = add_guardian(school, SYSTEM, ortiz, clean_fields(name="Omar Ortiz", language="en"))
    oona = add_guardian(school, SYSTEM, ortiz, clean_fields(name="Oona Ortiz", language="en"))
    db.session.commit()
    return {
        "ana": ana,
        "olga": olga,
        "ruiz": ruiz,
        "ortiz": ortiz,
        "rosa": rosa,
        "omar": omar,
        "oona": oona,
    }


def tomorrow(school):
    return school_today(school) + timedelta(days=1)


def rows(db) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count(CarpoolAgreement.id)))


def sign_in(app, db, guardian):
    from shared.family_sessions import start_session

    token = start_session(guardian, "Mozilla/5.0 (iPhone) Safari/604.1")
    db.session.commit()
    phone = app.test_client()
    phone.set_cookie(FAMILY_COOKIE, token, domain="passline.test")
    return phone


# ------------------------------------------------------------------ agreements


def test_one_row_per_pair_whichever_family_asks(db, school, two, office_user):
    office = Actor(user=office_user)
    agreement = carpools.set_up(school, office, two["ortiz"], 40)
    db.session.commit()
    assert agreement.status == "active" and agreement.family_a_id < agreement.family_b_id
    with pytest.raises(Conflict, match="already carpools with tag 41"):
        carpools.set_up(school, office, two["ruiz"], 41)
    assert rows(db) == 1
    # The database holds it too: the pair in either order is the same pair.
    low, high = sorted((two["ruiz"].id, two["ortiz"].id))
    for a, b in ((low, high), (high, low)):
        db.session.add(
            CarpoolAgreement(school_id=school.id, family_a_id=a, family_b_id=b, status="active")
        )
        with pytest.raises(IntegrityError):
            db.session.flush()
        db.session.rollback()
    assert rows(db) == 1
    assert audit_actions(db, school_id=school.id).count("carline.carpool_set_up") == 1


def test_a_guardian_proposes_and_the_other_family_confirms(db, school, two):
    rosa, omar = Actor(guardian=two["rosa"]), Actor(guardian=two["omar"])
    proposal = carpools.propose(school, rosa, 41)
    db.session.commit()
    assert (proposal.status, proposal.proposed_by_family_id) == ("pending", two["ruiz"].id)
    # Not yet a carpool: no plan may use it, and the proposer cannot confirm it.
    with pytest.raises(InvalidInput, match="no carpool"):
        record_change(school, rosa, two["ana"], tomorrow(school), mode="car", family=two["ortiz"])
    db.session.rollback()
    with pytest.raises(Conflict, match="Tag 41 confirms your proposal"):
        carpools.confirm(school, rosa, proposal)
    with pytest.raises(Conflict, match="waiting for their answer"):
        carpools.propose(school, rosa, 41)
    db.session.rollback()
    # The other family's page shows it, naming the family by its tag only.
    page = family_today(school, two["omar"], actor=omar)
    assert [(a.status, a.other(two["ortiz"].id).tag_number) for a in page.carpools] == [
        ("pending", 40)
    ]
    carpools.confirm(school, omar, proposal)
    db.session.commit()
    assert proposal.status == "active" and proposal.active_since is not None
    assert [f.tag_number for f in carpools.partners(two["ruiz"].id)] == [41]
    actions = audit_actions(db, school_id=school.id)
    assert actions.count("carline.carpool_propose") == actions.count("carline.carpool_confirm") == 1


def test_bad_proposals_say_why_and_write_nothing(db, school, two, make_school, make_family):
    rosa = Actor(guardian=two["rosa"])
    elsewhere = make_school()
    make_family(elsewhere, 77)
    make_family(school, 42, active=False)
    for number, message in (
        (None, "Enter the other family's tag number"),
        (99, "Tag 99 is not a tag in use"),
        (77, "Tag 77 is not a tag in use"),  # another school's family
        (42, "Tag 42 is not a tag in use"),  # deactivated
        (40, "own tag"),
    ):
        with pytest.raises(InvalidInput, match=message) as refused:
            carpools.propose(school, rosa, number)
        assert refused.value.field == "tag_number"
        db.session.rollback()
    assert rows(db) == 0
    with pytest.raises(InvalidInput, match="Only a guardian"):
        carpools.propose(school, SYSTEM, 41)


def test_either_side_ends_it_and_its_plans_from_today_on_go(db, school, two, office_user):
    office, omar = Actor(user=office_user), Actor(guardian=two["omar"])
    agreement = carpools.set_up(school, office, two["ruiz"], 41)
    day = tomorrow(school)
    record_change(school, office, two["ana"], day, mode="car", family=two["ortiz"])
    record_change(school, office, two["olga"], day, mode="car", family=two["ruiz"])
    db.session.commit()
    assert carpools.end(school, omar, agreement) == 2
    db.session.commit()
    assert db.session.scalar(select(func.count(DailyChange.id))) == 0
    with pytest.raises(Conflict, match="already ended"):
        carpools.end(school, office, agreement)
    db.session.rollback()
    with pytest.raises(InvalidInput, match="Tag 41 has no carpool") as refused:
        record_change(school, office, two["ana"], day, mode="car", family=two["ortiz"])
    assert refused.value.field == "family_tag"
    db.session.rollback()
    # Asking again reuses the pair's row.
    again = carpools.propose(school, Actor(guardian=two["rosa"]), 41)
    db.session.commit()
    assert again.id == agreement.id and again.status == "pending" and rows(db) == 1
    detail = (
        db.session.scalars(
            select(AuditEvent.detail).where(AuditEvent.action == "carline.carpool_end")
        )
    ).one()
    assert detail["plans_taken_back"] == 2 and detail["was"] == "active"


def test_a_plan_with_another_family_needs_an_active_carpool(db, school, two, office_user):
    office = Actor(user=office_user)
    day = tomorrow(school)
    with pytest.raises(InvalidInput, match="Tag 41 has no carpool"):
        record_change(school, office, two["ana"], day, mode="car", family=two["ortiz"])
    db.session.rollback()
    carpools.set_up(school, office, two["ruiz"], 41)
    db.session.commit()
    with pytest.raises(InvalidInput, match="That day is over") as refused:
        record_change(
            school, office, two["ana"], day - timedelta(days=3), mode="car", family=two["ortiz"]
        )
    assert refused.value.field == "day"
    db.session.rollback()
    change = record_change(school, office, two["ana"], day, mode="car", family=two["ortiz"])
    db.session.commit()
    assert change.family_id == two["ortiz"].id


def test_a_guardian_sends_a_child_with_a_partner_family_only(db, school, two, make_family):
    rosa = Actor(guardian=two["rosa"])
    day = tomorrow(school)
    with pytest.raises(InvalidInput, match="no carpool with that family") as refused:
        change_plan(school, rosa, two["ana"], day, mode="", with_family_id=two["ortiz"].id)
    assert refused.value.field == "mode"
    db.session.rollback()
    carpools.confirm(school, Actor(guardian=two["omar"]), carpools.propose(school, rosa, 41))
    db.session.commit()
    (change,) = change_plan(school, rosa, two["ana"], day, mode="", with_family_id=two["ortiz"].id)
    db.session.commit()
    assert (change.mode, change.family_id, change.created_by_guardian_id) == (
        "car",
        two["ortiz"].id,
        two["rosa"].id,
    )
    # Olga's guardian may not send Ana anywhere (not their child).
    with pytest.raises(NotFound):
        change_plan(
            school, Actor(guardian=two["omar"]), two["ana"], day, mode="car", with_family_id=None
        )


def test_the_partner_car_calls_the_child_and_its_page_says_so(db, school, two, office_user):
    office = Actor(user=office_user)
    today = school_today(school)
    carpools.set_up(school, office, two["ruiz"], 41)
    record_change(school, office, two["ana"], today, mode="car", family=two["ortiz"])
    dismissal = start_dismissal(school, office, 1, 2, today)
    db.session.commit()
    # Ruiz's own car no longer takes Ana today; Ortiz's page lists her as riding with them.
    page = family_today(school, two["omar"], actor=Actor(guardian=two["omar"]))
    assert [(s.first_name, f.tag_number) for s, f in page.riders] == [("Ana", 40)]
    assert page.riders_by_tag == [(40, 1)]
    ruiz_page = family_today(school, two["rosa"], actor=Actor(guardian=two["rosa"]))
    assert ruiz_page.children[0].way_home == "Car, with the family of tag 41"
    result = curb_entry(school, dismissal, tag_number=41, actor=office)
    db.session.commit()
    called = {s.student.first_name for s in result.students if s.call is not None}
    assert called == {"Ana", "Olga"}
    call = db.session.scalar(select(CalledStudent).where(CalledStudent.student_id == two["ana"].id))
    assert call.queue_entry.family_id == two["ortiz"].id


# ------------------------------------------------------------------ at once


def _confirm_race(app, guardian_id, school_id, agreement_id, tag, results, barrier):
    """One guardian's confirmation (or proposal, with `tag`), as a writing request runs it."""
    from shared.database import write_intent

    barrier.wait()
    try:
        with app.app_context(), write_intent():
            guardian = _db.session.get(Guardian, guardian_id)
            school = _db.session.get(School, school_id)
            actor = Actor(guardian=guardian)
            if tag is not None:
                done = carpools.propose(school, actor, tag)
            else:
                done = carpools.confirm(
                    school, actor, carpools.guardian_agreement(actor, agreement_id)
                )
            status = done.status
            _db.session.commit()
        results.append(status)
    except Conflict as error:
        results.append(error.message)
    except Exception as error:  # pragma: no cover - shown by the assertion
        results.append(repr(error))


def _run(app, jobs):
    results: list = []
    barrier = threading.Barrier(len(jobs))
    threads = [
        threading.Thread(target=_confirm_race, args=(app, *job, results, barrier)) for job in jobs
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_two_guardians_confirming_at_once_make_one_agreement(app, db, school, two):
    proposal = carpools.propose(school, Actor(guardian=two["rosa"]), 41)
    db.session.commit()
    results = _run(
        app,
        [(two[name].id, school.id, proposal.id, None) for name in ("omar", "oona")],
    )
    assert sorted(results) == ["This family already carpools with tag 40.", "active"], results
    db.session.rollback()
    assert rows(db) == 1
    assert audit_actions(db, school_id=school.id).count("carline.carpool_confirm") == 1


def test_both_families_proposing_at_once_make_one_agreement(app, db, school, two):
    results = _run(
        app,
        [(two["rosa"].id, school.id, None, 41), (two["omar"].id, school.id, None, 40)],
    )
    assert sorted(results) == ["active", "pending"], results
    db.session.rollback()
    assert rows(db) == 1
    assert db.session.scalar(select(CarpoolAgreement.status)) == "active"


# ------------------------------------------------------------------ the pages


def test_family_pages_propose_confirm_and_show_only_the_tag(app, db, school, two):
    rosa_phone, omar_phone = sign_in(app, db, two["rosa"]), sign_in(app, db, two["omar"])
    refused = rosa_phone.post("/carline/family/carpools", data={"tag_number": "99"})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 400 and "data-carpool-error" in html
    assert "Tag 99 is not a tag in use at this school." in html and 'aria-invalid="true"' in html
    assert rows(db) == 0
    sent = rosa_phone.post("/carline/family/carpools", data={"tag_number": "41"})
    assert sent.status_code == 302
    page = omar_phone.get("/carline/family").get_data(as_text=True)
    assert "Tag 40 proposes to carpool with you." in page and "data-carpool-confirm" in page
    # Nothing else of the other family: no guardian, no child.
    assert "Rosa" not in page and "Ana" not in page
    agreement_id = db.session.scalar(select(CarpoolAgreement.id))
    # The proposer's own page cannot confirm it; another family's guardian cannot reach it.
    assert rosa_phone.post(f"/carline/family/carpools/{agreement_id}/confirm").status_code == 409
    confirmed = omar_phone.post(f"/carline/family/carpools/{agreement_id}/confirm")
    assert confirmed.status_code == 302
    mine = rosa_phone.get("/carline/family").get_data(as_text=True)
    assert "You carpool with tag 41." in mine and 'data-with-family="41"' in mine
    assert "Omar" not in mine and "Olga" not in mine
    day = tomorrow(school).isoformat()
    saved = rosa_phone.post(
        f"/carline/family/students/{two['ana'].id}/change",
        data={"day": day, "mode": f"family-{two['ortiz'].id}", "repeat": "once"},
    )
    assert saved.status_code == 302
    change = db.session.scalar(select(DailyChange))
    assert change.family_id == two["ortiz"].id
    ended = omar_phone.post(f"/carline/family/carpools/{agreement_id}/end")
    assert ended.status_code == 302
    db.session.rollback()
    assert db.session.scalar(select(func.count(DailyChange.id))) == 0


def test_a_guardian_of_another_family_reaches_no_agreement(app, db, school, two, make_family):
    third = make_family(school, 42)
    stranger = add_guardian(school, SYSTEM, third, clean_fields(name="Tia Third"))
    agreement = carpools.set_up(school, SYSTEM, two["ruiz"], 41)
    db.session.commit()
    phone = sign_in(app, db, stranger)
    for action in ("confirm", "end"):
        assert phone.post(f"/carline/family/carpools/{agreement.id}/{action}").status_code == 404
    db.session.rollback()
    assert db.session.get(CarpoolAgreement, agreement.id).status == "active"


def test_the_office_sets_up_and_ends_a_carpool_on_the_family_screen(
    db, client, login, school, two, office_user
):
    login(office_user)
    ruiz = two["ruiz"].id
    bad = client.post(f"/carline/families/{ruiz}/carpools", data={"carpool_tag": "40"})
    html = bad.get_data(as_text=True)
    assert bad.status_code == 400 and 'id="carpool-error"' in html and "own tag" in html
    assert rows(db) == 0
    made = client.post(f"/carline/families/{ruiz}/carpools", data={"carpool_tag": "41"})
    assert made.status_code == 302
    screen = client.get(f"/carline/families/{ruiz}").get_data(as_text=True)
    assert 'data-carpool="41"' in screen and 'data-carpool-status="active"' in screen
    agreement = db.session.scalar(select(CarpoolAgreement))
    # The plan screen names the carpool tags a change may use.
    plan = client.get(f"/carline/plans/students/{two['ana'].id}").get_data(as_text=True)
    assert "tags 41" in plan
    ended = client.post(f"/carline/families/{ruiz}/carpools/{agreement.id}/end")
    assert ended.status_code == 302
    db.session.rollback()
    assert db.session.get(CarpoolAgreement, agreement.id).status == "ended"
    # Another family's id in the URL reaches nothing.
    other = client.post(f"/carline/families/{ruiz + 1000}/carpools/{agreement.id}/end")
    assert other.status_code == 404


def test_the_plan_screen_names_the_guardian_who_changed_a_plan(
    app, db, client, login, school, two, office_user
):
    change_plan(school, Actor(guardian=two["rosa"]), two["ana"], tomorrow(school), mode="walker")
    db.session.commit()
    login(office_user)
    page = client.get(f"/carline/plans/students/{two['ana'].id}").get_data(as_text=True)
    assert "by Rosa Ruiz (guardian)" in page


def test_the_familys_download_lists_its_carpools_by_tag_only(app, db, school, two):
    carpools.set_up(school, SYSTEM, two["ruiz"], 41)
    db.session.commit()
    phone = sign_in(app, db, two["rosa"])
    records = json.loads(phone.get("/family/data.json").get_data(as_text=True))
    (row,) = records["carpool_agreements"]
    assert row["other_family_tag"] == 41 and row["status"] == "active"
    assert "Omar" not in json.dumps(records) and "Olga" not in json.dumps(records)


# ------------------------------------------------------------------ the switches


def test_the_office_turns_family_page_features_off(
    app, db, client, login, school, two, office_user
):
    login(office_user)
    bad = client.post("/carline/settings/family-page", data={"family_features": ["teleport"]})
    assert bad.status_code == 400 and carline_settings(school).offers("change")
    saved = client.post(
        "/carline/settings/family-page", data={"family_features": ["here", "early_pickup"]}
    )
    assert saved.status_code == 302
    db.session.rollback()
    school = db.session.get(School, school.id)
    assert carline_settings(school).family_features == ("early_pickup", "here")
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "carline.family_features")
    ).one()
    assert "carpool" in event.detail["before"]["family_features"]
    assert event.detail["after"]["family_features"] == ["early_pickup", "here"]
    # The office's page says who turned what off.
    changes = client.get("/carline/settings/family-page").get_data(as_text=True)
    assert event.actor_label in changes
    assert "turned off: Change a day's plan, Report an absence, Propose" in changes
    phone = sign_in(app, db, two["rosa"])
    page = phone.get("/carline/family").get_data(as_text=True)
    assert "data-save-change" not in page and "data-report-absence" not in page
    assert "data-carpool-propose" not in page and "data-pick-up-early" in page
    day = tomorrow(school).isoformat()
    ana = two["ana"].id
    for path, data, message in (
        (f"/carline/family/students/{ana}/change", {"day": day, "mode": "walker"}, "plan changes"),
        (f"/carline/family/students/{ana}/absence", {"day": day}, "absences"),
        ("/carline/family/carpools", {"tag_number": "41"}, "sets up carpools itself"),
    ):
        refused = phone.post(path, data=data)
        assert refused.status_code == 403, path
        assert message in refused.get_data(as_text=True)
    db.session.rollback()
    assert db.session.scalar(select(func.count(DailyChange.id))) == 0
    assert rows(db) == 0


def test_features_off_refuse_the_services_too(db, school, two):
    save_family_features(school, SYSTEM, [])
    db.session.commit()
    rosa = Actor(guardian=two["rosa"])
    with pytest.raises(Forbidden, match="absences"):
        report_absence(school, rosa, two["ana"], tomorrow(school))
    with pytest.raises(Forbidden, match="carpools"):
        carpools.propose(school, rosa, 41)
    with pytest.raises(Forbidden, match="early pickups"):
        pick_up_early(school, rosa, two["ana"], tomorrow(school), at=time(13, 0))
    with pytest.raises(Forbidden, match="I'm here"):
        announce(school, rosa, "key")
    with pytest.raises(Forbidden, match="plan changes"):
        change_plan(school, rosa, two["ana"], tomorrow(school), mode="walker")
    db.session.rollback()
    start_dismissal(school, SYSTEM, 1, 2, school_today(school))
    page = family_today(school, two["rosa"], actor=rosa)
    assert page.announce_refusal == (
        "Show your hang tag at the curb: the school does not use this button."
    )


def _end_or_ride(app, school_id, agreement_id, student_id, family_id, day, what, results, barrier):
    """Ending the carpool, or a plan that uses it, as a writing request runs each."""
    from carline.models import CarpoolAgreement as Agreement
    from shared.database import write_intent
    from shared.models import Family, Student, User

    barrier.wait()
    try:
        with app.app_context(), write_intent():
            school = _db.session.get(School, school_id)
            office = Actor(user=_db.session.scalar(select(User).limit(1)))
            if what == "end":
                carpools.end(school, office, _db.session.get(Agreement, agreement_id))
            else:
                record_change(
                    school,
                    office,
                    _db.session.get(Student, student_id),
                    day,
                    mode="car",
                    family=_db.session.get(Family, family_id),
                )
            _db.session.commit()
        results.append(what)
    except InvalidInput as error:
        results.append(error.message)


@pytest.mark.parametrize("attempt", range(3))
def test_a_plan_made_while_the_carpool_ends_does_not_outlive_it(
    app, db, school, two, office_user, attempt
):
    agreement = carpools.set_up(school, Actor(user=office_user), two["ruiz"], 41)
    db.session.commit()
    day = tomorrow(school)
    results: list = []
    barrier = threading.Barrier(2)
    threads = [
        threading.Thread(
            target=_end_or_ride,
            args=(
                app,
                school.id,
                agreement.id,
                two["ana"].id,
                two["ortiz"].id,
                day,
                what,
                results,
                barrier,
            ),
        )
        for what in ("end", "ride")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert "end" in results, results
    db.session.rollback()
    # Whichever came first, no plan sends Ana with tag 41 once the carpool has ended.
    assert db.session.scalar(select(func.count(DailyChange.id))) == 0


def test_the_office_setting_up_a_proposed_carpool_confirms_it(db, school, two, office_user):
    proposal = carpools.propose(school, Actor(guardian=two["rosa"]), 41)
    db.session.commit()
    agreement = carpools.set_up(school, Actor(user=office_user), two["ortiz"], 40)
    db.session.commit()
    assert agreement.id == proposal.id and agreement.status == "active"
    assert agreement.proposed_by_guardian_id == two["rosa"].id  # who asked stays known
    carpools.end(school, Actor(guardian=two["omar"]), agreement)
    again = carpools.set_up(school, Actor(user=office_user), two["ortiz"], 40)
    db.session.commit()
    assert again.status == "active" and again.proposed_by_guardian_id is None and rows(db) == 1

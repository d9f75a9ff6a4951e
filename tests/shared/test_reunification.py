"""Reunification at the service level and through the gates, and two release gates at once."""

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from carline.families import update_family
from shared import emergencies, emergency_roll, reunification
from shared.audit import Actor
from shared.database import write_intent
from shared.emergency_models import EmergencyRelease, ReunificationRequest, RollMark
from shared.errors import Conflict, DomainError, Forbidden, InvalidInput
from shared.models import AuditEvent, Family
from tests.helpers import audit_actions

TEN = datetime(2026, 11, 24, 16, 0, tzinfo=UTC)


@pytest.fixture
def gates(db, school, make_user, make_student):
    office = make_user(school, "office")
    admin = make_user(school, "admin")
    ana, ben, cy = (make_student(school, first, "Lopez") for first in ("Ana", "Ben", "Cy"))
    family = Family(
        school_id=school.id,
        tag_number=7,
        pickup_adults="Maria Lopez\nJorge Lopez",
        students=[ana, ben],
    )
    other = Family(
        school_id=school.id,
        tag_number=8,
        pickup_adults="Rosa Diaz",
        release_note="Do not release to Jorge Lopez (court order).",
        students=[cy],
    )
    db.session.add_all([family, other])
    db.session.commit()
    event = emergencies.start_event(school, Actor(user=office), kind="evacuation", drill=True)
    db.session.commit()
    return {
        "school": school,
        "office": Actor(user=office),
        "admin": Actor(user=admin),
        "event": event,
        "ana": ana,
        "ben": ben,
        "cy": cy,
        "family": family,
    }


def ask(gates, *students, listed_as="Maria Lopez", actor=None, **kw):
    kw.setdefault("adult_name", "MARIA  LOPEZ")
    kw.setdefault("relationship", "Mother")
    kw.setdefault("id_check", "Driver's licence")
    return reunification.request_students(
        gates["school"],
        actor or gates["office"],
        gates["event"],
        student_ids=[s.id for s in students],
        listed_as=listed_as,
        **kw,
    )


def test_who_may_take_lists_adults_notes_and_siblings(db, gates):
    found = reunification.who_may_take(gates["ana"])
    assert [a.name for a in found.adults] == ["Maria Lopez", "Jorge Lopez"]
    assert found.adults[0].source == "Authorized adult, tag 7"
    assert found.sibling_ids == [gates["ben"].id] and found.notes == []
    assert reunification.who_may_take(gates["cy"]).notes == [
        "Tag 8: Do not release to Jorge Lopez (court order)."
    ]
    by_adult = reunification.lookup(gates["school"], "rosa")
    assert [s.id for s in by_adult] == [gates["cy"].id]


def test_a_listed_adult_asks_for_siblings_together_and_the_release_happens_once(db, gates):
    done = ask(gates, gates["ana"], gates["ben"])
    db.session.commit()
    assert [r.student_id for r in done.queued] == [gates["ana"].id, gates["ben"].id]
    assert len({r.group_key for r in done.queued}) == 1
    again = ask(gates, gates["ana"])
    assert again.skipped and "already asked for" in again.skipped[0][1]
    queue = reunification.queue(gates["event"])
    assert [r.student_id for r, _ in queue] == [gates["ana"].id, gates["ben"].id]
    released = reunification.release(
        gates["school"], gates["office"], gates["event"], request_id=done.queued[0].id, key="g1"
    )
    db.session.commit()
    assert released.request.adult_name == "MARIA LOPEZ"
    # The same form sent again (a retry) gets its release back, and nothing is done twice.
    retried = reunification.release(
        gates["school"], gates["office"], gates["event"], request_id=done.queued[0].id, key="g1"
    )
    db.session.commit()
    assert retried.id == released.id
    assert audit_actions(db).count("emergency.release") == 1
    with pytest.raises(Conflict, match=r"already released to MARIA LOPEZ by user\d+@"):
        reunification.release(
            gates["school"], gates["admin"], gates["event"], request_id=done.queued[0].id
        )
    db.session.rollback()
    # The roll says released, and a later "missing" never overrides it.
    assert db.session.scalar(select(RollMark.status)) == "released"
    with pytest.raises(Conflict, match="released"):
        emergency_roll.mark_student(
            gates["school"],
            gates["office"],
            gates["event"],
            student_id=gates["ana"].id,
            status="missing",
            key="late",
            now=TEN + timedelta(days=1000),
        )
    db.session.rollback()
    assert ask(gates, gates["ana"]).skipped[0][1].startswith("Ana Lopez was already released")
    detail = db.session.scalars(
        select(AuditEvent.detail).where(AuditEvent.action == "emergency.release")
    ).one()
    assert detail["drill"] is True and detail["id_check"] == "Driver's licence"


def test_an_unlisted_adult_is_refused_unless_an_administrator_overrides(db, gates):
    refused = ask(gates, gates["cy"], listed_as="", adult_name="Jorge Lopez")
    db.session.commit()
    assert refused.refused and not refused.queued
    assert refused.refused[0].refusal.startswith("Not on the list")
    with pytest.raises(Conflict, match="refused"):
        reunification.release(
            gates["school"], gates["office"], gates["event"], request_id=refused.refused[0].id
        )
    with pytest.raises(Forbidden, match="administrator"):
        ask(gates, gates["cy"], listed_as="", override_reason="Grandmother, known to staff")
    allowed = ask(
        gates,
        gates["cy"],
        listed_as="",
        adult_name="Ines Diaz",
        override_reason="Grandmother, known to staff",
        may_override=True,
        actor=gates["admin"],
    )
    db.session.commit()
    request = allowed.queued[0]
    assert request.override_reason == "Grandmother, known to staff"
    assert request.override_by_label == gates["admin"].audit_label and request.listed_as is None


def test_a_do_not_release_note_is_refused_and_recorded(db, gates):
    done = ask(
        gates,
        gates["cy"],
        listed_as="Rosa Diaz",
        adult_name="Jorge Lopez",
        refusal="Do not release note: court order",
    )
    db.session.commit()
    assert done.refused[0].refusal == "Do not release note: court order"
    assert [r.status for r in db.session.scalars(select(ReunificationRequest))] == ["refused"]


def test_gate_input_rules(db, gates):
    with pytest.raises(InvalidInput, match="name as on the ID"):
        ask(gates, gates["ana"], adult_name=" ")
    with pytest.raises(InvalidInput, match="ID checked"):
        ask(gates, gates["ana"], id_check="")
    with pytest.raises(InvalidInput, match="Choose the student"):
        ask(gates)


def test_the_family_note_is_edited_with_the_family(db, gates):
    update_family(
        gates["school"],
        gates["office"],
        gates["family"],
        tag_number=7,
        pickup_adults="Maria Lopez",
        release_note="  Custody: mother only  ",
    )
    db.session.commit()
    assert reunification.who_may_take(gates["ana"]).notes == ["Tag 7: Custody: mother only"]


def test_two_release_gates_at_once_release_exactly_once(app, db, gates):
    """Eight gates press "released" for the same request at once: one release."""
    request_id = ask(gates, gates["ana"]).queued[0].id
    db.session.commit()
    school_id, event_id = gates["school"].id, gates["event"].id
    user_ids = [gates["office"].user.id, gates["admin"].user.id]

    def attempt(n: int) -> str:
        with app.app_context(), write_intent():
            from shared.emergency_models import EmergencyEvent
            from shared.extensions import db as session_db
            from shared.models import School, User

            try:
                reunification.release(
                    session_db.session.get(School, school_id),
                    Actor(user=session_db.session.get(User, user_ids[n % 2])),
                    session_db.session.get(EmergencyEvent, event_id),
                    request_id=request_id,
                )
                session_db.session.commit()
                return "released"
            except DomainError as error:
                session_db.session.rollback()
                assert "already released" in error.message
                return "refused"

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(attempt, range(8)))
    assert outcomes.count("released") == 1, outcomes
    db.session.rollback()
    assert db.session.query(EmergencyRelease).count() == 1
    assert db.session.scalar(select(RollMark.status)) == "released"


def test_the_gates_through_the_browser_forms(db, app, login, gates, make_user):
    office = login(gates["office"].user)
    found = office.get("/emergency/gate?q=lopez").get_data(as_text=True)
    assert "Ana Lopez" in found and "Cy Lopez" in found
    page = office.get(f"/emergency/gate/{gates['cy'].id}").get_data(as_text=True)
    assert "Notes: read before releasing" in page and "court order" in page
    assert page.index("court order") < page.index("May take Cy Lopez")  # the note comes first
    form = {
        "listed_as": "Maria Lopez",
        "adult_name": "Maria Lopez",
        "relationship": "Mother",
        "id_check": "Passport",
        "sibling_id": [str(gates["ben"].id)],
        "action": "request",
    }
    asked = office.post(f"/emergency/gate/{gates['ana'].id}", data=form)
    assert asked.status_code == 200
    assert asked.get_data(as_text=True).count("asked for: a runner") == 2
    queue = office.get("/emergency/queue").get_data(as_text=True)
    assert "Ben Lopez" in queue and 'id="reunify-queue" data-live' in queue
    request_id = db.session.scalar(
        select(ReunificationRequest.id).where(ReunificationRequest.student_id == gates["ana"].id)
    )
    assert office.post("/emergency/release", data={"request_id": request_id}).status_code == 302
    twice = office.post("/emergency/release", data={"request_id": request_id})
    assert twice.status_code == 409 and "already released to Maria Lopez" in twice.get_data(
        as_text=True
    )
    unlisted = {**form, "listed_as": "", "adult_name": "Jorge Lopez", "sibling_id": []}
    refused = office.post(f"/emergency/gate/{gates['cy'].id}", data=unlisted)
    text = refused.get_data(as_text=True)
    assert refused.status_code == 409 and "Refused:" in text and "Only an administrator" in text
    sneaky = office.post(
        f"/emergency/gate/{gates['cy'].id}", data={**unlisted, "override_reason": "trust me"}
    )
    assert sneaky.status_code == 403
    admin = login(gates["admin"].user, on=app.test_client())
    assert "override" in admin.get(f"/emergency/gate/{gates['cy'].id}").get_data(as_text=True)
    allowed = admin.post(
        f"/emergency/gate/{gates['cy'].id}", data={**unlisted, "override_reason": "Aunt, on ID"}
    )
    assert allowed.status_code == 200 and "asked for: a runner" in allowed.get_data(as_text=True)


def test_the_event_report_page_and_csv(db, app, login, gates):
    done = ask(gates, gates["ana"])
    reunification.release(
        gates["school"], gates["office"], gates["event"], request_id=done.queued[0].id
    )
    ask(gates, gates["cy"], listed_as="", adult_name="Jorge Lopez")
    emergency_roll.mark_student(
        gates["school"],
        gates["office"],
        gates["event"],
        student_id=gates["ben"].id,
        status="missing",
        key="m",
    )
    db.session.commit()
    school = gates["school"]
    emergencies.end_event(
        school, gates["office"], summary=emergency_roll.summary_of(school, gates["event"])
    )
    db.session.commit()
    office = login(gates["office"].user)
    page = office.get(f"/emergency/events/{gates['event'].id}").get_data(as_text=True)
    assert "This was a drill." in page and "Timeline" in page
    assert "Ana Lopez released to MARIA LOPEZ (Mother, Driver&#39;s licence)" in page
    assert "Cy Lopez: Jorge Lopez refused" in page
    assert "<strong>Ben Lopez</strong> (missing)" in page
    answer = office.get(f"/emergency/events/{gates['event'].id}/report.csv")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    lines = answer.get_data(as_text=True).lstrip("\ufeff").splitlines()
    assert lines[0].startswith("Event,Drill,Student,")
    ana = next(line for line in lines if "Ana Lopez" in line)
    assert "Drill: Evacuation,yes,Ana Lopez" in ana and "MARIA LOPEZ,Mother" in ana
    assert "emergency.report_csv" in [a for a in db.session.scalars(select(AuditEvent.action))]

"""Reunification at the service level and through the gates, and two release gates at once."""

import re
import threading
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
from shared.models import AuditEvent, Enrollment, Family, SchoolClass
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
    queue = reunification.queue(gates["school"], gates["event"])
    assert [w.request.student_id for w in queue] == [gates["ana"].id, gates["ben"].id]
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


def test_runners_see_the_students_asked_for_from_their_area(db, app, login, gates):
    """A runner's area is a few groups: the queue lists the students with those groups,
    by the roll's mark (a teacher added them) or else their class at the start."""
    school = gates["school"]
    north, south = (SchoolClass(school_id=school.id, name=n) for n in ("North 5", "South 5"))
    db.session.add_all([north, south])
    db.session.flush()
    db.session.add_all(
        [
            Enrollment(class_id=north.id, student_id=gates["ana"].id),
            Enrollment(class_id=south.id, student_id=gates["ben"].id),
        ]
    )
    db.session.commit()
    ask(gates, gates["ana"], gates["ben"])
    ask(gates, gates["cy"], listed_as="Rosa Diaz", adult_name="Rosa Diaz")
    db.session.commit()

    def names(area):
        return [w.request.student.first_name for w in reunification.queue(school, event, area)]

    event = gates["event"]
    assert names(None) == ["Ana", "Ben", "Cy"]
    assert names({north.id}) == ["Ana"] and names({south.id}) == ["Ben"]
    everyone = reunification.queue(school, event)
    assert [w.group.name if w.group else None for w in everyone] == ["North 5", "South 5", None]
    # Cy (no class) turns up with North's group: its teacher adds them, North's runner fetches.
    emergency_roll.mark_student(
        school,
        gates["office"],
        event,
        student_id=gates["cy"].id,
        status="present",
        class_id=north.id,
        key="cy-north",
    )
    db.session.commit()
    assert names({north.id}) == ["Ana", "Cy"]
    assert names({north.id, south.id}) == ["Ana", "Ben", "Cy"]

    runner = login(gates["office"].user)
    page = runner.get(f"/emergency/queue?group={north.id}").get_data(as_text=True)
    assert "Asked for from your area · 2" in page and "Your area: North 5." in page
    assert "Ana Lopez" in page and "Cy Lopez" in page and "Ben Lopez" not in page
    assert "queue/list?v=" in page and f"group={north.id}" in page  # the live region keeps it
    live = runner.get(f"/emergency/queue/list?group={south.id}").get_data(as_text=True)
    assert "<html" not in live and "Ben Lopez" in live and "Ana Lopez" not in live
    assert "with South 5" in live
    assert runner.get("/emergency/queue?group=999999").status_code == 404
    assert runner.get("/emergency/queue?group=abc").status_code == 404
    # Releasing from an area's page comes back to that area.
    request_id = next(w.request.id for w in everyone if w.request.student_id == gates["ana"].id)
    back = runner.post("/emergency/release", data={"request_id": request_id, "group": north.id})
    assert back.status_code == 302 and back.headers["Location"].endswith(f"?group={north.id}")
    after = runner.get(f"/emergency/queue/list?group={north.id}").get_data(as_text=True)
    assert "Asked for from your area · 1" in after and "Ana Lopez" not in after


def test_releasing_the_last_student_not_accounted_for_completes_the_accounting(db, gates):
    """A student released straight from the gates, never marked on a roll, is accounted
    for: the release that accounts for the last one sets the time to full accounting."""
    school, event = gates["school"], gates["event"]
    for n, kid in enumerate((gates["ana"], gates["ben"])):
        emergency_roll.mark_student(
            school, gates["office"], event, student_id=kid.id, status="present", key=f"p{n}"
        )
    db.session.commit()
    assert event.fully_accounted_at is None
    request_id = ask(gates, gates["cy"], listed_as="Rosa Diaz").queued[0].id
    later = event.started_at + timedelta(minutes=7)
    reunification.release(school, gates["office"], event, request_id=request_id, now=later)
    db.session.commit()
    db.session.refresh(event)
    assert event.fully_accounted_at == later
    assert emergency_roll.minutes_to_full_accounting(event) == 7


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


@pytest.mark.parametrize("round_", range(3))
def test_a_missing_mark_racing_a_release_never_overrides_it(app, db, gates, round_):
    """Teachers' phones send "missing" (tapped after the release) while two gates release
    the student, all at once in threads on their own connections: the student is released
    exactly once and the roll ends "released", whatever order the database ran them in."""
    school_id, event_id = gates["school"].id, gates["event"].id
    student_id = gates["ana"].id
    request_id = ask(gates, gates["ana"]).queued[0].id
    db.session.commit()
    user_ids = [gates["office"].user.id, gates["admin"].user.id]
    late_tap = int((datetime.now(UTC) + timedelta(seconds=30)).timestamp() * 1000)
    barrier = threading.Barrier(8)

    def attempt(n: int) -> str:
        with app.app_context(), write_intent():
            from shared.emergency_models import EmergencyEvent
            from shared.extensions import db as session_db
            from shared.models import School, User

            barrier.wait(timeout=10)  # before the first query: SQLite locks at BEGIN
            school = session_db.session.get(School, school_id)
            actor = Actor(user=session_db.session.get(User, user_ids[n % 2]))
            event = session_db.session.get(EmergencyEvent, event_id)
            try:
                if n < 2:
                    reunification.release(school, actor, event, request_id=request_id)
                    outcome = "released"
                else:
                    emergency_roll.mark_student(
                        school,
                        actor,
                        event,
                        student_id=student_id,
                        status="missing",
                        key=f"r{round_}-m{n}",
                        at_ms=late_tap,
                    )
                    outcome = "marked"
                session_db.session.commit()
                return outcome
            except DomainError as error:
                session_db.session.rollback()
                assert "released" in error.message, error.message
                return "refused"

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(attempt, range(8)))
    assert outcomes[:2].count("released") == 1, outcomes
    db.session.rollback()
    assert db.session.query(EmergencyRelease).count() == 1
    assert db.session.scalar(select(RollMark.status)) == "released"
    assert audit_actions(db).count("emergency.release") == 1


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


def test_a_gate_form_sent_twice_is_recorded_once(db, app, login, gates):
    """A double tap on "Ask for" or "Refuse and record", or a resend on a bad connection,
    carries the form's key again: nothing more is recorded, and the answer is the first."""
    office = login(gates["office"].user)
    page = office.get(f"/emergency/gate/{gates['ana'].id}").get_data(as_text=True)
    key = re.search(r'name="key" value="([0-9a-f]{32})"', page).group(1)
    form = {
        "key": key,
        "listed_as": "Maria Lopez",
        "adult_name": "Maria Lopez",
        "relationship": "Mother",
        "id_check": "Passport",
        "sibling_id": [str(gates["ben"].id)],
        "action": "request",
    }
    first = office.post(f"/emergency/gate/{gates['ana'].id}", data=form)
    again = office.post(f"/emergency/gate/{gates['ana'].id}", data=form)
    assert first.status_code == again.status_code == 200
    assert again.get_data(as_text=True).count("asked for: a runner") == 2  # the first answer
    assert "already asked for" not in again.get_data(as_text=True)
    requests = db.session.scalars(select(ReunificationRequest)).all()
    assert len(requests) == 2 and {r.group_key for r in requests} == {key}
    fresh_key = re.search(r'name="key" value="([0-9a-f]{32})"', first.get_data(as_text=True))
    assert fresh_key and fresh_key.group(1) != key  # the next form is a new write

    page = office.get(f"/emergency/gate/{gates['cy'].id}").get_data(as_text=True)
    refusal = {
        "key": re.search(r'name="key" value="([0-9a-f]{32})"', page).group(1),
        "listed_as": "",
        "adult_name": "Jorge Lopez",
        "relationship": "Uncle",
        "id_check": "Driver's license",
        "action": "refuse",
        "refusal": "Do not release note: court order",
    }
    answers = [office.post(f"/emergency/gate/{gates['cy'].id}", data=refusal) for _ in range(2)]
    assert [a.status_code for a in answers] == [409, 409]
    assert all("court order" in a.get_data(as_text=True) for a in answers)
    refused = db.session.scalars(
        select(ReunificationRequest).where(ReunificationRequest.student_id == gates["cy"].id)
    ).all()
    assert [r.status for r in refused] == ["refused"]
    assert audit_actions(db).count("emergency.reunify_request") == 3  # 2 asked, 1 refused

    too_long = office.post(f"/emergency/gate/{gates['cy'].id}", data={**refusal, "key": "k" * 41})
    assert too_long.status_code == 400 and "client key" in too_long.get_data(as_text=True)


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


def test_the_gates_and_the_report_in_spanish(db, app, login, gates):
    gates["office"].user.language = "es"
    db.session.commit()
    office = login(gates["office"].user)
    page = office.get(f"/emergency/gate/{gates['ana'].id}").get_data(as_text=True)
    assert "Pueden llevarse a Ana Lopez" in page and "Licencia de conducir" in page
    assert '<option value="Driver&#39;s licence"' in page  # recorded as offered
    unlisted = {
        "listed_as": "",
        "adult_name": "Jorge Lopez",
        "relationship": "Tío",
        "id_check": "Passport",
        "action": "request",
    }
    refused = office.post(f"/emergency/gate/{gates['ana'].id}", data=unlisted)
    text = refused.get_data(as_text=True)
    assert refused.status_code == 409
    assert "<strong>Rechazado:</strong> Ana Lopez no se entrega a Jorge Lopez." in text
    assert "No está en la lista de adultos que pueden llevarse al estudiante." in text
    asked = office.post(
        f"/emergency/gate/{gates['ben'].id}",
        data={**unlisted, "listed_as": "Maria Lopez", "adult_name": "Maria Lopez"},
    )
    assert "Se pidió a Ben Lopez" in asked.get_data(as_text=True)
    request_id = db.session.scalar(
        select(ReunificationRequest.id).where(ReunificationRequest.student_id == gates["ben"].id)
    )
    queue = office.get("/emergency/queue").get_data(as_text=True)
    assert "Entregado a Maria Lopez" in queue and "Pasaporte" in queue
    group = SchoolClass(school_id=gates["school"].id, name="Norte")
    db.session.add(group)
    db.session.commit()
    area = office.get(f"/emergency/queue?group={group.id}").get_data(as_text=True)
    assert "Mi zona: los grupos de los que traigo estudiantes" in area
    assert "Pedidos de su zona · 0" in area and "Nadie de su zona está esperando." in area
    assert "Su zona: Norte." in area
    office.post("/emergency/release", data={"request_id": request_id})
    assert "Ben Lopez entregado a Maria Lopez (Tío)." in office.get("/emergency/queue").get_data(
        as_text=True
    )
    school = gates["school"]
    emergencies.end_event(
        school, gates["office"], summary=emergency_roll.summary_of(school, gates["event"])
    )
    db.session.commit()
    report = office.get(f"/emergency/events/{gates['event'].id}").get_data(as_text=True)
    assert "<th>Entregado a</th>" in report and "entregados</div>" in report
    assert (
        "Cronología" in report and "Ana Lopez: Jorge Lopez rechazado (No está en la lista" in report
    )
    lines = (
        office.get(f"/emergency/events/{gates['event'].id}/report.csv")
        .get_data(as_text=True)
        .lstrip("\ufeff")
        .splitlines()
    )
    assert lines[0].startswith("Evento,Simulacro,Estudiante,")
    ben = next(line for line in lines if "Ben Lopez" in line)
    assert "Simulacro: Evacuación" in ben and "Pasaporte" in ben
    assert re.search(r",\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", ben)  # ISO times, for spreadsheets

"""Guardians: the office's family screen, the roster import's guardians.csv, and the one
"who may pick up" list the curb and the office show."""

import pytest
from sqlalchemy import func, select

from carline.guardians import add_guardian, update_guardian
from carline.pickup import pickup_list
from shared import roster
from shared.audit import SYSTEM
from shared.errors import Conflict, InvalidInput
from shared.guardians import clean_fields
from shared.models import AuditEvent, Guardian
from tests.carline.test_views import HX, curb_setup, text  # noqa: F401  (fixture)
from tests.shared.test_roster import TODAY, bundle


def count(db) -> int:
    return db.session.scalar(select(func.count(Guardian.id)))


def test_clean_fields_refuses_bad_details_with_the_field():
    with pytest.raises(InvalidInput) as bad_email:
        clean_fields(name="Ana", email="not-an-address")
    assert bad_email.value.field == "email"
    with pytest.raises(InvalidInput) as no_name:
        clean_fields(name="  ")
    assert no_name.value.field == "name"
    with pytest.raises(InvalidInput) as bad_language:
        clean_fields(name="Ana", language="fr")
    assert bad_language.value.field == "language"
    with pytest.raises(InvalidInput) as bad_mobile:
        clean_fields(name="Ana", mobile="call me")
    assert bad_mobile.value.field == "mobile"
    fields = clean_fields(name=" Ana  Ruiz ", email=" Ana@Example.NET ", language="ES")
    assert (fields.name, fields.email, fields.language) == ("Ana Ruiz", "ana@example.net", "es")


def test_the_office_adds_edits_and_removes_a_guardian(
    db, client, login, school, office_user, make_family, make_student
):
    family = make_family(school, 21, make_student(school, "Mia", "Ruiz"))
    login(office_user)
    page = text(client.get(f"/carline/families/{family.id}"))
    assert "Guardians" in page and "No guardians yet." in page
    added = client.post(
        f"/carline/families/{family.id}/guardians",
        data={
            "name": "Ana Ruiz",
            "email": "Ana@Example.net",
            "mobile": "+1 555 010 0199",
            "language": "es",
            "relationship": "Mother",
            "may_pick_up": "1",
            "note": "",
        },
    )
    assert added.status_code == 302
    guardian = db.session.scalar(select(Guardian))
    assert (guardian.email, guardian.language, guardian.may_pick_up) == (
        "ana@example.net",
        "es",
        True,
    )
    assert guardian.school_id == school.id and guardian.family_id == family.id
    page = text(client.get(f"/carline/families/{family.id}"))
    assert "Ana Ruiz" in page and "may pick up" in page
    # a bad address: a clear 400 with the form kept, nothing written
    bad = client.post(
        f"/carline/families/{family.id}/guardians",
        data={"name": "Luis Ruiz", "email": "luis@", "language": "en"},
    )
    assert bad.status_code == 400 and "valid email address" in text(bad)
    assert 'value="Luis Ruiz"' in text(bad) and count(db) == 1
    # the same address twice in one family: 409
    twice = client.post(
        f"/carline/families/{family.id}/guardians",
        data={"name": "Luis Ruiz", "email": "ana@example.net", "language": "en"},
    )
    assert twice.status_code == 409 and count(db) == 1
    edited = client.post(
        f"/carline/families/{family.id}/guardians/{guardian.id}",
        data={
            "name": "Ana Ruiz",
            "email": "ana@example.net",
            "language": "es",
            "note": "Works late",
        },
    )
    assert edited.status_code == 302
    db.session.refresh(guardian)
    assert guardian.may_pick_up is False and guardian.note == "Works late"
    removed = client.post(f"/carline/families/{family.id}/guardians/{guardian.id}/remove")
    assert removed.status_code == 302 and count(db) == 0
    actions = db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert [a for a in actions if "guardian" in a] == [
        "carline.guardian_add",
        "carline.guardian_update",
        "carline.guardian_remove",
    ]
    details = db.session.scalars(select(AuditEvent.detail)).all()
    assert "ana@example.net" not in str(details) and "555" not in str(details)


def test_another_schools_family_and_guardian_are_not_found(
    db, client, login, school, make_school, make_user, make_family
):
    other = make_school()
    family = make_family(other, 5)
    guardian = add_guardian(other, SYSTEM, family, clean_fields(name="Zed"))
    db.session.commit()
    login(make_user(school, "office"))
    assert (
        client.post(f"/carline/families/{family.id}/guardians", data={"name": "X"}).status_code
        == 404
    )
    url = f"/carline/families/{family.id}/guardians/{guardian.id}/remove"
    assert client.post(url).status_code == 404 and count(db) == 1


def test_the_pickup_list_has_adults_then_guardians_and_the_alerts(db, school, make_family):
    family = make_family(school, 30)
    family.pickup_adults = "Grandma Rose"
    add_guardian(school, SYSTEM, family, clean_fields(name="Ana Ruiz", relationship="Mother"))
    add_guardian(
        school,
        SYSTEM,
        family,
        clean_fields(name="Tom Ruiz", relationship="Father", may_pick_up=False, note="Court order"),
    )
    add_guardian(
        school, SYSTEM, family, clean_fields(name="Uncle Bo", note="Do not release to Bo after 5")
    )
    listed = pickup_list(family)
    assert listed.names == ["Grandma Rose", "Ana Ruiz", "Uncle Bo"]
    assert [p.name for p in listed.may_not] == ["Tom Ruiz"]
    assert [p.name for p in listed.alerts] == ["Uncle Bo", "Tom Ruiz"]


def test_the_curb_answer_and_the_family_page_show_guardians_and_do_not_release(
    db,
    client,
    login,
    school,
    make_user,
    office_user,
    curb_setup,  # noqa: F811
):
    family = curb_setup[12]
    family.pickup_adults = "Maria Lopez"
    add_guardian(school, SYSTEM, family, clean_fields(name="Rosa Lopez", relationship="Aunt"))
    add_guardian(
        school,
        SYSTEM,
        family,
        clean_fields(name="Jack Lopez", may_pick_up=False, note="Restraining order"),
    )
    db.session.commit()
    login(make_user(school, "staff"))
    answer = text(client.post("/carline/curb/entries", data={"entry": "12"}, headers=HX))
    assert "May pick up:" in answer and "Maria Lopez · Rosa Lopez" in answer and "(Aunt)" in answer
    assert 'class="pickup-alert" role="alert"' in answer
    assert "Do not release to Jack Lopez</strong>: Restraining order" in answer
    assert answer.index("Do not release") < answer.index("May pick up:")
    login(office_user)
    page = text(client.get(f"/carline/families/{family.id}"))
    assert "Do not release to Jack Lopez" in page and "Rosa Lopez" in page


def test_services_refuse_a_second_guardian_with_the_same_address(db, school, make_family):
    family = make_family(school, 31)
    first = add_guardian(school, SYSTEM, family, clean_fields(name="A", email="a@example.net"))
    with pytest.raises(Conflict):
        add_guardian(school, SYSTEM, family, clean_fields(name="B", email="a@example.net"))
    second = add_guardian(school, SYSTEM, family, clean_fields(name="B", email="b@example.net"))
    with pytest.raises(Conflict):
        update_guardian(school, SYSTEM, second, clean_fields(name="B", email="a@example.net"))
    assert first.id != second.id


# ------------------------------------------------------------------ guardians.csv

FAMILIES = "tag_number,student_numbers\n101,1001\n102,1002\n"
STUDENTS = "student_number,first_name,last_name\n1001,Ava,Nguyen\n1002,Liam,Johnson\n"
GUARDIANS = (
    "tag_number,name,email,mobile,language,relationship,may_pick_up,note\n"
    "101,Thanh Nguyen,thanh@example.net,+1 555 010 0101,en,Mother,yes,\n"
    "101,Carl Nguyen,,,es,Father,no,Do not release to Carl\n"
    "102,Sara Johnson,sara@example.net,,,Grandmother,,\n"
)


def run_import(db, school, **files):
    plan = roster.plan_import(school, bundle(**files), today=TODAY)
    assert plan.ok, plan.errors
    roster.apply_import(plan, source="test")
    db.session.commit()
    return plan


def test_guardians_csv_imports_and_a_reimport_updates_never_duplicates(db, school):
    plan = run_import(db, school, students=STUDENTS, families=FAMILIES, guardians=GUARDIANS)
    # "removed" is counted for guardians since a OneRoster delta can remove one; a
    # guardians.csv never does (guardians missing from it are left alone).
    assert plan.counts()["guardians"] == {"created": 3, "changed": 0, "removed": 0}
    guardians = {g.name: g for g in db.session.scalars(select(Guardian))}
    assert guardians["Carl Nguyen"].may_pick_up is False
    assert guardians["Carl Nguyen"].language == "es" and guardians["Carl Nguyen"].email is None
    assert guardians["Sara Johnson"].language == "en" and guardians["Sara Johnson"].may_pick_up
    assert {g.school_id for g in guardians.values()} == {school.id}
    again = run_import(db, school, guardians=GUARDIANS)
    assert again.counts()["guardians"] == {"created": 0, "changed": 0, "removed": 0}
    assert count(db) == 3
    changed = GUARDIANS.replace("+1 555 010 0101,en,Mother", "+1 555 010 0111,es,Mother")
    changed = changed.replace(
        "Carl Nguyen,,,es,Father,no", "carl nguyen,carl@example.net,,es,Father,no"
    )
    third = run_import(db, school, guardians=changed)
    assert third.counts()["guardians"] == {"created": 0, "changed": 2, "removed": 0}
    assert count(db) == 3
    carl = db.session.scalar(select(Guardian).where(Guardian.name == "carl nguyen"))
    assert carl.email == "carl@example.net"
    # a file without the note column keeps the stored notes
    slim = "tag_number,name,email\n101,Carl Nguyen,carl@example.net\n"
    run_import(db, school, guardians=slim)
    db.session.refresh(carl)
    assert carl.note == "Do not release to Carl" and carl.name == "Carl Nguyen"


def test_guardians_csv_row_errors_write_nothing(db, school):
    run_import(db, school, students=STUDENTS, families=FAMILIES)
    bad = (
        "tag_number,name,email,may_pick_up,language\n"
        "999,Nobody,,yes,en\n"
        "101,,x@example.net,yes,en\n"
        "101,Bad Mail,not-mail,yes,en\n"
        "101,Maybe,,perhaps,en\n"
        "101,French,,yes,fr\n"
        "101,Twice,t@example.net,yes,en\n"
        "101,Twice again,t@example.net,yes,en\n"
    )
    plan = roster.plan_import(school, bundle(guardians=bad), today=TODAY)
    found = {(e.row, e.column) for e in plan.errors}
    assert found == {
        (2, "tag_number"),
        (3, "name"),
        (4, "email"),
        (5, "may_pick_up"),
        (6, "language"),
        (8, "name"),
    }, plan.errors
    with pytest.raises(InvalidInput):
        roster.apply_import(plan, source="test")
    assert count(db) == 0


def test_the_sample_set_has_guardians(db, school):
    plan = roster.plan_import(school, roster.read_path(roster.SAMPLES_DIR / "csv"), today=TODAY)
    assert plan.ok, plan.errors
    roster.apply_import(plan, source="test")
    db.session.commit()
    carlos = db.session.scalar(select(Guardian).where(Guardian.name == "Carlos Martinez"))
    assert carlos.may_pick_up is False and carlos.note.startswith("Do not release")
    assert count(db) == 5


def test_the_reunification_gates_get_the_guardians_too(db, school, make_family, make_student):
    from carline.pickup import students_of_adult, who_may_take

    kid = make_student(school, "Lia", "Park")
    family = make_family(school, 32, kid)
    family.pickup_adults = "Grandpa Park"
    add_guardian(school, SYSTEM, family, clean_fields(name="Mina Park", relationship="Mother"))
    add_guardian(
        school, SYSTEM, family, clean_fields(name="Joon Park", may_pick_up=False, note="Court")
    )
    db.session.commit()
    listed = who_may_take(kid)
    assert [(a.name, a.source) for a in listed.adults] == [
        ("Grandpa Park", "Authorized adult, tag 32"),
        ("Mina Park", "Guardian (Mother), tag 32"),
    ]
    assert listed.notes == ["Tag 32: do not release to Joon Park: Court"]
    assert students_of_adult(school, "mina") == [kid.id]
    assert students_of_adult(school, "joon") == []

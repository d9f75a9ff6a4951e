"""The office's plan pages in the staff member's language, times as the school reads them
("2:00 PM", never "14:00") and counts said right."""

from datetime import time as clock

import pytest

from carline.settings import save_settings
from shared.audit import Actor
from shared.models import Student


@pytest.fixture
def kid(db, school):
    student = Student(
        school_id=school.id, student_number="S1", first_name="Wanda", last_name="Plan", grade="4"
    )
    db.session.add(student)
    db.session.commit()
    return student


def text(response) -> str:
    return response.get_data(as_text=True)


def cutoff_at_2pm(db, school, user):
    save_settings(
        school, Actor(user=user), lanes=2, spots_per_lane=5, cutoff=clock(14), walker_doors={}
    )
    db.session.commit()


def test_a_spanish_office_reads_the_plan_page_in_spanish(
    db, client, login, school, office_user, kid
):
    cutoff_at_2pm(db, school, office_user)
    office_user.language = "es"
    db.session.commit()
    login(office_user)
    page = text(client.get(f"/carline/plans/students/{kid.id}"))
    assert '<html lang="es">' in page and "Plan semanal" in page and "Cambio para un día" in page
    assert "lun" in page and "Mon" not in page  # the weekdays in Spanish
    assert "Hasta las 2:00 p.m. se pueden hacer cambios para hoy." in page and "14:00" not in page
    saved = client.post(
        f"/carline/plans/students/{kid.id}/default", data={"weekday": ["0"], "mode": "walker"}
    )
    assert saved.status_code == 302
    assert "Plan semanal guardado." in text(client.get(saved.headers["Location"]))
    refused = client.post(
        f"/carline/plans/students/{kid.id}/default", data={"weekday": ["0"], "mode": "bus"}
    )
    assert refused.status_code == 400 and "Escriba la ruta de autobús" in text(refused)
    marked = client.post(f"/carline/plans/students/{kid.id}/absence", data={"action": "mark"})
    assert "no se llamará al estudiante" in text(client.get(marked.headers["Location"]))


def test_the_cutoff_reads_12_hours_in_english(db, client, login, school, office_user, kid):
    cutoff_at_2pm(db, school, office_user)
    login(office_user)
    page = text(client.get(f"/carline/plans/students/{kid.id}"))
    assert "Changes for today close at 2:00 PM." in page and "14:00" not in page
    today = text(client.get("/carline/today"))
    assert "Daily changes close at 2:00 PM" in today and "14:00" not in today


def test_students_without_a_plan_are_counted_right(db, client, login, school, office_user, kid):
    login(office_user)
    one = text(client.get("/carline/today"))
    assert "No dismissal plan today (1)" in one and "This student is on no family" in one
    db.session.add(
        Student(school_id=school.id, student_number="S2", first_name="Otto", last_name="Plan")
    )
    db.session.commit()
    two = text(client.get("/carline/today"))
    assert "No dismissal plan today (2)" in two and "These students are on no family" in two

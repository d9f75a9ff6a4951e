"""The curb phone and the dismissal screens in Spanish, with plurals said right."""

import re
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from flask_babel import force_locale
from sqlalchemy import select

from carline.contributions import away_today
from carline.models import Absence, DailyChange, QueueEntry
from carline.pickup import who_may_take
from carline.plans import set_weekday_defaults
from shared.audit import SYSTEM
from shared.models import User
from shared.schedule import school_today
from tests.carline.test_views import HX, curb_setup, start, text  # noqa: F401 (fixture)


def spanish(db, user: User) -> User:
    user.language = "es"
    db.session.commit()
    return user


def test_the_curb_answers_in_the_staff_members_language(
    db,
    client,
    login,
    school,
    make_user,
    curb_setup,  # noqa: F811
):
    login(spanish(db, make_user(school, "staff")))
    page = text(client.get("/carline/curb"))
    assert '<html lang="es">' in page and "Número de tarjeta" in page and "Teclado" in page
    refused = client.post("/carline/curb/entries", data={"entry": "999"}, headers=HX)
    assert refused.status_code == 404 and "La tarjeta 999 no es de esta escuela." in text(refused)


def _local(school, hour: int, minute: int) -> datetime:
    """Today at hour:minute on the school's clock, in UTC as the database keeps it."""
    zone = ZoneInfo(school.timezone)
    return datetime.combine(school_today(school), time(hour, minute), zone).astimezone(UTC)


def test_the_office_runs_dismissal_in_spanish(db, client, login, school, office_user, make_student):
    set_weekday_defaults(
        school, SYSTEM, make_student(school, "Rider"), [school_today(school).weekday()], "bus", "7"
    )
    db.session.commit()
    login(spanish(db, office_user))
    page = text(client.get("/carline/dismissal"))
    assert "Iniciar la salida de hoy" in page and "Lugares de carga por carril" in page
    refused = text(client.post("/carline/dismissal/start", data={"lanes": "x"}))
    assert "Carriles:" in refused and "Lanes" not in refused
    client.post("/carline/dismissal/start", data={"lanes": "1", "spots_per_lane": "1"})
    page = text(client.get("/carline/dismissal"))
    assert "Salida iniciada: 1 lugar de carga." in page
    assert "Autobuses" in page and "Llamados ahora" not in page and "Terminar la salida" in page
    assert "¿Llamar al autobús 7? Se llama a su 1 pasajero que aún no ha sido llamado." in page
    client.post("/carline/dismissal/bus", data={"route": "7"})
    page = text(client.get("/carline/dismissal"))
    assert "Autobús 7 llamado: 1 estudiante. Puede deshacerlo abajo durante un minuto." in page
    assert "Recién llamados" in page and "Autobús 7: 1 estudiante a las" in page
    client.post("/carline/dismissal/end")
    page = text(client.get("/carline/dismissal"))
    assert "Salida terminada. 1 estudiante sigue en la escuela." in page
    assert re.search(r"La salida terminó a las \d{1,2}:\d\d\s[ap]\.\s?m\.</h2>", page)
    assert "<strong>1</strong> estudiante no fue recogido ni despachado." in page


def test_the_office_messages_count_students_and_spots_right(
    db, client, login, school, office_user, make_student
):
    day = [school_today(school).weekday()]
    for name in ("Ann", "Ben"):
        set_weekday_defaults(school, SYSTEM, make_student(school, name), day, "walker")
    db.session.commit()
    login(office_user)
    client.post("/carline/dismissal/start", data={"lanes": "1", "spots_per_lane": "1"})
    assert "Dismissal started: 1 loading spot." in text(client.get("/carline/dismissal"))
    client.post("/carline/dismissal/walkers", data={"scope": "all"})
    page = text(client.get("/carline/dismissal"))
    assert "All walkers released: 2 students. Undo below within a minute." in page
    assert "Walkers: 2 students at" in page and "1 lane \u00d7 1 spot" in page
    client.post("/carline/dismissal/end")
    page = text(client.get("/carline/dismissal"))
    assert "Dismissal ended. 2 students are still at school." in page
    assert re.search(r"Dismissal ended at \d{1,2}:\d\d [AP]M</h2>", page)
    assert "<strong>2</strong> students were not picked up or released." in page


def test_the_car_line_screens_show_one_time_format(
    db,
    client,
    login,
    school,
    office_user,
    make_user,
    curb_setup,  # noqa: F811
):
    dismissal = curb_setup["dismissal"]
    dismissal.started_at = _local(school, 15, 5)
    db.session.commit()
    login(office_user)
    status = text(client.get("/carline/dismissal/status"))
    assert "Running since 3:05 PM" in status and "15:05" not in status
    staff = login(make_user(school, "staff"), on=client.application.test_client())
    staff.post("/carline/curb/entries", data={"entry": "12"}, headers=HX)
    curb = text(staff.get("/carline/curb"))
    assert "0 cars loaded so far" in curb and "Tag 12" in curb
    entry = db.session.scalar(select(QueueEntry))
    assert staff.post(f"/carline/curb/cars/{entry.id}/loaded", headers=HX).status_code == 200
    assert "1 car loaded so far" in text(staff.get("/carline/curb"))
    entry.loaded_at = _local(school, 9, 58)
    db.session.commit()
    again = text(staff.post("/carline/curb/entries", data={"entry": "12"}, headers=HX))
    assert "Loaded 9:58 AM" in again and "09:58" not in again


def test_the_classroom_and_curb_list_speak_spanish(
    db,
    client,
    login,
    school,
    make_user,
    curb_setup,  # noqa: F811
):
    login(spanish(db, make_user(school, "staff")))
    client.post("/carline/curb/entries", data={"entry": "12"}, headers=HX)
    answer = text(client.post("/carline/curb/entries", data={"entry": "12"}, headers=HX))
    assert "Tarjeta 12" in answer and "Lugar A1" in answer and "Repetido" in answer
    curb = text(client.get("/carline/curb"))
    assert "En los lugares de carga" in curb and "0 autos cargados hasta ahora" in curb
    assert "Pueden recoger:" in answer or "No hay ningún adulto autorizado" in answer


def test_the_car_line_office_pages_speak_spanish(
    db, client, login, school, make_user, make_family, make_student
):
    make_family(school, 12, make_student(school, "Ann"))
    login(spanish(db, make_user(school, "admin")))
    home = text(client.get("/carline/"))
    assert "Familias con tarjeta" in home and "Dirigir la salida de hoy" in home
    settings = text(client.get("/carline/settings"))
    assert "Configuración de la fila de autos" in settings and "Puertas del este" in settings
    data = {"lanes": "2", "spots_per_lane": "5", "cutoff": "", "walker_doors": "East: K\nEast: 1"}
    refused = text(client.post("/carline/settings", data=data))
    assert "Puertas de salida a pie: &#34;East&#34; aparece dos veces." in refused
    data["walker_doors"] = "East: K"
    client.post("/carline/settings", data=data)
    saved = text(client.get("/carline/settings"))
    assert "Se guardó la configuración de la fila de autos." in saved
    printing = text(client.get("/carline/tags/print"))
    assert "1 familia todavía no tiene tarjeta." in printing and "Emitir las tarjetas" in printing
    blocked = text(client.get("/carline/tags/blocked"))
    assert "Números de tarjeta bloqueados" in blocked
    assert "No hay ningún número bloqueado." in blocked


def test_the_hang_tag_page_counts_tags_and_families_right(
    db, client, login, school, office_user, make_family, make_student
):
    one = make_family(school, 12, make_student(school, "Ann"))
    make_family(school, 13, make_student(school, "Ben"))
    login(office_user)
    page = text(client.get("/carline/tags/print"))
    assert "0 tags, four per letter page. 2 families have no tag yet." in page
    client.post("/carline/tags/issue", data={"family": [one.id]})
    page = text(client.get("/carline/tags/print"))
    assert "1 tag, four per letter page. 1 family has no tag yet." in page


def test_who_may_take_a_student_is_said_in_the_readers_language(
    app, db, school, make_family, make_student
):
    ann = make_student(school, "Ann")
    family = make_family(school, 7, ann)
    family.pickup_adults = "Rosa Diaz"
    family.release_note = "Custody papers in the office"
    db.session.commit()
    with app.test_request_context(), force_locale("es"):
        found = who_may_take(ann)
    assert [(a.name, a.source) for a in found.adults] == [
        ("Rosa Diaz", "Adulto autorizado, tarjeta 7")
    ]
    assert found.notes == ["Tarjeta 7: Custody papers in the office"]


def test_why_a_student_is_away_in_an_emergency_reads_in_the_readers_language(
    app, db, school, make_student
):
    ann, ben = make_student(school, "Ann"), make_student(school, "Ben")
    day = school_today(school)
    db.session.add(Absence(student_id=ann.id, day=day))
    db.session.add(DailyChange(student_id=ben.id, day=day, mode="car", early_pickup=time(9)))
    db.session.commit()
    at = _local(school, 15, 0)
    assert away_today(school, at) == {ann.id: "Absent today", ben.id: "Early pickup at 9:00 AM"}
    with app.test_request_context(), force_locale("es_US"):  # as a US school's request
        away = away_today(school, at)
    assert away[ann.id] == "Ausente hoy"
    assert re.fullmatch(r"Recogida temprana a las 9:00\sa\.\s?m\.", away[ben.id])


def test_the_car_line_records_of_the_data_inventory_read_in_spanish(
    db, client, login, school, make_user
):
    admin = make_user(school, "admin")
    admin.language = "es"
    db.session.commit()
    login(admin)
    inventory = client.get("/privacy/inventory").get_data(as_text=True)
    assert "Estudiantes llamados" in inventory and "Cambios de plan del día" in inventory
    assert "Periodo de conservación del historial de salidas" in inventory
    assert "Called students" not in inventory and "Hang tags" not in inventory
    privacy = client.get("/admin/privacy").get_data(as_text=True)
    assert "Historial de salidas (fila de autos, cambios de plan, ausencias)" in privacy

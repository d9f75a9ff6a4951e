"""The family page, its sign-in and its mails in the guardian's language, times as the
school reads them ("2:00 PM", never "14:00")."""

from datetime import datetime, time, timedelta

from carline.curb import curb_entry
from carline.dismissal import start_dismissal
from carline.settings import save_settings
from shared.audit import SYSTEM, Actor
from shared.i18n import LANGUAGE_COOKIE
from shared.schedule import school_now
from tests.carline.test_family_page import (  # noqa: F401 (fixtures)
    CHICAGO,
    home,
    mail_on,
    reads_english,
    sign_in,
)
from tests.shared.test_account_links import smtp  # noqa: F401 (fixture)


def text(response) -> str:
    return response.get_data(as_text=True)


def past_cutoff(school) -> bool:
    """Whether the fixture's 2:00 PM cutoff has passed at the school now."""
    return school_now(school).time() >= time(14)


def test_a_spanish_guardian_reads_the_family_page_in_spanish(app, db, school, home):  # noqa: F811
    phone = sign_in(app, db, home["guardian"])  # Rosa reads Spanish
    page = text(phone.get("/carline/family"))
    assert '<html lang="es">' in page
    assert "Página familiar" in page and "Tarjeta 40" in page
    assert "Cambiar cómo se va Ana a casa" in page and "Avisar que Ben faltará" in page
    # The 2:00 PM cutoff, as open or closed as the clock makes it now.
    if past_cutoff(school):
        assert "Desde las 2:00 p.m. ya no se aceptan cambios para hoy." in page
    else:
        assert "Hasta las 2:00 p.m. se pueden hacer cambios para hoy." in page
    assert "La salida todavía no empieza." in page
    assert "Change how" not in page and "14:00" not in page


def test_an_english_guardian_reads_english_with_12_hour_times(app, db, school, home):  # noqa: F811
    phone = sign_in(app, db, reads_english(db, home["guardian"]))
    page = text(phone.get("/carline/family"))
    assert '<html lang="en">' in page and "Change how Ana goes home" in page
    if past_cutoff(school):
        assert "Changes for today closed at 2:00 PM." in page and "14:00" not in page
    else:
        assert "Changes for today close at 2:00 PM." in page and "14:00" not in page


def test_the_switch_on_the_phone_wins_over_the_guardians_language(app, db, home):  # noqa: F811
    phone = sign_in(app, db, home["guardian"])
    phone.set_cookie(LANGUAGE_COOKIE, "en", domain="passline.test")
    assert "Change how Ana goes home" in text(phone.get("/carline/family"))


def test_a_spanish_guardians_change_is_said_in_spanish(app, db, school, home):  # noqa: F811
    save_settings(school, SYSTEM, lanes=1, spots_per_lane=2, cutoff=None, walker_doors={})
    db.session.commit()
    phone = sign_in(app, db, home["guardian"])
    url = f"/carline/family/students/{home['ana'].id}/change"
    tomorrow = datetime.now(CHICAGO).date() + timedelta(days=1)
    saved = phone.post(url, data={"day": tomorrow.isoformat(), "mode": "walker"})
    assert saved.status_code == 302
    page = text(phone.get("/carline/family"))
    assert "Guardado: Ana, " in page and "Caminando" in page
    past = (datetime.now(CHICAGO).date() - timedelta(days=1)).isoformat()
    refused = phone.post(url, data={"day": past, "mode": "walker"})
    assert refused.status_code == 400 and "Ese día ya pasó" in text(refused)
    boat = phone.post(url, data={"day": tomorrow.isoformat(), "mode": "boat"})
    assert "la escuela ofrece estas formas de irse a casa: auto, autobús" in text(boat)


def test_dismissals_start_reads_12_hours_and_spanish(app, db, school, home, office_user):  # noqa: F811
    start_dismissal(school, Actor(user=office_user), 1, 1, datetime.now(CHICAGO).date())
    db.session.commit()
    english = text(sign_in(app, db, reads_english(db, home["guardian"])).get("/carline/family"))
    assert "Dismissal has started" in english and ("AM)" in english or "PM)" in english)
    home["guardian"].language = "es"
    db.session.commit()
    page = text(sign_in(app, db, home["guardian"]).get("/carline/family"))
    assert "La salida ya empezó" in page and ("a.m.)" in page or "p.m.)" in page)
    assert "Ya llegué" in page
    curb_entry(school, tag_number=40, actor=SYSTEM)  # the car is in line: both are called
    db.session.commit()
    page = text(sign_in(app, db, home["guardian"]).get("/carline/family"))
    assert "Ana: ya se le llamó" in page and "Ben: ya se le llamó" in page


def test_the_sign_in_pages_follow_the_browser(app, db, home):  # noqa: F811
    client = app.test_client()
    page = text(client.get("/family/sign-in", headers={"Accept-Language": "es"}))
    assert '<html lang="es">' in page and "Página familiar" in page
    assert "Esta escuela no envía correos para entrar" in page and "does not send" not in page
    gone = client.get("/family/link/" + "x" * 43, headers={"Accept-Language": "es"})
    assert gone.status_code == 404 and "Este enlace no funciona" in text(gone)
    assert "Este enlace no es válido" in text(gone) and "Pedir un enlace nuevo" in text(gone)


def test_a_too_fast_request_says_its_minutes_in_spanish(app, db, home, mail_on):  # noqa: F811
    app.config["FAMILY_LINKS_PER_EMAIL"], saved = 1, app.config["FAMILY_LINKS_PER_EMAIL"]
    try:
        client = app.test_client()
        es = {"Accept-Language": "es"}
        client.post("/family/sign-in", data={"email": "x@example.net"}, headers=es)
        refused = client.post("/family/sign-in", data={"email": "x@example.net"}, headers=es)
        assert refused.status_code == 429
        assert "Demasiadas solicitudes." in text(refused)
        assert "minutos." in text(refused) or " 1 minuto." in text(refused)
    finally:
        app.config["FAMILY_LINKS_PER_EMAIL"] = saved


def test_the_link_mail_is_in_the_guardians_language(app, db, home, mail_on):  # noqa: F811
    # an English browser, a Spanish guardian: the mail is in the guardian's Spanish
    app.test_client().post(
        "/family/sign-in", data={"email": "rosa@example.net"}, headers={"Accept-Language": "en"}
    )
    (link,) = mail_on.wait_for(1)
    assert "Entre a la página familiar" in link["Subject"]
    assert "Hola Rosa Ruiz:" in link.get_content() and "15 minutos" in link.get_content()


def test_the_confirmations_are_in_the_guardians_language(app, db, school, home, mail_on):  # noqa: F811
    save_settings(
        school, SYSTEM, lanes=1, spots_per_lane=2, cutoff=time(14), walker_doors={},
        office_phone="555-0100",
    )  # fmt: skip
    db.session.commit()
    day = datetime.now(CHICAGO).date() + timedelta(days=1)
    phone = sign_in(app, db, home["guardian"])
    phone.set_cookie(LANGUAGE_COOKIE, "en", domain="passline.test")  # her page in English
    phone.post(
        f"/carline/family/students/{home['ana'].id}/change",
        data={"day": day.isoformat(), "mode": "walker"},
    )
    (confirmation,) = mail_on.wait_for(1)
    body = confirmation.get_content()
    assert "su cambio está guardado" in confirmation["Subject"]
    assert "Ana se va a casa: Caminando" in body and "(555-0100)" in body
    assert day.isoformat() not in body
    reads_english(db, home["guardian"])
    phone.post(f"/carline/family/students/{home['ben'].id}/absence", data={"day": day.isoformat()})
    absence = mail_on.wait_for(2)[-1]
    assert "your change is saved" in absence["Subject"]
    assert "Ben is absent" in absence.get_content() and day.strftime("%b") in absence.get_content()

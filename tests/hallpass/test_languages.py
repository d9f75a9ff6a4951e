"""The student screens in Spanish: the kiosk's per-turn switch, the room QR page on a
student's phone (its browser's language) and the pass check."""

import re

from sqlalchemy import select

from shared.i18n import LANGUAGE_COOKIE
from shared.models import Device
from tests.hallpass.test_student import kiosk, room  # noqa: F401 (fixtures)


def html_lang(response) -> str:
    return re.search(r'<html lang="([^"]+)"', response.get_data(as_text=True)).group(1)


def test_a_kiosk_switch_lasts_one_student_turn(db, school, room, kiosk):  # noqa: F811
    assert html_lang(kiosk.get("/hallpass/kiosk")) == "en"
    response = kiosk.post("/language", data={"lang": "es", "next": "/hallpass/kiosk"})
    assert "Max-Age=300" in response.headers["Set-Cookie"]
    page = kiosk.get("/hallpass/kiosk")
    assert html_lang(page) == "es"
    assert "Escanea tu credencial de estudiante" in page.get_data(as_text=True)
    chosen = kiosk.post("/hallpass/kiosk/scan", data={"number": "44100"})
    text = chosen.get_data(as_text=True)
    assert "Hola, Kid0 Z., ¿adónde vas?" in text and "Ir ahora" in text
    assert 'data-return-url="/hallpass/kiosk?turn=over"' in text
    # The turn is over: the next student gets the kiosk's own language.
    over = kiosk.get("/hallpass/kiosk?turn=over")
    assert over.status_code == 302 and over.headers["Location"] == "/hallpass/kiosk"
    assert kiosk.get_cookie(LANGUAGE_COOKIE, domain="passline.test") is None
    assert html_lang(kiosk.get("/hallpass/kiosk")) == "en"


def test_a_kiosk_has_a_language_of_its_own(db, school, room, kiosk):  # noqa: F811
    device = db.session.scalar(select(Device).where(Device.kind == "kiosk"))
    device.language = "es"
    db.session.commit()
    page = kiosk.get("/hallpass/kiosk", headers={"Accept-Language": "en"})
    assert html_lang(page) == "es" and "Siguiente" in page.get_data(as_text=True)


def test_a_refusal_reaches_the_student_in_spanish(db, school, room, kiosk):  # noqa: F811
    response = kiosk.post("/hallpass/kiosk/scan", data={"number": "999999"})
    assert response.status_code == 404
    kiosk.post("/language", data={"lang": "es"})
    response = kiosk.post("/hallpass/kiosk/scan", data={"number": "999999"})
    assert response.status_code == 404
    assert "Ese número de estudiante no se conoce aquí" in response.get_data(as_text=True)


def test_anonymous_error_pages_follow_the_browser(client):
    response = client.get("/hallpass/p/not-a-pass-token", headers={"Accept-Language": "es"})
    text = response.get_data(as_text=True)
    assert html_lang(response) == "es"
    assert "Volver al inicio" in text or "No es un pase válido" in text


def test_a_bad_room_code_is_explained_to_a_spanish_phone(client):
    page = client.get("/hallpass/r/not-a-real-code", headers={"Accept-Language": "es"})
    assert page.status_code == 404
    assert "Este no es un código de salón válido" in page.get_data(as_text=True)


def test_a_requests_reason_is_shown_in_the_teachers_language(app):
    """Stored in English when the student asks; read later by a Spanish teacher in Spanish."""
    from flask_babel import force_locale

    from hallpass.models import DESTINATION_FULL, PassRequest

    waiting = PassRequest(reason=DESTINATION_FULL)
    with app.test_request_context("/"), force_locale("es_US"):
        assert waiting.reason_label == "El destino estaba lleno."
    with app.test_request_context("/"), force_locale("en_US"):
        assert waiting.reason_label == "The destination was full."
    assert PassRequest(reason="Feeling sick").reason_label == "Feeling sick"

"""Who gets which language (shared/i18n.py), one format per kind of value
(shared/formats.py), and the catalogs: complete, compiled, and shipped."""

import re
from datetime import UTC, datetime, time, timedelta

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from flask import g

from shared import formats
from shared.i18n import LANGUAGE_COOKIE, TRANSLATIONS_DIR, languages
from shared.models import AuditEvent, User
from tests.helpers import audit_actions


def html_lang(response) -> str:
    found = re.search(r'<html lang="([^"]+)"', response.get_data(as_text=True))
    assert found, response.get_data(as_text=True)[:300]
    return found.group(1)


def test_spanish_is_offered():
    assert languages() == ("en", "es")


def test_anonymous_pages_follow_the_browser(client):
    assert html_lang(client.get("/login")) == "en"
    spanish = client.get("/login", headers={"Accept-Language": "es-MX,es;q=0.9,en;q=0.5"})
    assert html_lang(spanish) == "es"
    assert "Cerrar sesión" not in spanish.get_data(as_text=True)  # nobody is signed in
    assert html_lang(client.get("/login", headers={"Accept-Language": "fr, de"})) == "en"


def test_the_switch_names_each_language_in_its_own_name(client):
    page = client.get("/login").get_data(as_text=True)
    assert re.search(r'<button type="submit" name="lang" value="es" lang="es"[^>]*>Español<', page)
    spanish = client.get("/login", headers={"Accept-Language": "es"}).get_data(as_text=True)
    assert re.search(r'name="lang" value="en" lang="en"[^>]*>English<', spanish)
    assert "<script>" not in page  # a form, no inline script


def test_the_switch_sets_a_cookie_that_wins_over_the_browser(client):
    response = client.post("/language", data={"lang": "es", "next": "/login?x=1"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/login?x=1"
    cookie = client.get_cookie(LANGUAGE_COOKIE, domain="passline.test")
    assert cookie.value == "es" and cookie.http_only
    assert html_lang(client.get("/login", headers={"Accept-Language": "en"})) == "es"
    client.post("/language", data={"lang": "en"})
    assert html_lang(client.get("/login", headers={"Accept-Language": "es"})) == "en"


def test_the_switch_refuses_other_sites_and_unknown_languages(client):
    response = client.post("/language", data={"lang": "xx", "next": "https://evil.example/"})
    assert response.status_code == 303 and response.headers["Location"] == "/"
    assert client.get_cookie(LANGUAGE_COOKIE, domain="passline.test") is None
    response = client.post("/language", data={"lang": "es", "next": "//evil.example/x"})
    assert response.headers["Location"] == "/"


def test_staff_get_the_school_language_then_their_own(client, db, school, make_user, login):
    teacher = make_user(school, "teacher")
    login(teacher)
    page = client.get("/account/password")
    assert html_lang(page) == "en"
    # Staff set theirs on the account page; the top bar's switch is for kiosks and visitors.
    assert 'name="lang"' in page.get_data(as_text=True)
    assert "language-switch" not in client.get("/dashboard").get_data(as_text=True)
    school.language = "es"
    db.session.commit()
    page = client.get("/account/password", headers={"Accept-Language": "en"})
    assert html_lang(page) == "es" and "Cerrar sesión" in page.get_data(as_text=True)
    # Their own choice, from the switch, is saved on the account and audited.
    client.post("/language", data={"lang": "en", "next": "/account/password"})
    db.session.expire_all()
    assert db.session.get(User, teacher.id).language == "en"
    assert "account.language" in audit_actions(db)
    # Another browser: the account still says so.
    client.delete_cookie(LANGUAGE_COOKIE, domain="passline.test")
    assert html_lang(client.get("/account/password")) == "en"


def test_a_staff_account_language_beats_a_cookie_left_on_the_browser(
    client, db, school, make_user, login
):
    teacher = make_user(school, "teacher")
    teacher.language = "es"
    db.session.commit()
    client.set_cookie(LANGUAGE_COOKIE, "en", domain="passline.test")
    login(teacher)
    assert html_lang(client.get("/account/password")) == "es"


def test_the_school_language_is_a_setting(client, db, school, make_user, login):
    login(make_user(school, "admin"))
    response = client.post(
        "/admin/school",
        data={"name": school.name, "timezone": "America/Chicago", "language": "es"},
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert school.language == "es"
    event = db.session.query(AuditEvent).filter_by(action="school.update").one()
    assert event.detail["after"]["language"] == "es"
    bad = client.post(
        "/admin/school", data={"name": school.name, "timezone": "America/Chicago", "language": "x"}
    )
    assert bad.status_code == 400
    # The school speaks Spanish now, and so does its admin (who chose no language).
    assert "Elija el idioma de la escuela de la lista." in bad.get_data(as_text=True)


# Formats -------------------------------------------------------------------------------

MOMENT = datetime(2026, 12, 3, 16, 3, tzinfo=UTC)  # 10:03 AM in Chicago


@pytest.fixture
def in_request(app, school):
    def enter(language: str):
        context = app.test_request_context("/", headers={"Accept-Language": language})
        context.push()
        g.principal = None
        g.school_timezone = school.timezone
        return context

    contexts = []
    yield lambda language: contexts.append(enter(language))
    for context in reversed(contexts):
        context.pop()


def test_us_english_times_are_twelve_hour(in_request):
    in_request("en")
    assert formats.format_time(MOMENT) == "10:03 AM"
    assert formats.format_time(time(15, 5)) == "3:05 PM"
    assert formats.format_date(MOMENT) == "Thu, Dec 3, 2026"
    assert formats.format_datetime(MOMENT) == "Thu, Dec 3, 2026, 10:03 AM"
    assert formats.format_duration(timedelta(minutes=7)) == "7 min"
    assert formats.format_duration(95) == "1 hr 35 min"
    assert formats.format_number(1234) == "1,234"


def test_spanish_times_follow_the_locale(in_request):
    in_request("es")
    assert formats.format_time(MOMENT) == "10:03 a.m."
    assert formats.format_date(MOMENT) == "jue, 3 de dic de 2026"
    assert formats.format_duration(7) == "7 min"


def test_the_legacy_filter_names_the_kind_of_value(in_request):
    in_request("en")
    assert formats.format_legacy(MOMENT, "%H:%M") == "10:03 AM"
    assert formats.format_legacy(MOMENT, "%Y-%m-%d") == "Thu, Dec 3, 2026"


# Catalogs ------------------------------------------------------------------------------


def catalog(language: str):
    with open(f"{TRANSLATIONS_DIR}/{language}/LC_MESSAGES/messages.po", "rb") as po:
        return read_po(po)


@pytest.mark.parametrize("language", [code for code in languages() if code != "en"])
def test_every_catalog_is_complete_and_has_nothing_fuzzy(language):
    found = catalog(language)
    empty = [m.id for m in found if m.id and not all(m.string if m.pluralizable else [m.string])]
    fuzzy = [m.id for m in found if m.id and m.fuzzy]
    assert not empty, f"untranslated in {language}: {empty}"
    assert not fuzzy, f"fuzzy in {language}: {fuzzy}"


def _key(value):
    return value if isinstance(value, str) else tuple(value)


@pytest.mark.parametrize("language", [code for code in languages() if code != "en"])
def test_the_compiled_catalog_is_the_catalog(language):
    """The committed .mo is what `pybabel compile` makes of the .po (none forgotten)."""
    with open(f"{TRANSLATIONS_DIR}/{language}/LC_MESSAGES/messages.mo", "rb") as mo:
        compiled = {_key(m.id): _key(m.string) for m in read_mo(mo) if m.id}
    written = {_key(m.id): _key(m.string) for m in catalog(language) if m.id}
    assert compiled == written, "run: pybabel compile -d shared/translations"


# The scripts' messages --------------------------------------------------------------------


def page_messages(response) -> dict:
    import json
    from html import unescape

    found = re.search(r"data-messages='([^']*)'", response.get_data(as_text=True))
    return json.loads(unescape(found.group(1)))


def test_the_scripts_get_their_messages_from_the_catalog(client):
    english = page_messages(client.get("/login"))
    assert english["scanner.stop"] == "Stop camera"
    spanish = page_messages(client.get("/login", headers={"Accept-Language": "es"}))
    assert spanish["scanner.stop"] == "Detener la cámara"
    assert spanish["curb.tag"] == "Tarjeta {number}" and spanish["tablet.out"] == "Fuera: {where}"


def test_every_message_a_script_asks_for_exists(app):
    """A key a script asks `passlineText` for and nobody registered would show the key."""
    import os

    from shared.i18n import JS_MESSAGES

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    asked = set()
    for package in ("shared", "hallpass", "carline"):
        for folder, _dirs, files in os.walk(os.path.join(root, package, "static")):
            if "vendor" in folder:
                continue
            for name in files:
                if name.endswith(".js"):
                    with open(os.path.join(folder, name), encoding="utf-8") as f:
                        code = re.sub(r"^\s*//.*$", "", f.read(), flags=re.M)
                    asked |= set(re.findall(r'passlineText\(\s*"([\w.]+)"', code))
                    for a, b in re.findall(
                        r'passlineText\([^"()]*\? "([\w.]+)" : "([\w.]+)"', code
                    ):
                        asked |= {a, b}
    assert asked and asked <= set(JS_MESSAGES), sorted(asked - set(JS_MESSAGES))


def test_an_admin_sets_a_devices_language(app, db, client, school, make_user, login):
    from shared.models import Device
    from tests.hallpass.test_views import pair

    admin = make_user(school, "admin")
    display = pair(app, db, school, admin, "display", purpose="dismissal", room_id=None)
    device = db.session.query(Device).one()
    assert html_lang(display.get("/device")) == "en"
    login(admin)
    response = client.post(f"/devices/{device.id}/language", data={"language": "es"})
    assert response.status_code == 302
    assert html_lang(display.get("/device")) == "es"
    assert "device.language" in audit_actions(db)
    refused = client.post(f"/devices/{device.id}/language", data={"language": "klingon"})
    assert refused.status_code == 400
    client.post(f"/devices/{device.id}/language", data={"language": ""})  # the school's again
    db.session.expire_all()
    assert db.session.get(Device, device.id).language is None


@pytest.mark.parametrize(
    ("kind", "path", "switch"),
    [
        ("kiosk", "/hallpass/kiosk", True),
        ("scanner", "/carline/curb", False),
        ("display", "/hallpass/hallway", False),
    ],
)
def test_only_a_kiosk_among_devices_offers_the_language_switch(
    client, db, school, make_room, kind, path, switch
):
    from shared.access import DEVICE_COOKIE, secret_digest
    from shared.models import Device

    room = make_room(school, "101") if kind == "kiosk" else None
    db.session.add(
        Device(
            school_id=school.id,
            kind=kind,
            purpose="hallway" if kind == "display" else None,
            room_id=room.id if room else None,
            label="Screen",
            secret_hash=secret_digest(f"{kind}-secret"),
        )
    )
    db.session.commit()
    client.set_cookie(DEVICE_COOKIE, f"{kind}-secret", domain="passline.test")
    page = client.get(path)
    assert page.status_code == 200
    assert ("language-switch" in page.get_data(as_text=True)) is switch


def test_a_mail_is_written_in_the_readers_regional_locale(app, school, make_user):
    """A Spanish mail reads its times as a Spanish screen does (US Spanish "3:05 p.m.",
    not plain Spanish "15:05")."""
    from flask_babel import force_locale

    from shared.i18n import mail_locale

    person = make_user(school, "teacher")
    person.language = "es"
    assert mail_locale(person, school) == "es_US"
    with app.test_request_context("/"), force_locale(mail_locale(person, school)):
        assert formats.format_time(time(15, 5)) == "3:05 p.m."

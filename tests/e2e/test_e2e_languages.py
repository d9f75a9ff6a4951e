"""The screens a student, a visitor or a new device sees, in a browser set to Spanish
(issue 19): sign-in, pairing, password reset, an error page, the room QR page on a
student's phone through a whole pass, the pass check, and a kiosk whose student taps
"Español" for their turn. Each page says lang="es" and none of a list of English words
is left (names of people and of the school's destinations are data, not interface).
"""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.e2e.helpers import assert_spanish as assert_in_spanish
from tests.e2e.helpers import check_accessibility, pair, read_qr, sign_in, spanish_page

GO_NOW = "Water fountain"  # a destination's name: the school's data, in its own words
#: Interface words of these screens that must not be left in Spanish (whole words, any case).
ENGLISH = (
    "sign in",
    "password",
    "email",
    "forgot",
    "pair this",
    "scan",
    "your",
    "where",
    "next",
    "cancel",
    "back",
    "hall pass",
    "room",
    "valid",
    "time left",
    "welcome",
    "close this page",
    "teacher",
    "tap",
    "the",
    "source",
    "nothing here",
    "demo data",
    "student",
    "minutes",
    "min left",
)


def assert_spanish(page: Page, *data: str) -> None:
    assert_in_spanish(page, ENGLISH, *data)


def test_anonymous_pages_in_spanish(open_page):
    page = spanish_page(open_page)
    page.goto("/login")
    expect(page.get_by_role("heading", name="Iniciar sesión")).to_be_visible()
    assert_spanish(page, "passline", "GNU AGPL")
    check_accessibility(page, "sign-in in Spanish")
    page.get_by_role("link", name="¿Olvidó su contraseña?").click()
    expect(page.get_by_role("heading", name="¿Olvidó su contraseña?")).to_be_visible()
    assert_spanish(page, "passline")
    page.goto("/pair")
    expect(page.get_by_role("heading", name="Vincular este dispositivo")).to_be_visible()
    assert_spanish(page, "passline")
    page.get_by_label("Código de vinculación").fill("ABCD-EFGH")
    page.get_by_role("button", name="Vincular").click()
    expect(page.locator("main")).to_contain_text("Ese código no es válido")
    assert_spanish(page, "passline")
    page.goto("/nothing-at-this-address")
    expect(page.locator("main")).to_contain_text("Aquí no hay nada.")
    assert_spanish(page, "passline")
    # The switch, by keyboard: back to English, remembered on this browser.
    switch = page.get_by_role("button", name="English")
    switch.focus()
    page.keyboard.press("Enter")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.goto("/login")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_a_pass_from_the_room_qr_on_a_spanish_phone(open_page, site):
    teacher = sign_in(open_page("tablet"), "teacher")
    display = open_page("tv")
    pair(teacher, display, "Classroom display (room)", "Room 101 display ES", room=site.room)
    display.get_by_role("link", name="Open the room's pass QR code").click()
    student = site.student()
    phone = spanish_page(open_page)
    phone.goto(read_qr(display, "#room-qr"))
    expect(
        phone.get_by_role("heading", name=f"Pase de pasillo · Salón {site.room}")
    ).to_be_visible()
    names = [t.strip() for t in phone.locator(".student-tile").all_inner_texts()]
    data = ("passline", site.room, *names, *phone.locator(".destination").all_inner_texts())
    assert_spanish(phone, *data)
    check_accessibility(phone, "room QR page in Spanish")
    phone.get_by_text(student["short"], exact=True).click()
    phone.get_by_label(re.compile("últimos 4 dígitos de tu número")).fill(student["number"][-4:])
    phone.get_by_role("button", name=GO_NOW, exact=True).click()
    status = phone.locator("#visit-status")
    expect(status.get_by_role("heading", name=f"Pase a {GO_NOW}")).to_be_visible()
    expect(status).to_contain_text("Regresa antes de las")
    assert_spanish(phone, "passline", GO_NOW)
    # The pass's own QR: anyone's phone checks it, in its own language.
    checker = spanish_page(open_page)
    checker.goto(read_qr(phone, ".pass-qr"))
    expect(checker.locator(".pass-status")).to_have_text("Válido")
    assert_spanish(checker, "passline", GO_NOW)
    # Back in the room.
    phone.goto(read_qr(display, "#room-qr"))
    expect(phone.get_by_role("heading", name=f"¿Ya estás de vuelta en el salón {site.room}?"))
    phone.get_by_role("button", name="Ya regresé").click()
    expect(phone.get_by_role("heading", name="Bienvenido/a de vuelta")).to_be_visible()
    assert_spanish(phone, "passline")


def test_a_kiosk_speaks_spanish_for_one_student_turn(open_page, site):
    teacher = sign_in(open_page("tablet"), "teacher")
    kiosk = open_page("tablet")  # set up in English, like the school
    pair(teacher, kiosk, "Hall pass kiosk (room)", "Room 101 kiosk ES", room=site.room)
    kiosk.get_by_role("link", name="Open the hall pass kiosk").click()
    # The kiosk's own language is the school's (English); the student taps "Español".
    expect(kiosk.locator("html")).to_have_attribute("lang", "en")
    kiosk.get_by_role("button", name="Español").click()
    field = kiosk.get_by_label("Escanea tu credencial de estudiante o escribe tu número")
    expect(field).to_be_visible()
    assert_spanish(kiosk, site.room, "Room 101 kiosk ES")
    student = site.student()
    field.fill(student["number"])
    kiosk.get_by_role("button", name="Siguiente").click()
    expect(
        kiosk.get_by_role("heading", name=f"Hola, {student['short']}, ¿adónde vas?")
    ).to_be_visible()
    buttons = kiosk.locator(".kiosk-destinations button").all_inner_texts()
    assert_spanish(kiosk, "Room 101 kiosk ES", student["short"], *buttons)
    kiosk.get_by_role("button", name=GO_NOW, exact=True).click()
    expect(kiosk.get_by_role("heading", name=f"Adelante, {student['short']}")).to_be_visible()
    assert_spanish(kiosk, "Room 101 kiosk ES", student["short"], GO_NOW)
    check_accessibility(kiosk, "kiosk pass in Spanish")
    # "Listo": the turn is over, the next student sees the kiosk's own language.
    kiosk.get_by_role("link", name="Listo").click()
    expect(kiosk.locator("html")).to_have_attribute("lang", "en")
    kiosk.get_by_label("Scan your student ID, or type your number").fill(student["number"])
    kiosk.get_by_role("button", name="Next").click()
    expect(kiosk.get_by_role("heading", name=f"Welcome back, {student['short']}")).to_be_visible()

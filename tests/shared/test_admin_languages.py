"""The admin screens in the language of the admin in front of them (issue 19): a Spanish
account reads its pages, its confirmations and its counts in Spanish, with the school's
12-hour times; an English one keeps English, with "1 staff member" / "2 staff members"."""

from datetime import time

from shared.models import BellPeriod


def spanish(db, user):
    user.language = "es"
    db.session.commit()
    return user


def test_the_admin_overview_and_its_menu_in_spanish(db, client, school, make_user, login):
    login(spanish(db, make_user(school, "admin")))
    page = client.get("/admin/").get_data(as_text=True)
    assert '<html lang="es">' in page
    assert f"Administración · {school.name}" in page
    for word in ("Resumen", "Personal", "Horario de clases", "Registro de auditoría"):
        assert word in page
    assert "Overview" not in page and "Audit log" not in page


def test_a_spanish_admin_reads_the_bell_schedule_in_spanish_with_12_hour_times(
    db, client, school, make_user, login
):
    login(spanish(db, make_user(school, "admin")))
    db.session.add(
        BellPeriod(
            school_id=school.id, name="1", weekday=0, start_time=time(15, 5), end_time=time(15, 50)
        )
    )
    db.session.commit()
    page = client.get("/admin/schedule").get_data(as_text=True)
    assert "3:05 p." in page and "15:05" not in page
    assert "lun" in page and "Mon" not in page


def test_a_spanish_admin_gets_spanish_confirmations_and_errors(
    db, client, school, make_user, login
):
    login(spanish(db, make_user(school, "admin")))
    saved = client.post(
        "/admin/school",
        data={"name": school.name, "timezone": "America/Chicago", "language": "en"},
        follow_redirects=True,
    )
    assert "Se guardó la configuración de la escuela." in saved.get_data(as_text=True)
    refused = client.post(
        "/admin/staff/new", data={"email": "not an address", "name": "Ada", "roles": ["teacher"]}
    )
    assert refused.status_code == 400
    assert "Escriba una dirección de correo electrónico válida." in refused.get_data(as_text=True)


def test_role_and_device_labels_follow_the_reader(db, client, school, make_user, login):
    admin = make_user(school, "admin")
    make_user(school, "teacher", name="Ada Byron")
    login(admin)
    english = client.get("/admin/staff").get_data(as_text=True)
    assert "Teacher" in english and "School admin" in english
    assert "Hall pass kiosk (room)" in client.get("/devices/new").get_data(as_text=True)
    spanish(db, admin)
    page = client.get("/admin/staff").get_data(as_text=True)
    assert "Maestro/a" in page and "Administrador de la escuela" in page
    assert "Quiosco de pases (salón)" in client.get("/devices/new").get_data(as_text=True)


def _no_password(db, school, make_user):
    user = make_user(school, "teacher")
    user.password_hash = None
    db.session.commit()
    return user


def test_staff_counts_say_one_or_many(db, client, school, make_user, login):
    login(make_user(school, "admin"))
    _no_password(db, school, make_user)
    assert "Invite 1 staff member without a password?" in client.get("/admin/staff").get_data(
        as_text=True
    )
    _no_password(db, school, make_user)
    page = client.get("/admin/staff").get_data(as_text=True)
    assert "Invite 2 staff members without a password?" in page
    assert "member(s)" not in page


def test_the_data_inventory_and_the_privacy_page_in_spanish(db, client, school, make_user, login):
    login(spanish(db, make_user(school, "admin")))
    page = client.get("/privacy/inventory").get_data(as_text=True)
    assert "Nada sale de este servidor." in page and "Cuentas del personal" in page
    assert "Hash argon2id; la contraseña en sí nunca se guarda." in page
    assert "fecha y hora" in page and "Staff accounts" not in page
    privacy = client.get("/admin/privacy").get_data(as_text=True)
    assert "Registro de auditoría (días)" in privacy
    refused = client.post("/admin/privacy", data={"audit_days": "1"})
    assert refused.status_code == 400
    assert "un número de días de 30 a 3650" in refused.get_data(as_text=True)


def test_a_spanish_district_admin_reads_the_providers_page_and_its_refusals_in_spanish(
    db, client, school, make_user, login
):
    login(spanish(db, make_user(school, "admin", district=True)))
    page = client.get("/admin/sign-in").get_data(as_text=True)
    assert "Proveedores de inicio de sesión" in page
    assert "Otro proveedor OpenID (por su emisor)" in page
    form = {
        "key": "district",
        "kind": "oidc",
        "label": "District SSO",
        "issuer": "https://sso.district.test",
        "client_id": "passline",
        "client_secret": "secret",
        "domains": "not a domain!",
    }
    refused = client.post("/admin/sign-in", data=form)
    assert refused.status_code == 400
    assert "Dominios de correo: 'not' no es un nombre de dominio." in refused.get_data(
        as_text=True
    ).replace("&#39;", "'")


def test_a_spanish_teacher_reads_two_factor_in_spanish(db, client, school, make_user, login):
    login(spanish(db, make_user(school, "teacher")))
    page = client.get("/account/two-factor/setup").get_data(as_text=True)
    assert "Configurar la verificación en dos pasos" in page
    assert 'aria-label="Código QR"' in page  # the code to scan is named in Spanish too
    wrong = client.post("/account/two-factor/setup", data={"code": "000000"})
    assert "Ese código no es correcto." in wrong.get_data(as_text=True)


def test_a_spanish_admin_reads_a_form_refusal_in_spanish(db, client, school, make_user, login):
    login(spanish(db, make_user(school, "admin")))
    refused = client.get("/admin/audit?since=yesterday")
    assert refused.status_code == 400
    assert "Desde: escriba una fecha como 2026-05-29." in refused.get_data(as_text=True)


def test_words_that_mean_two_things_are_told_apart(db, client, school, make_user, login):
    login(spanish(db, make_user(school, "admin", district=True)))
    # The start page is "Inicio", not the verb "Iniciar" of the buttons that start things.
    assert "<title>Inicio" in client.get("/dashboard").get_data(as_text=True)
    # A school is "activa" (una escuela), a staff account "activo" (un usuario).
    assert '<span class="badge ok">activa</span>' in client.get("/schools/").get_data(as_text=True)
    assert '<span class="badge ok">activo</span>' in client.get("/admin/staff").get_data(
        as_text=True
    )

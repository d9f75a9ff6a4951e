"""The office's families and family screens in the staff member's language, with the
guardian's details, their refusals and the counts said right."""

from shared.models import User


def text(response) -> str:
    return response.get_data(as_text=True)


def spanish(db, user: User) -> User:
    user.language = "es"
    db.session.commit()
    return user


def test_the_families_list_counts_the_families_without_a_tag(
    db, client, login, school, office_user, make_family
):
    login(office_user)
    make_family(school, 10)
    page = text(client.get("/carline/families"))
    assert "1 active family has no hang tag yet." in page
    make_family(school, 11)
    page = text(client.get("/carline/families"))
    assert "2 active families have no hang tag yet." in page
    spanish(db, office_user)
    page = text(client.get("/carline/families"))
    assert '<html lang="es">' in page and "Familias y tarjetas" in page
    assert "2 familias activas todavía no tienen tarjeta." in page
    assert "Nueva familia o grupo de transporte compartido" in page


def test_a_spanish_office_runs_the_family_screen_in_spanish(
    db, client, login, school, office_user, make_family, make_student
):
    family = make_family(school, 12, make_student(school, "Ana", "Ruiz"))
    login(spanish(db, office_user))
    page = text(client.get(f"/carline/families/{family.id}"))
    assert "Tarjeta 12" in page and "Tutores" in page and "Agregar un tutor" in page
    assert "Parentesco" in page and "Puede recoger" in page and "Guardians" not in page
    saved = client.post(
        f"/carline/families/{family.id}/edit",
        data={"tag_number": "12", "pickup_adults": "Tía Lola"},
    )
    assert saved.status_code == 302
    assert "Familia guardada." in text(client.get(saved.headers["Location"]))
    added = client.post(
        f"/carline/families/{family.id}/guardians",
        data={"name": "Rosa Ruiz", "language": "es", "may_pick_up": "1"},
    )
    assert added.status_code == 302
    assert "Rosa Ruiz agregado." in text(client.get(added.headers["Location"]))
    refused = client.post(
        f"/carline/families/{family.id}/guardians",
        data={"name": "Tío", "email": "not an address", "language": "es"},
    )
    assert refused.status_code == 400
    assert "Correo electrónico: escriba una dirección válida" in text(refused)
    taken = make_family(school, 13)
    clash = client.post(f"/carline/families/{taken.id}/edit", data={"tag_number": "12"})
    assert clash.status_code == 409 and "La tarjeta 12 ya es de otra familia." in text(clash)


def test_the_family_screen_reads_english_by_default(
    db, client, login, school, office_user, make_family
):
    family = make_family(school, 14)
    login(office_user)
    page = text(client.get(f"/carline/families/{family.id}"))
    assert "Tag 14" in page and "Add a guardian" in page and "No guardians yet." in page

"""The curb phone and the dismissal screens in Spanish, with plurals said right."""


from shared.models import User
from tests.carline.test_views import HX, curb_setup, start, text  # noqa: F401 (fixture)


def spanish(db, user: User) -> User:
    user.language = "es"
    db.session.commit()
    return user


def test_the_curb_answers_in_the_staff_members_language(
    db, client, login, school, make_user, curb_setup  # noqa: F811
):
    login(spanish(db, make_user(school, "staff")))
    page = text(client.get("/carline/curb"))
    assert '<html lang="es">' in page and "Número de tarjeta" in page and "Teclado" in page
    refused = client.post("/carline/curb/entries", data={"entry": "999"}, headers=HX)
    assert refused.status_code == 404 and "La tarjeta 999 no es de esta escuela." in text(refused)

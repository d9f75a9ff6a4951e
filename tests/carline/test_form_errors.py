"""Car line forms with a bad value show the same form again, the message next to the field
(issue 17: a bad tag number gave a full "400 ... Back to the start" page)."""

import re

from sqlalchemy import func, select

from carline.models import Dismissal
from shared.models import Family


def _field_error(html: str, name: str, message: str) -> bool:
    """The field is marked invalid and described by an alert holding the message."""
    field = re.search(rf'<(?:input|textarea)[^>]*name="{name}"[^>]*>', html)
    if field is None or 'aria-invalid="true"' not in field.group(0):
        return False
    described = re.search(r'aria-describedby="([^"]+)"', field.group(0)).group(1)
    alert = re.search(rf'<p[^>]*role="alert"[^>]*id="{described}"[^>]*>([^<]*)</p>', html)
    return alert is not None and message in alert.group(1)


def test_a_new_family_with_a_bad_tag_number_shows_the_families_page_again(
    db, client, login, school, office_user, make_family
):
    make_family(school, 12)
    login(office_user)
    for typed, status, message in (
        ("12", 409, "Tag 12 already belongs to another family."),
        ("0", 400, "Tag number"),
        ("abc", 400, "Tag number"),
    ):
        response = client.post(
            "/carline/families/new", data={"tag_number": typed, "pickup_adults": "Ann Smith"}
        )
        html = response.get_data(as_text=True)
        assert response.status_code == status
        assert "Back to the start" not in html and "New family or carpool" in html
        assert _field_error(html, "tag_number", message), html
        assert f'value="{typed}"' in html and ">Ann Smith</textarea>" in html  # kept as typed
    assert db.session.scalar(select(func.count(Family.id))) == 1


def test_a_family_edit_with_a_bad_value_marks_that_field_and_keeps_what_was_typed(
    db, client, login, school, office_user, make_family
):
    make_family(school, 1)
    family = make_family(school, 2)
    login(office_user)
    response = client.post(
        f"/carline/families/{family.id}/edit", data={"tag_number": "1", "pickup_adults": "Dad"}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 409
    assert _field_error(html, "tag_number", "Tag 1 already belongs to another family.")
    assert 'value="1"' in html and ">Dad</textarea>" in html
    long = client.post(
        f"/carline/families/{family.id}/edit",
        data={"tag_number": "2", "pickup_adults": "x" * 2001},
    )
    assert long.status_code == 400
    assert _field_error(long.get_data(as_text=True), "pickup_adults", "Authorized adults")


def test_a_dismissal_start_with_bad_numbers_shows_the_start_form_again(
    db, client, login, school, office_user
):
    login(office_user)
    response = client.post("/carline/dismissal/start", data={"lanes": "x", "spots_per_lane": "4"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "Back to the start" not in html
    assert "Start today&#39;s dismissal" in html or "Start today's dismissal" in html
    assert _field_error(html, "lanes", "Lanes")
    assert 'value="x"' in html and 'value="4"' in html
    spots = client.post("/carline/dismissal/start", data={"lanes": "2", "spots_per_lane": "99"})
    assert spots.status_code == 400
    assert _field_error(spots.get_data(as_text=True), "spots_per_lane", "spots")
    assert db.session.scalar(select(func.count(Dismissal.id))) == 0

"""Every view declares who may call it, and the declaration is enforced for each role."""

import pytest

from shared.access import PUBLIC, VALID_RULES, access, is_static_file
from shared.models import Membership


def test_every_endpoint_declares_its_access(app):
    missing = [
        endpoint
        for endpoint, view in app.view_functions.items()
        if not is_static_file(endpoint) and not getattr(view, "access_rules", None)
    ]
    assert missing == []
    for endpoint, view in app.view_functions.items():
        if not is_static_file(endpoint):
            assert view.access_rules <= VALID_RULES | {PUBLIC}, endpoint


def test_unknown_rule_is_a_programming_error():
    with pytest.raises(ValueError):
        access("superuser")
    with pytest.raises(ValueError):
        access()


def test_view_without_declaration_is_refused(app, client, school, make_user, login):
    app.view_functions["auth.switch_school"].__dict__.pop("access_rules")
    try:
        login(make_user(school, "admin"))
        assert client.post("/school", data={"school_id": school.id}).status_code == 403
    finally:
        app.view_functions["auth.switch_school"].access_rules = frozenset({"user"})


ROLE_PAGES = {
    "/dashboard": {"admin", "office", "teacher", "staff"},
    "/hallpass/": {"admin", "office", "teacher", "staff"},
    "/carline/": {"admin", "office", "teacher", "staff"},
    "/hallpass/hallway": {"admin", "office", "staff"},
    "/devices/new": {"admin", "office", "teacher"},
    "/devices": {"admin"},
    "/admin/": {"admin"},
    "/admin/staff": {"admin"},
    "/admin/audit": {"admin"},
    "/admin/school": {"admin"},
}


@pytest.mark.parametrize("role", ["admin", "office", "teacher", "staff"])
def test_role_pages(client, school, make_user, login, role):
    login(make_user(school, role))
    for path, allowed in ROLE_PAGES.items():
        expected = 200 if role in allowed else 403
        assert client.get(path).status_code == expected, (role, path)


def test_anonymous_is_sent_to_sign_in(client):
    for path in ROLE_PAGES:
        response = client.get(path)
        assert response.status_code == 302, path
        assert "/login" in response.headers["Location"]
    assert client.get("/admin/", headers={"HX-Request": "true"}).status_code == 401
    assert client.post("/devices/new").status_code == 401


def test_roles_are_scoped_to_the_current_school(db, client, make_school, make_user, login):
    here, there = make_school(), make_school()
    user = make_user(here, "teacher")
    db.session.add(Membership(user_id=user.id, school_id=there.id, role="admin"))
    db.session.commit()
    login(user)
    client.post("/school", data={"school_id": here.id})
    assert client.get("/admin/").status_code == 403
    client.post("/school", data={"school_id": there.id})
    assert client.get("/admin/").status_code == 200


def test_user_with_no_school_sees_only_their_account(client, make_user, login):
    login(make_user())
    page = client.get("/dashboard")
    assert page.status_code == 200
    assert b"no role at any school" in page.data
    assert client.get("/hallpass/").status_code == 403


def test_district_admin_is_admin_everywhere(client, make_school, make_user, login):
    first, second = make_school(), make_school()
    login(make_user(district=True))
    for school in (first, second):
        client.post("/school", data={"school_id": school.id})
        page = client.get("/admin/")
        assert page.status_code == 200
        assert school.name.encode() in page.data


def test_security_headers_and_no_store_for_signed_in_pages(client, school, make_user, login):
    login(make_user(school, "admin"))
    response = client.get("/admin/")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"


def test_pages_load_nothing_from_another_origin(client, school, make_user, login):
    login(make_user(school, "admin"))
    for path in ["/login", "/dashboard", "/admin/", "/devices/new", "/admin/audit"]:
        html = client.get(path).get_data(as_text=True)
        for attribute in ("src=", "href="):
            for value in html.split(attribute)[1:]:
                target = value[1:].split(value[0])[0]
                assert not target.startswith(("http:", "https:", "//")), (path, target)
        assert "<script>" not in html and " onclick=" not in html, path


def test_a_tap_after_the_session_ended_takes_the_browser_to_sign_in_and_back(
    client, school, make_user, login
):
    """The tablet kept showing the teacher while every tap failed with 401: now htmx is
    told to open sign-in, which returns to the page the tap came from."""
    teacher = make_user(school, "teacher")
    login(teacher)
    client.post("/logout", data={})  # signed out (elsewhere, or timed out)
    tap = client.post(
        "/hallpass/passes",
        data={"room_id": "1", "student_id": "1", "destination_id": "1"},
        headers={"HX-Request": "true", "HX-Current-URL": "http://localhost/hallpass/?class_id=4"},
    )
    assert tap.status_code == 401
    assert tap.headers["HX-Redirect"] == "/login?next=/hallpass/?class_id%3D4"
    page = client.get(tap.headers["HX-Redirect"])
    assert 'value="/hallpass/?class_id=4"' in page.get_data(as_text=True)
    poll = client.get(
        "/hallpass/hallway/list?v=1",
        headers={"HX-Request": "true", "HX-Current-URL": "http://evil.example/steal"},
    )
    assert poll.status_code == 401 and poll.headers["HX-Redirect"] == "/login?next=/steal"


def test_a_screen_whose_pairing_ended_is_sent_to_pair_again(client):
    client.set_cookie("passline_device", "a-revoked-secret", domain="passline.test")
    poll = client.get("/carline/tv/calls?v=1", headers={"HX-Request": "true"})
    assert poll.status_code == 401 and poll.headers["HX-Redirect"] == "/pair"

"""Clear error pages, and nothing half-written when a request fails."""

import pytest
from sqlalchemy import func, select

from shared import audit
from shared.models import AuditEvent


@pytest.fixture
def crashing_view(app):
    """Temporarily make /hallpass/ write an audit event and then crash."""
    original = app.view_functions["hallpass.index"]

    def crash():
        audit.record("test.half_written")
        raise RuntimeError("boom")

    crash.access_rules = original.access_rules
    app.view_functions["hallpass.index"] = crash
    app.config["PROPAGATE_EXCEPTIONS"] = False
    yield
    app.view_functions["hallpass.index"] = original
    app.config["PROPAGATE_EXCEPTIONS"] = None


def test_server_error_page_and_nothing_half_written(
    db, client, school, make_user, login, crashing_view
):
    login(make_user(school, "teacher"))
    response = client.get("/hallpass/")
    assert response.status_code == 500
    assert b"Nothing was saved" in response.data
    assert b"boom" not in response.data
    count = db.session.scalar(
        select(func.count(AuditEvent.id)).where(AuditEvent.action == "test.half_written")
    )
    assert count == 0


def test_htmx_errors_are_a_fragment_not_a_page(client, school, make_user, login):
    login(make_user(school, "teacher"))
    response = client.get("/admin/", headers={"HX-Request": "true"})
    assert response.status_code == 403
    assert b"<html" not in response.data
    assert b"You do not have access" in response.data


def test_method_not_allowed_and_not_found_pages(client):
    assert client.delete("/login").status_code == 405
    response = client.get("/admin/staff/999999")
    assert response.status_code == 302  # signed out: sign in first, no hint it exists


def test_upload_too_large_is_413(app, client, school, make_user, login):
    login(make_user(school, "admin"))
    limit = app.config["MAX_CONTENT_LENGTH"]
    app.config["MAX_CONTENT_LENGTH"] = 100
    try:
        response = client.post("/admin/school", data={"name": "x" * 500, "timezone": "UTC"})
    finally:
        app.config["MAX_CONTENT_LENGTH"] = limit
    assert response.status_code == 413
    assert b"too large" in response.data


@pytest.mark.parametrize(
    "path", ["/admin/staff/99999999999999999999999", "/devices/9223372036854775808/revoke"]
)
def test_a_number_beyond_the_database_range_is_a_400(client, school, make_user, login, path):
    login(make_user(school, "admin"))
    response = client.get(path) if "revoke" not in path else client.post(path)
    assert response.status_code == 400
    assert "out of range" in response.get_data(as_text=True)

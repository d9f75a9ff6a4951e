"""The app starts, serves its sign-in page and refuses unknown pages clearly."""


def test_login_page_renders(client):
    response = client.get("/login")
    assert response.status_code == 200
    assert b"Sign in" in response.data


def test_unknown_page_is_404_page(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert b"There is nothing here." in response.data

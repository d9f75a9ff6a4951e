"""Admin forms with a refused value show the same form again with the message next to
it, never the full "400 ... Back to the start" page (issue 17)."""

from sqlalchemy import select

from shared.models import Membership


def test_a_refused_roles_change_shows_the_staff_page_with_the_message_under_the_roles(
    db, client, school, make_user, login
):
    admin = make_user(school, "admin")
    login(admin)
    response = client.post(
        f"/admin/staff/{admin.id}", data={"action": "roles", "roles": ["teacher"]}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "Back to the start" not in html
    assert 'aria-describedby="roles-error"' in html
    assert 'id="roles-error">You cannot remove your own admin role.</p>' in html
    assert "Save roles" in html  # the same form, its boxes as they are held
    roles = db.session.scalars(select(Membership.role).where(Membership.user_id == admin.id))
    assert list(roles) == ["admin"]

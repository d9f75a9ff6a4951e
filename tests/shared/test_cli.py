"""`flask create-admin` sets up a new install."""

from sqlalchemy import select

from shared.models import Membership, School, User
from shared.passwords import verify_password


def test_create_admin_creates_the_first_school_and_admin(app, db):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=[
            "create-admin",
            "--email",
            "IT@District.example",
            "--name",
            "Dana IT",
            "--school",
            "WHS",
            "--school-name",
            "Washington High",
            "--timezone",
            "America/Denver",
            "--password",
            "a long admin password",
        ]
    )
    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User).where(User.email == "it@district.example"))
    school = db.session.scalar(select(School).where(School.code == "WHS"))
    assert school.timezone == "America/Denver"
    assert verify_password(user.password_hash, "a long admin password")
    roles = db.session.scalars(select(Membership.role).where(Membership.user_id == user.id))
    assert list(roles) == ["admin"]


def test_create_admin_refuses_weak_passwords_and_unknown_schools(app, db):
    runner = app.test_cli_runner()
    weak = runner.invoke(
        args=[
            "create-admin",
            "--email",
            "a@example.org",
            "--school",
            "X",
            "--school-name",
            "X",
            "--password",
            "short",
        ]
    )
    assert weak.exit_code != 0 and "at least 10" in weak.output
    unknown = runner.invoke(
        args=[
            "create-admin",
            "--email",
            "a@example.org",
            "--school",
            "NOPE",
            "--password",
            "a long admin password",
        ]
    )
    assert unknown.exit_code != 0 and "--school-name" in unknown.output
    bad_tz = runner.invoke(
        args=[
            "create-admin",
            "--email",
            "a@example.org",
            "--school",
            "X",
            "--school-name",
            "X",
            "--timezone",
            "Mars/Base",
            "--password",
            "a long admin password",
        ]
    )
    assert bad_tz.exit_code != 0
    assert db.session.scalar(select(User)) is None


def test_district_admin_from_the_command_line(app, db):
    result = app.test_cli_runner().invoke(
        args=["create-admin", "--email", "d@example.org", "--district"],
        env={"PASSLINE_ADMIN_PASSWORD": "a long admin password"},
    )
    assert result.exit_code == 0, result.output
    assert db.session.scalar(select(User.is_district_admin))


def test_create_admin_on_an_existing_email_needs_reset_password_and_ends_its_sessions(
    app, db, school, make_user, login
):
    """Before: the password was replaced silently and the account's sessions stayed open."""
    from tests.helpers import PASSWORD, audit_actions

    teacher = make_user(school, "teacher", email="karen@example.org")
    browser = login(teacher, on=app.test_client())
    assert browser.get("/dashboard").status_code == 200
    runner = app.test_cli_runner()
    args = ["create-admin", "--email", "Karen@Example.org", "--school", "LMS"]
    refused = runner.invoke(args=[*args, "--password", "a new long password"])
    assert refused.exit_code == 1 and "--reset-password" in refused.output
    db.session.expire_all()
    user = db.session.scalar(select(User).where(User.email == "karen@example.org"))
    assert verify_password(user.password_hash, PASSWORD)
    assert browser.get("/dashboard").status_code == 200
    assert "staff.create_admin" not in audit_actions(db)

    reset = runner.invoke(args=[*args, "--reset-password", "--password", "a new long password"])
    assert reset.exit_code == 0, reset.output
    db.session.expire_all()
    user = db.session.scalar(select(User).where(User.email == "karen@example.org"))
    assert verify_password(user.password_hash, "a new long password")
    roles = set(db.session.scalars(select(Membership.role).where(Membership.user_id == user.id)))
    assert roles == {"teacher", "admin"}
    ended = browser.get("/dashboard")
    assert ended.status_code == 302 and "/login" in ended.headers["Location"]
    assert audit_actions(db)[-1] == "staff.create_admin"


def test_static_root_names_the_folder_a_proxy_serves_static_files_from(app):
    import os

    result = app.test_cli_runner().invoke(args=["static-root"])
    assert result.exit_code == 0, result.output
    folder = result.output.strip()
    for package in ("shared", "hallpass", "carline"):
        assert os.path.isdir(os.path.join(folder, package, "static")), package

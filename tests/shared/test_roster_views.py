"""Roster import through the admin pages (upload, preview, apply) and `flask roster import`."""

import io
import os
import re
import shutil
import stat
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import func, select

from shared import roster
from shared.models import AuditEvent, School, SchoolClass, Student, User
from tests.helpers import csrf_token_from, planner_row_count

STUDENTS = "student_number,first_name,last_name,grade\n1001,Ava,Nguyen,6\n1002,Liam,Johnson,7\n"


@pytest.fixture
def admin(db, school, make_user, login):
    user = make_user(school, "admin", email="admin@example.org")
    login(user)
    return user


@pytest.fixture
def imports(app):
    """The folder of stored uploads, emptied before and after the test."""
    folder = Path(app.instance_path) / "imports"
    shutil.rmtree(folder, ignore_errors=True)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def upload(client, data: bytes, filename: str):
    return client.post(
        "/admin/roster/upload",
        data={"file": (io.BytesIO(data), filename)},
        content_type="multipart/form-data",
    )


def token_of(response) -> str:
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    match = re.search(r"/admin/roster/preview/([A-Za-z0-9_-]+)$", response.headers["Location"])
    assert match, response.headers["Location"]
    return match.group(1)


# --------------------------------------------------------------------------- web flow


def test_upload_preview_apply_as_admin(client, db, school, admin, imports):
    page = client.get("/admin/roster/")
    assert page.status_code == 200
    assert b'enctype="multipart/form-data"' in page.data
    assert b"/admin/roster/sample/oneroster.zip" in page.data

    token = token_of(upload(client, roster.sample_zip("oneroster"), "SIS export 2026.zip"))
    stored = sorted(p.name for p in imports.iterdir())
    assert stored == sorted([f"{token}.zip", f"{token}.json"])
    assert stat.S_IMODE(os.stat(imports / f"{token}.zip").st_mode) == 0o600

    preview = client.get(f"/admin/roster/preview/{token}")
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200
    assert "Nothing has been imported yet" in html
    assert re.search(r"<td>Students</td><td>25</td>", html)
    assert "Ava Nguyen (260101)" in html
    assert "Apply</button>" in html and "disabled" not in html
    assert count(db, Student) == 0  # the preview is a dry run

    applied = client.post(f"/admin/roster/apply/{token}")
    assert applied.status_code == 302 and applied.headers["Location"].endswith("/admin/")
    assert count(db, Student) == 25
    assert count(db, SchoolClass) == 5
    assert list(imports.iterdir()) == []
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "roster.import"))
    assert event.actor_user_id == admin.id and event.school_id == school.id
    assert event.detail["counts"]["students"]["created"] == 25
    assert b"Roster imported." in client.get("/admin/").data
    assert client.get(f"/admin/roster/preview/{token}").status_code == 404


def test_a_file_with_errors_cannot_be_applied(client, db, admin, imports):
    bad = STUDENTS + "1003,Sofia,,K\n"
    token = token_of(upload(client, bad.encode(), "students.csv"))
    preview = client.get(f"/admin/roster/preview/{token}")
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200
    assert "<td>students.csv</td><td>4</td><td>last_name</td><td>a value is required</td>" in html
    assert re.search(r"<button[^>]*disabled", html)

    applied = client.post(f"/admin/roster/apply/{token}")
    assert applied.status_code == 400
    assert b"nothing was imported" in applied.data
    assert count(db, Student) == 0
    assert count(db, AuditEvent) == 1  # the sign-in only


def test_discard_deletes_the_upload(client, admin, imports):
    token = token_of(upload(client, STUDENTS.encode(), "students.csv"))
    response = client.post(f"/admin/roster/discard/{token}")
    assert response.status_code == 302
    assert list(imports.iterdir()) == []


@pytest.mark.parametrize(
    ("data", "filename"),
    [
        (b"PK\x03\x04 definitely not a zip", "roster.zip"),
        (b"a,b\n", "roster.xlsx"),
        (b"a,b\n", "roster.txt"),
        (STUDENTS.encode(), "kids.csv"),
        (b"", "students.zip"),
    ],
)
def test_malformed_upload_is_a_clear_400(client, db, admin, imports, data, filename):
    response = upload(client, data, filename)
    assert response.status_code == 400
    assert b"Something went wrong" not in response.data
    assert not imports.exists() or list(imports.iterdir()) == []


def test_upload_without_a_file_is_a_400(client, admin, imports):
    assert client.post("/admin/roster/upload", data={}).status_code == 400
    response = client.post(
        "/admin/roster/upload",
        data={"file": (io.BytesIO(b""), "")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400


def test_zip_with_traversal_is_refused_at_upload(client, admin, imports):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../../students.csv", STUDENTS)
    response = upload(client, buffer.getvalue(), "roster.zip")
    assert response.status_code == 400
    assert b"unsafe path" in response.data


def test_non_utf8_file_shows_an_error_in_the_preview(client, admin, imports):
    token = token_of(
        upload(
            client,
            "student_number,first_name,last_name\n1,Zoë,M\n".encode("cp1252"),
            "students.csv",
        )
    )
    html = client.get(f"/admin/roster/preview/{token}").get_data(as_text=True)
    assert "not UTF-8 text" in html


def test_teacher_gets_403_everywhere(client, db, school, make_user, login, imports):
    login(make_user(school, "teacher"))
    token = roster.store_upload(
        imports, STUDENTS.encode(), "students.csv", school_id=school.id, user_id=None
    )
    assert client.get("/admin/roster/").status_code == 403
    assert upload(client, STUDENTS.encode(), "students.csv").status_code == 403
    assert client.get(f"/admin/roster/preview/{token}").status_code == 403
    assert client.post(f"/admin/roster/apply/{token}").status_code == 403
    assert client.post(f"/admin/roster/discard/{token}").status_code == 403
    assert client.get("/admin/roster/sample/csv.zip").status_code == 403
    assert count(db, Student) == 0


def test_signed_out_visitor_is_sent_to_sign_in(client):
    response = client.get("/admin/roster/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_token_of_another_school_is_404(client, db, admin, make_school, imports):
    other = make_school()
    token = roster.store_upload(
        imports, STUDENTS.encode(), "students.csv", school_id=other.id, user_id=None
    )
    assert client.get(f"/admin/roster/preview/{token}").status_code == 404
    assert client.post(f"/admin/roster/apply/{token}").status_code == 404
    assert client.post(f"/admin/roster/discard/{token}").status_code == 404
    assert count(db, Student) == 0
    assert sorted(p.name for p in imports.iterdir()) == sorted([f"{token}.csv", f"{token}.json"])


@pytest.mark.parametrize("token", ["x" * 31, "x" * 33, "..%2F..%2Fsecret_key", "a.b" + "x" * 29])
def test_malformed_tokens_are_404(client, admin, token):
    assert client.get(f"/admin/roster/preview/{token}").status_code == 404


def test_sample_downloads(client, admin):
    for name, member in (("oneroster", "users.csv"), ("csv", "families.csv")):
        response = client.get(f"/admin/roster/sample/{name}.zip")
        assert response.status_code == 200
        assert response.mimetype == "application/zip"
        assert member in zipfile.ZipFile(io.BytesIO(response.data)).namelist()
    assert client.get("/admin/roster/sample/secrets.zip").status_code == 404


def test_forms_carry_csrf_tokens(csrf_app, db, school, make_user, imports):
    client = csrf_app.test_client()
    user = make_user(school, "admin")
    login_page = client.get("/login").get_data(as_text=True)
    client.post(
        "/login",
        data={
            "email": user.email,
            "password": "correct horse battery",
            "csrf_token": csrf_token_from(login_page),
        },
    )
    page = client.get("/admin/roster/").get_data(as_text=True)
    refused = upload(client, STUDENTS.encode(), "students.csv")
    assert refused.status_code == 400
    response = client.post(
        "/admin/roster/upload",
        data={
            "file": (io.BytesIO(STUDENTS.encode()), "students.csv"),
            "csrf_token": csrf_token_from(page),
        },
        content_type="multipart/form-data",
    )
    token = token_of(response)
    preview = client.get(f"/admin/roster/preview/{token}").get_data(as_text=True)
    assert preview.count('name="csrf_token"') >= 3  # apply, discard, sign out


# --------------------------------------------------------------------------- command line


def test_cli_dry_run_then_import(app, db, school):
    runner = app.test_cli_runner()
    path = str(roster.SAMPLES_DIR / "oneroster")
    dry = runner.invoke(args=["roster", "import", path, "--school", "LMS", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "Students: 25 created, 0 changed, 0 deactivated" in dry.output
    assert "created students: Ava Nguyen (260101)" in dry.output
    assert "Dry run: nothing was written." in dry.output
    assert count(db, Student) == 0

    done = runner.invoke(args=["roster", "import", path, "--school", "LMS"])
    assert done.exit_code == 0, done.output
    assert "Imported." in done.output
    assert count(db, Student) == 25
    assert count(db, User) == 4
    assert db.session.scalars(select(AuditEvent.action)).all() == ["roster.import"]
    # The query planner knows what was loaded (SQLite never gathers statistics by itself).
    assert planner_row_count(db, "students") == 25


def test_cli_without_school_uses_the_only_school(app, db, school, tmp_path):
    path = tmp_path / "students.csv"
    path.write_text(STUDENTS)
    result = app.test_cli_runner().invoke(args=["roster", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert count(db, Student) == 2


def test_cli_needs_school_when_there_are_several(app, db, school, make_school, tmp_path):
    make_school()
    path = tmp_path / "students.csv"
    path.write_text(STUDENTS)
    result = app.test_cli_runner().invoke(args=["roster", "import", str(path)])
    assert result.exit_code == 2
    assert "--school" in result.output
    unknown = app.test_cli_runner().invoke(args=["roster", "import", str(path), "--school", "NO"])
    assert unknown.exit_code == 2


def test_cli_errors_exit_1_and_write_nothing(app, db, school, tmp_path):
    path = tmp_path / "students.csv"
    path.write_text(STUDENTS + "1003,Sofia,Martinez,13\n")
    result = app.test_cli_runner().invoke(args=["roster", "import", str(path), "--school", "LMS"])
    assert result.exit_code == 1
    assert "Error: students.csv row 4, column grade:" in result.output
    assert "nothing was imported" in result.output
    assert count(db, Student) == 0


def test_cli_refuses_unreadable_files(app, db, school, tmp_path):
    path = tmp_path / "roster.zip"
    path.write_bytes(b"not a zip")
    result = app.test_cli_runner().invoke(args=["roster", "import", str(path)])
    assert result.exit_code == 1
    assert "damaged" in result.output


def test_cli_links_the_org_given_with_org(app, db, school, tmp_path):
    source = roster.SAMPLES_DIR / "oneroster"
    for path in source.glob("*.csv"):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    orgs = tmp_path / "orgs.csv"
    orgs.write_text(orgs.read_text() + "east-1,,,East Middle School,school,EMS,\n")
    args = ["roster", "import", str(tmp_path), "--school", "LMS"]
    refused = app.test_cli_runner().invoke(args=args)
    assert refused.exit_code == 1 and "--org" in refused.output
    school_org = next(
        line.split(",")[0] for line in orgs.read_text().splitlines() if ",LMS," in line
    )
    result = app.test_cli_runner().invoke(args=[*args, "--org", school_org])
    assert result.exit_code == 0, result.output
    assert db.session.scalar(select(School.sourced_id).where(School.code == "LMS")) == school_org
    assert count(db, Student) == 25


def test_a_school_admins_import_invites_another_schools_teacher_and_shows_nothing_of_her(
    client, db, school, admin, imports, make_school, make_user
):
    from shared.models import Membership, StaffInvitation

    other = make_school(name="Adams Elementary")
    karen = make_user(other, "teacher", email="karen.whitfield@example.org", name="Karen Whitfield")
    staff_csv = (
        "email,name,roles\n"
        "karen.whitfield@example.org,K W,teacher\n"
        "new.one@example.org,New One,teacher\n"
    )
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("staff.csv", staff_csv)
    token = token_of(upload(client, archive.getvalue(), "staff.zip"))
    html = client.get(f"/admin/roster/preview/{token}").get_data(as_text=True)
    assert "karen.whitfield@example.org" in html and "invited" in html
    assert "Karen" not in html and "Whitfield" not in html
    assert client.post(f"/admin/roster/apply/{token}").status_code == 302
    db.session.rollback()
    held = db.session.execute(
        select(Membership.school_id).where(Membership.user_id == karen.id)
    ).scalars()
    assert list(held) == [other.id]  # no role here until she accepts
    assert db.session.get(User, karen.id).name == "Karen Whitfield"
    invitation = db.session.scalars(select(StaffInvitation)).one()
    assert (invitation.school_id, invitation.roles) == (school.id, ["teacher"])
    assert "Karen" not in client.get("/admin/staff").get_data(as_text=True)

    # A class that names her as its teacher waits until she has accepted.
    classes_csv = (
        "class_id,name,room,period,teacher_emails\nM6,Math 6,,1,karen.whitfield@example.org\n"
    )
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("staff.csv", staff_csv)
        bundle.writestr("classes.csv", classes_csv)
    token = token_of(upload(client, archive.getvalue(), "classes.zip"))
    html = client.get(f"/admin/roster/preview/{token}").get_data(as_text=True)
    assert "invited, not staff of this school until they accept" in html
    assert "Karen" not in html
    assert client.post(f"/admin/roster/apply/{token}").status_code == 400
    assert count(db, SchoolClass) == 0


# --------------------------------------------------------------------------- first week (issue 17)


def test_a_file_that_cannot_be_read_shows_the_upload_form_again_with_the_reason(
    client, admin, imports
):
    response = upload(client, b"a,b\n", "roster.xlsx")
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Back to the start" not in html
    assert 'name="file"' in html and 'aria-invalid="true" aria-describedby="file-error"' in html
    assert re.search(r'id="file-error">Upload a \.csv file or a \.zip file', html)
    empty = client.post("/admin/roster/upload", data={}).get_data(as_text=True)
    assert 'id="file-error">Choose a .csv or .zip file to upload.' in empty


def _students_csv(count: int, start: int = 1000) -> str:
    rows = "".join(f"{start + n},First{n},Last{n},6\n" for n in range(count))
    return "student_number,first_name,last_name,grade\n" + rows


def test_apply_that_deactivates_many_students_asks_to_confirm_how_many(client, db, admin, imports):
    first = token_of(upload(client, _students_csv(30).encode(), "students.csv"))
    applied = client.post(f"/admin/roster/apply/{first}")
    assert applied.status_code == 302 and count(db, Student) == 30

    token = token_of(upload(client, _students_csv(5).encode(), "students.csv"))
    html = client.get(f"/admin/roster/preview/{token}").get_data(as_text=True)
    assert 'name="confirm_deactivations" value="25" required' in html
    assert "Yes, deactivate 25 students" in html
    refused = client.post(f"/admin/roster/apply/{token}")
    assert refused.status_code == 400
    assert "confirm that 25 students are deactivated" in refused.get_data(as_text=True)
    wrong = client.post(f"/admin/roster/apply/{token}", data={"confirm_deactivations": "3"})
    assert wrong.status_code == 400
    assert db.session.scalar(select(func.count()).where(Student.active.is_(True))) == 30
    done = client.post(f"/admin/roster/apply/{token}", data={"confirm_deactivations": "25"})
    assert done.status_code == 302
    assert db.session.scalar(select(func.count()).where(Student.active.is_(True))) == 5


def test_few_deactivations_need_no_confirmation(client, db, admin, imports):
    first = token_of(upload(client, _students_csv(12).encode(), "students.csv"))
    client.post(f"/admin/roster/apply/{first}")
    token = token_of(upload(client, _students_csv(10).encode(), "students.csv"))
    assert "confirm_deactivations" not in client.get(f"/admin/roster/preview/{token}").get_data(
        as_text=True
    )
    assert client.post(f"/admin/roster/apply/{token}").status_code == 302


def test_the_preview_says_the_org_will_be_linked_and_apply_says_it_was(
    client, db, school, admin, imports
):
    token = token_of(upload(client, roster.sample_zip("oneroster"), "export.zip"))
    html = client.get(f"/admin/roster/preview/{token}").get_data(as_text=True)
    assert f"Applying links {school.name} to the OneRoster org" in html
    assert "is now linked" not in html
    assert db.session.scalar(select(School.sourced_id).where(School.id == school.id)) is None
    client.post(f"/admin/roster/apply/{token}")
    assert f"{school.name} is now linked to the OneRoster org" in client.get("/admin/").get_data(
        as_text=True
    )


def test_the_preview_lists_rows_not_imported(client, admin, imports):
    users = (roster.SAMPLES_DIR / "oneroster" / "users.csv").read_text()
    users = users.replace(",student,", ",Pupil,", 1)
    folder = roster.SAMPLES_DIR / "oneroster"
    members = {p.name: p.read_bytes() for p in folder.glob("*.csv")}
    members["users.csv"] = users.encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    token = token_of(upload(client, buffer.getvalue(), "export.zip"))
    html = client.get(f"/admin/roster/preview/{token}").get_data(as_text=True)
    assert "<th>Not imported because</th>" in html
    assert re.search(
        r"<td>users.csv</td><td>6</td><td>role</td><td>unknown role &#39;Pupil&#39;", html
    )
    assert "Apply</button>" in html


def test_a_spanish_admin_reads_the_preview_and_its_reasons_in_spanish(client, db, admin, imports):
    admin.language = "es"
    db.session.commit()
    bad = STUDENTS + "1003,Sofia,,K\n"
    token = token_of(upload(client, bad.encode(), "students.csv"))
    html = client.get(f"/admin/roster/preview/{token}").get_data(as_text=True)
    assert "Vista previa de la importación de la lista" in html
    assert "<td>students.csv</td><td>4</td><td>last_name</td><td>se requiere un valor</td>" in html
    assert "a value is required" not in html
    refused = upload(client, b"anything", "roster.xlsx")
    assert "Suba un archivo .csv o un archivo .zip con archivos CSV." in refused.get_data(
        as_text=True
    )


def test_the_bell_schedule_preview_writes_times_as_the_school_reads_them(
    client, db, admin, imports
):
    bells = "period,days,start,end\n1,Mon,13:05,13:50\n"
    token = token_of(upload(client, bells.encode(), "bell_schedule.csv"))
    html = client.get(f"/admin/roster/preview/{token}").get_data(as_text=True)
    assert "1 created" in html
    assert "<td>Mon 1</td><td>1:05 PM - 1:50 PM</td>" in html


def test_a_spanish_admin_reads_what_changes_in_spanish(client, db, school, admin, imports):
    roster.apply_import(
        roster.plan_import(school, roster.Bundle(files={"students.csv": STUDENTS.encode()})),
        source="test",
    )
    db.session.commit()
    admin.language = "es"
    db.session.commit()
    moved = STUDENTS.replace("1002,Liam,Johnson,7", "1002,Liam,Johnson,8")
    token = token_of(upload(client, moved.encode(), "students.csv"))
    html = client.get(f"/admin/roster/preview/{token}").get_data(as_text=True)
    assert "grado 7 -&gt; 8" in html and "1 cambio" in html


def test_an_upload_over_the_limit_says_how_large_and_where_a_district_export_goes(
    app, client, admin, imports
):
    page = client.get("/admin/roster/").get_data(as_text=True)
    assert "Up to 20 MB." in page and "flask roster import --district" in page
    limit = app.config["MAX_CONTENT_LENGTH"]
    # Under the test client's 500 KB threshold for spooling a request body to a file.
    app.config["MAX_CONTENT_LENGTH"] = 300_000
    try:
        response = upload(client, b"x" * 400_000, "students.csv")
    finally:
        app.config["MAX_CONTENT_LENGTH"] = limit
    html = response.get_data(as_text=True)
    assert response.status_code == 413
    assert "The file is larger than 1 MB" in html and "MAX_UPLOAD_MB" in html
    assert "flask roster import --district" in html
    assert not imports.exists() or not any(imports.iterdir())

"""Schools from the web and the command line: a fresh install's district admin adds the
first school, renames it, archives it (and what archiving means for sign-in and screens)."""

from sqlalchemy import select

from shared.access import DEVICE_COOKIE, secret_digest
from shared.models import AuditEvent, Device, School
from shared.schools import timezone_choices
from tests.helpers import audit_actions


def _admitted(response) -> bool:
    """Answered, or sent on to a screen: not sent to the sign-in page."""
    return response.status_code == 200 or (
        response.status_code == 302 and "/login" not in response.headers["Location"]
    )


def _school(db, code: str) -> School | None:
    db.session.expire_all()
    return db.session.scalar(select(School).where(School.code == code))


def test_a_fresh_install_s_district_admin_adds_the_first_school_in_the_web_ui(
    db, client, make_user, login
):
    """Before: 'You have no role at any school yet', and no page to make a school."""
    it = make_user(None, district=True)
    login(it)
    dashboard = client.get("/dashboard").get_data(as_text=True)
    assert "Add the district&#39;s first school" in dashboard or "first school" in dashboard
    page = client.get("/schools/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert '<optgroup label="America">' in html and 'value="America/Chicago"' in html
    assert 'value="US/Eastern"' not in html  # legacy aliases are not offered
    response = client.post(
        "/schools/", data={"name": "Lincoln Middle", "code": "lms", "timezone": "America/Chicago"}
    )
    assert response.status_code == 302
    school = _school(db, "LMS")
    assert (school.name, school.timezone, school.is_archived) == (
        "Lincoln Middle",
        "America/Chicago",
        False,
    )
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "school.create"))
    assert event.school_id == school.id and event.actor_label == it.email
    # The admin now works at it: its admin pages open.
    assert client.get("/admin/").status_code == 200


def test_bad_school_input_is_a_clear_4xx_and_writes_nothing(db, client, make_user, login, school):
    login(make_user(None, district=True))
    for form, status, message in (
        ({"name": "", "code": "X1", "timezone": "America/Chicago"}, 400, "1 to 200 characters"),
        ({"name": "X", "code": "no spaces", "timezone": "America/Chicago"}, 400, "short code"),
        ({"name": "X", "code": "X1", "timezone": "Mars/Olympus"}, 400, "from the list"),
        ({"name": "X", "code": "X1", "timezone": "EST5EDT"}, 400, "from the list"),
        ({"name": "X", "code": "lms", "timezone": "America/Chicago"}, 409, "code LMS already"),
    ):
        response = client.post("/schools/", data=form)
        assert response.status_code == status, form
        assert message in response.get_data(as_text=True)
    assert db.session.scalars(select(School.code)).all() == ["LMS"]
    assert "school.create" not in audit_actions(db)


def test_rename_recode_and_re_zone_a_school(db, client, make_user, login, school):
    login(make_user(None, district=True))
    response = client.post(
        f"/schools/{school.id}",
        data={
            "action": "save",
            "name": "Lincoln MS",
            "code": "LINC",
            "timezone": "America/Denver",
        },
    )
    assert response.status_code == 302
    changed = _school(db, "LINC")
    assert (changed.name, changed.timezone) == ("Lincoln MS", "America/Denver")
    assert audit_actions(db, action="school.update") == ["school.update"]
    assert client.get("/schools/999999").status_code == 404


def test_only_district_admins_manage_schools(db, client, make_user, login, school):
    login(make_user(school, "admin"))
    assert client.get("/schools/").status_code == 403
    response = client.post("/schools/", data={"name": "X", "code": "X", "timezone": "UTC"})
    assert response.status_code == 403
    assert client.post(f"/schools/{school.id}", data={"action": "archive"}).status_code == 403
    assert _school(db, "LMS").archived_at is None
    # A school admin keeps their own school's name and time zone, from the same list.
    page = client.get("/admin/school").get_data(as_text=True)
    assert '<select name="timezone"' in page
    bad = client.post("/admin/school", data={"name": "Lincoln", "timezone": "Not/AZone"})
    assert bad.status_code == 400


def test_an_archived_school_leaves_every_list_and_screen(
    db, client, app, make_school, make_user, make_room, login, school
):
    other = make_school(name="Washington High", code="WHS")
    teacher = make_user(school, "teacher")
    both = make_user(school, "teacher")
    from shared.models import Membership

    db.session.add(Membership(user_id=both.id, school_id=other.id, role="teacher"))
    room = make_room(school)
    db.session.add(
        Device(
            school_id=school.id,
            kind="kiosk",
            room_id=room.id,
            label="kiosk 101",
            secret_hash=secret_digest("kiosk-secret"),
        )
    )
    db.session.commit()
    kiosk = app.test_client()
    kiosk.set_cookie(DEVICE_COOKIE, "kiosk-secret", domain="passline.test")
    assert _admitted(kiosk.get("/device"))
    teacher_client = login(teacher, on=app.test_client())
    both_client = login(both, on=app.test_client())
    assert teacher_client.get("/hallpass/").status_code == 200

    district = login(make_user(None, district=True))
    assert district.post(f"/schools/{school.id}", data={"action": "archive"}).status_code == 302
    assert _school(db, "LMS").is_archived
    assert "school.archive" in audit_actions(db, school_id=school.id)

    # Its teacher has no school now; its kiosk is refused (its pairing is kept).
    assert "no role at any school" in teacher_client.get("/dashboard").get_data(as_text=True)
    assert teacher_client.get("/hallpass/").status_code == 403
    assert not _admitted(kiosk.get("/device"))
    # Someone at two schools works at the other one; the archived one is not in the picker.
    page = both_client.get("/dashboard").get_data(as_text=True)
    assert "Washington High" in page and "Lincoln Middle School" not in page
    assert both_client.post("/school", data={"school_id": school.id}).status_code == 403
    # The district's list still shows it, archived, to restore.
    listing = district.get("/schools/").get_data(as_text=True)
    assert "Lincoln Middle School" in listing and "archived" in listing

    assert district.post(f"/schools/{school.id}", data={"action": "restore"}).status_code == 302
    assert teacher_client.get("/hallpass/").status_code == 200
    assert _admitted(kiosk.get("/device"))


def test_timezone_choices_are_grouped_and_canonical():
    choices = dict(timezone_choices())
    assert next(iter(choices)) == "America"
    assert "America/New_York" in choices["America"]
    zones = [zone for group in choices.values() for zone in group]
    assert len(zones) == len(set(zones)) > 300
    assert not [zone for zone in zones if zone.startswith(("US/", "Etc/", "SystemV"))]


def test_flask_school_commands(app, db, tmp_path):
    runner = app.test_cli_runner()
    created = runner.invoke(
        args=[
            "school",
            "create",
            "--code",
            "lms",
            "--name",
            "Lincoln",
            "--timezone",
            "America/Chicago",
        ]
    )
    assert created.exit_code == 0, created.output
    duplicate = runner.invoke(
        args=["school", "create", "--code", "LMS", "--name", "Again", "--timezone", "UTC"]
    )
    assert duplicate.exit_code == 1 and "from the list" in duplicate.output
    duplicate = runner.invoke(
        args=["school", "create", "--code", "LMS", "--name", "Again", "--timezone", "Europe/Paris"]
    )
    assert duplicate.exit_code == 1 and "code LMS already" in duplicate.output
    renamed = runner.invoke(args=["school", "update", "lms", "--name", "Lincoln Middle"])
    assert renamed.exit_code == 0, renamed.output
    listed = runner.invoke(args=["school", "list"])
    assert listed.output.splitlines() == ["LMS\tAmerica/Chicago\tactive\tLincoln Middle"]
    assert runner.invoke(args=["school", "archive", "LMS"]).exit_code == 0
    assert "archived" in runner.invoke(args=["school", "list"]).output
    # An archived school is refused where a command works at one.
    (tmp_path / "rooms.csv").write_text("name,kind\n101,classroom\n")
    imported = runner.invoke(args=["roster", "import", str(tmp_path), "--school", "LMS"])
    assert imported.exit_code != 0 and "archived" in imported.output
    admin = runner.invoke(
        args=["create-admin", "--email", "a@example.org", "--school", "LMS"],
        input="a long admin password\na long admin password\n",
    )
    assert admin.exit_code != 0 and "archived" in admin.output
    assert runner.invoke(args=["school", "restore", "LMS"]).exit_code == 0
    assert "active" in runner.invoke(args=["school", "list"]).output
    actions = audit_actions(db)
    assert actions == ["school.create", "school.update", "school.archive", "school.restore"]


def test_school_import_orgs_creates_the_schools_of_a_oneroster_export(app, db, tmp_path):
    """The OneRoster sample's school orgs become schools (linked by sourcedId), once."""
    from shared.roster.files import SAMPLES_DIR

    runner = app.test_cli_runner()
    sample = SAMPLES_DIR / "oneroster"
    args = ["school", "import-orgs", str(sample), "--timezone", "America/Chicago"]
    dry = runner.invoke(args=[*args, "--dry-run"])
    assert dry.exit_code == 0 and "would be created: LMS" in dry.output, dry.output
    assert db.session.scalars(select(School)).all() == []
    created = runner.invoke(args=args)
    assert created.exit_code == 0 and "created: LMS\tLincoln Middle School" in created.output
    school = _school(db, "LMS")
    assert school.sourced_id == "0ced62c7-c05b-5e62-9e1d-98cdc106fd4d"
    assert school.timezone == "America/Chicago"
    assert "exists: LMS" in runner.invoke(args=args).output
    # Its roster then imports without --org: the school knows its org.
    imported = runner.invoke(args=["roster", "import", str(sample), "--school", "LMS"])
    assert imported.exit_code == 0, imported.output
    # An org without a usable identifier refuses the whole file.
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "orgs.csv").write_text(
        "sourcedId,name,type,identifier\na,Good School,school,GOOD\nb,No Code School,school,\n"
    )
    (broken / "users.csv").write_text("sourcedId,orgSourcedIds,role,givenName,familyName\n")
    refused = runner.invoke(args=["school", "import-orgs", str(broken), "--timezone", "UTC"])
    assert refused.exit_code == 1 and "from the list" in refused.output
    refused = runner.invoke(
        args=["school", "import-orgs", str(broken), "--timezone", "America/Denver"]
    )
    assert refused.exit_code == 1 and "row 3" in refused.output and "short code" in refused.output
    assert _school(db, "GOOD") is None


def test_school_import_orgs_links_a_school_by_code_and_refuses_a_taken_code(
    app, db, make_school, tmp_path
):
    """The rule for an org's school (`schools.org_school`, shared with the district roster
    import): a same-code school without an org is linked (its name kept), a school with the
    org's sourcedId is left as it is (even archived, here), and a code another org's school
    holds or another row has refuses the whole file."""
    from shared.timeutil import utcnow

    make_school(name="Adams (old name)", code="AHS")
    make_school(name="Closed", code="CLS", sourced_id="org-c", archived_at=utcnow())
    make_school(name="Other", code="OTH", sourced_id="org-x")
    folder = tmp_path / "orgs"
    folder.mkdir()
    header = "sourcedId,name,type,identifier\n"
    (folder / "orgs.csv").write_text(
        header + "org-a,Adams High,school,AHS\norg-c,Closed School,school,CLS\n"
    )
    (folder / "users.csv").write_text("sourcedId,orgSourcedIds,role,givenName,familyName\n")
    runner = app.test_cli_runner()
    args = ["school", "import-orgs", str(folder), "--timezone", "America/Chicago"]
    done = runner.invoke(args=args)
    assert done.exit_code == 0, done.output
    assert done.output.splitlines() == ["linked: AHS\tAdams (old name)", "exists: CLS\tClosed"]
    assert _school(db, "AHS").sourced_id == "org-a"
    assert audit_actions(db) == ["school.link_org"]
    (folder / "orgs.csv").write_text(
        header + "org-d,Dee One,school,NEW\norg-e,Dee Two,school,new\norg-f,Taken,school,OTH\n"
    )
    refused = runner.invoke(args=args)
    assert refused.exit_code == 1
    assert "orgs.csv row 3: the code NEW is on another row too." in refused.output
    assert "orgs.csv row 4: another school has the code OTH already." in refused.output
    assert _school(db, "NEW") is None

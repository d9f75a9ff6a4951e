"""A district's OneRoster export imported into each of its schools in one run (issue 25).

`flask roster import PATH --district [--create-schools --timezone TZ] [--dry-run]`: every
org of type school in orgs.csv goes into the school that has its sourcedId, one
transaction per school; the bundle is split by org once (shared/roster/district.py).
"""

import zipfile
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from shared.models import Enrollment, School, SchoolClass, Student, User

TODAY = date.today()
START, END = TODAY - timedelta(days=100), TODAY + timedelta(days=100)

ORGS = """sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId
dist,,,Riverside Unified,district,RUSD,
org-a,,,Adams High,school,AHS,dist
org-b,,,Baker Middle,school,BMS,dist
"""
SESSIONS = (
    "sourcedId,status,dateLastModified,title,type,startDate,endDate,parentSourcedId,schoolYear\n"
    f"term,,,Full Year,term,{START},{END},,{END.year}\n"
)
USERS_HEADER = (
    "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,"
    "givenName,familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password\n"
)
USERS = (
    USERS_HEADER
    + """t-a,,,true,org-a,teacher,,,Ada,Teach,,TA,ada@rusd.example,,,,,
t-b,,,true,org-b,teacher,,,Bo,Teach,,TB,bo@rusd.example,,,,,
s-a1,,,true,org-a,student,,,Amy,Adams,,1001,,,,p-1,09,
s-a2,,,true,org-a,student,,,Abe,Adams,,1002,,,,,10,
s-b1,,,true,org-b,student,,,Bea,Baker,,2001,,,,p-1,07,
s-b2,,,true,org-b,student,,,Ben,Baker,,2002,,,,,08,
p-1,,,true,dist,parent,,,Pat,Parent,,,pat@families.example,,,s-a1,,
boss,,,true,dist,districtAdministrator,,,Dee,Boss,,,dee@rusd.example,,,,,
"""
)
CLASSES = (
    (
        "sourcedId,status,dateLastModified,title,grades,courseSourcedId,classCode,classType,"
        "location,schoolSourcedId,termSourcedIds,subjects,subjectCodes,periods\n"
    )
    + """c-a,,,Algebra,09,,,scheduled,Room 1,org-a,term,,,1
c-b,,,Biology,07,,,scheduled,Lab 2,org-b,term,,,2
"""
)
ENROLLMENTS = (
    (
        "sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,role,"
        "primary,beginDate,endDate\n"
    )
    + """e1,,,c-a,org-a,t-a,teacher,true,,
e2,,,c-a,org-a,s-a1,student,false,,
e3,,,c-a,org-a,s-a2,student,false,,
e4,,,c-b,org-b,t-b,teacher,true,,
e5,,,c-b,org-b,s-b1,student,false,,
e6,,,c-b,org-b,s-b2,student,false,,
"""
)


def write_bundle(path, **changes: str):
    files = {
        "manifest.csv": "propertyName,value\noneroster.version,1.1\n",
        "orgs.csv": ORGS,
        "academicSessions.csv": SESSIONS,
        "users.csv": USERS,
        "classes.csv": CLASSES,
        "enrollments.csv": ENROLLMENTS,
        **changes,
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return str(path)


@pytest.fixture
def run(app):
    runner = app.test_cli_runner()

    def invoke(*args: str):
        return runner.invoke(args=["roster", "import", *args])

    return invoke


def students_of(db, code: str) -> list[tuple[str, str, bool]]:
    return list(
        db.session.execute(
            select(Student.student_number, Student.first_name, Student.active)
            .join(School, School.id == Student.school_id)
            .where(School.code == code)
            .order_by(Student.student_number)
        ).all()
    )


def test_every_school_org_is_imported_into_its_own_school(db, run, tmp_path):
    bundle = write_bundle(tmp_path / "district.zip")
    result = run(bundle, "--district", "--create-schools", "--timezone", "America/Chicago")
    assert result.exit_code == 0, result.output
    assert "Adams High (AHS), org org-a: imported, school created" in result.output
    assert "Baker Middle (BMS), org org-b: imported, school created" in result.output
    assert "2 school orgs: 2 imported, 0 not imported." in result.output
    schools = dict(db.session.execute(select(School.code, School.sourced_id)).all())
    assert schools == {"AHS": "org-a", "BMS": "org-b"}
    assert [n for n, _, _ in students_of(db, "AHS")] == ["1001", "1002"]
    assert [n for n, _, _ in students_of(db, "BMS")] == ["2001", "2002"]
    # Each school's class holds its own students only, with its own teacher.
    for code, title, teacher in (("AHS", "Algebra", "ada@rusd.example"),
                                 ("BMS", "Biology", "bo@rusd.example")):  # fmt: skip
        school_class = db.session.scalar(
            select(SchoolClass).join(School).where(School.code == code)
        )
        assert school_class.name == title
        assert [t.email for t in school_class.teachers] == [teacher]
        assert len(school_class.enrollments) == 2
    # The parent (listed at the district org) of a student at each school reaches both
    # schools, found from either direction of agentSourcedIds: each school plans them (they
    # wait for a family) and neither calls them a missing agent.
    school_a, school_b = result.output.split("Baker Middle (BMS)")
    assert "no family has this guardian's students (1001)" in school_a
    assert "no family has this guardian's students (2001)" in school_b
    assert "is not a user in users.csv" not in result.output
    # The district administrator is not imported.
    assert db.session.scalar(select(User).where(User.email == "dee@rusd.example")) is None


def test_running_again_updates_and_never_duplicates(db, run, tmp_path):
    args = ("--district", "--create-schools", "--timezone", "America/Chicago")
    assert run(write_bundle(tmp_path / "one.zip"), *args).exit_code == 0
    renamed = USERS.replace("Abe,Adams", "Abraham,Adams").replace(
        "s-b2,,,true,org-b,student,,,Ben,Baker,,2002,,,,,08,\n", ""
    )
    enrollments = ENROLLMENTS.replace("e6,,,c-b,org-b,s-b2,student,false,,\n", "")
    again = run(
        write_bundle(
            tmp_path / "two.zip", **{"users.csv": renamed, "enrollments.csv": enrollments}
        ),
        *args,
    )
    assert again.exit_code == 0, again.output
    assert "Adams High (AHS), org org-a: imported\n" in again.output  # not created again
    assert db.session.scalar(select(func.count()).select_from(School)) == 2
    assert students_of(db, "AHS") == [("1001", "Amy", True), ("1002", "Abraham", True)]
    assert students_of(db, "BMS") == [("2001", "Bea", True), ("2002", "Ben", False)]
    assert db.session.scalar(select(func.count()).select_from(Student)) == 4
    assert db.session.scalar(select(func.count()).select_from(SchoolClass)) == 2
    assert db.session.scalar(select(func.count()).select_from(Enrollment)) == 3


def test_an_org_without_a_school_is_refused_unless_creating_is_asked(
    db, run, make_school, tmp_path
):
    make_school(name="Adams High", code="AHS", sourced_id="org-a")
    db.session.commit()
    bundle = write_bundle(tmp_path / "district.zip")
    result = run(bundle, "--district")
    assert result.exit_code == 1
    assert "Adams High (AHS), org org-a: imported" in result.output
    assert "Baker Middle, org org-b: NOT imported" in result.output
    assert "no school has this org's sourcedId: add --create-schools" in result.output
    assert db.session.scalar(select(func.count()).select_from(School)) == 1
    assert [n for n, _, _ in students_of(db, "AHS")] == ["1001", "1002"]
    assert run(bundle, "--district", "--create-schools").exit_code == 2  # no --timezone
    created = run(bundle, "--district", "--create-schools", "--timezone", "America/Chicago")
    assert created.exit_code == 0, created.output
    assert [n for n, _, _ in students_of(db, "BMS")] == ["2001", "2002"]


def test_a_school_with_errors_is_refused_alone(db, run, tmp_path):
    broken = USERS.replace("Ben,Baker,,2002,,,,,08", "Ben,Baker,,2002,,,,,99")
    bundle = write_bundle(tmp_path / "district.zip", **{"users.csv": broken})
    result = run(bundle, "--district", "--create-schools", "--timezone", "America/Chicago")
    assert result.exit_code == 1
    assert "Adams High (AHS), org org-a: imported" in result.output
    assert (
        "Baker Middle (BMS), org org-b: NOT imported, the file has errors for it" in result.output
    )
    # The error names the export's own row (users.csv row 7), not a row of the split.
    assert "users.csv row 7, column grades" in result.output
    assert [n for n, _, _ in students_of(db, "AHS")] == ["1001", "1002"]
    assert db.session.scalar(select(School).where(School.code == "BMS")) is None
    assert "1 imported, 1 not imported" in result.output


def test_a_dry_run_writes_nothing(db, run, tmp_path):
    bundle = write_bundle(tmp_path / "district.zip")
    result = run(
        bundle, "--district", "--create-schools", "--timezone", "America/Chicago", "--dry-run"
    )
    assert result.exit_code == 0, result.output
    assert (
        "Adams High (AHS), org org-a: would be imported (dry run), school created" in result.output
    )
    assert "Students: 2 created" in result.output
    assert "Dry run: nothing was written." in result.output
    assert db.session.scalar(select(func.count()).select_from(School)) == 0
    assert db.session.scalar(select(func.count()).select_from(Student)) == 0


def test_district_options_are_checked(run, tmp_path):
    bundle = write_bundle(tmp_path / "district.zip")
    assert "leave out --school" in run(bundle, "--district", "--school", "AHS").output
    assert "goes with --district" in run(bundle, "--create-schools").output
    no_orgs = write_bundle(tmp_path / "no-orgs.zip", **{"orgs.csv": ORGS.split("org-a")[0]})
    refused = run(no_orgs, "--district")
    assert refused.exit_code == 1 and "lists no school org" in refused.output


def test_oneroster_12_roles_route_users_to_their_schools(db, run, tmp_path):
    users = (
        "sourcedId,status,dateLastModified,enabledUser,username,givenName,familyName,"
        "identifier,email,agentSourcedIds\n"
        "t-a,,,true,,Ada,Teach,TA,ada@rusd.example,\n"
        "s-a1,,,true,,Amy,Adams,1001,,p-1\n"
        "s-b1,,,true,,Bea,Baker,2001,,\n"
        "p-1,,,true,,Pat,Parent,,pat@families.example,s-b1\n"
    )
    roles = (
        "sourcedId,status,dateLastModified,userSourcedId,roleType,role,beginDate,endDate,"
        "orgSourcedId\n"
        "r1,,,t-a,primary,teacher,,,org-a\n"
        "r2,,,s-a1,primary,student,,,org-a\n"
        "r3,,,s-b1,primary,student,,,org-b\n"
        "r4,,,p-1,primary,parent,,,dist\n"
    )
    enrollments = ENROLLMENTS.split("e3")[0]
    bundle = write_bundle(
        tmp_path / "district.zip",
        **{
            "manifest.csv": "propertyName,value\noneroster.version,1.2\n",
            "users.csv": users,
            "roles.csv": roles,
            "enrollments.csv": enrollments,
        },
    )
    result = run(bundle, "--district", "--create-schools", "--timezone", "America/Chicago")
    assert result.exit_code == 0, result.output
    assert [n for n, _, _ in students_of(db, "AHS")] == ["1001"]
    assert [n for n, _, _ in students_of(db, "BMS")] == ["2001"]
    assert "is not a user in users.csv" not in result.output
    assert "is not in users.csv" not in result.output


def test_creating_schools_links_one_by_code_and_refuses_archived_and_taken_codes(
    db, run, make_school, tmp_path
):
    """The rule for an org's school (`schools.org_school`, shared with `flask school
    import-orgs`): a school with the org's identifier as its code and no org is linked to
    it; an archived school, or a code another org's school holds, is refused (that school
    alone)."""
    from shared.timeutil import utcnow

    make_school(name="Adams High", code="AHS", sourced_id="org-a", archived_at=utcnow())
    make_school(name="Baker (old name)", code="BMS")
    args = ("--district", "--create-schools", "--timezone", "America/Chicago")
    result = run(write_bundle(tmp_path / "one.zip"), *args)
    assert result.exit_code == 1
    assert "Adams High, org org-a: NOT imported" in result.output
    assert "is archived: restore it (`flask school restore AHS`)" in result.output
    assert "Baker (old name) (BMS), org org-b: imported, school linked to the org" in result.output
    assert students_of(db, "AHS") == []
    assert [n for n, _, _ in students_of(db, "BMS")] == ["2001", "2002"]
    orgs = ORGS.replace("org-a,,,Adams High,school,AHS", "org-c,,,Carver Elementary,school,BMS")
    taken = run(write_bundle(tmp_path / "two.zip", **{"orgs.csv": orgs}), *args)
    assert "Carver Elementary, org org-c: NOT imported" in taken.output
    assert "another school has the code BMS already." in taken.output
    assert db.session.scalar(select(func.count()).select_from(School)) == 2


def test_an_archived_school_is_not_linked_by_its_code(db, run, make_school, tmp_path):
    """Before the one rule (`schools.org_school`), --create-schools linked an archived school
    that had the org's code and imported the roster into it."""
    from shared.timeutil import utcnow

    make_school(name="Baker Middle", code="BMS", archived_at=utcnow())
    args = ("--district", "--create-schools", "--timezone", "America/Chicago")
    result = run(write_bundle(tmp_path / "district.zip"), *args)
    assert result.exit_code == 1
    assert "Baker Middle, org org-b: NOT imported" in result.output
    assert "is archived: restore it (`flask school restore BMS`)" in result.output
    assert db.session.scalar(select(School.sourced_id).where(School.code == "BMS")) is None
    assert students_of(db, "BMS") == []
    assert [n for n, _, _ in students_of(db, "AHS")] == ["1001", "1002"]

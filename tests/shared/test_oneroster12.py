"""OneRoster 1.2 import: manifest, roles.csv and its role table, preferred names, delta."""

from datetime import date

import pytest
from sqlalchemy import select

from shared import roster
from shared.errors import InvalidInput
from shared.models import Enrollment, SchoolClass, Student, User
from tests.shared.test_roster import TODAY, count, student, zip_bytes

SAMPLE_12 = roster.SAMPLES_DIR / "oneroster-1.2"
DELTA_12 = roster.SAMPLES_DIR / "oneroster-1.2-delta"
SCHOOL_ORG = "0ced62c7-c05b-5e62-9e1d-98cdc106fd4d"
DISTRICT_ORG = "ea1009a0-4aed-565b-a199-09bc38fb2c7b"
ROLES_HEADER = (
    "sourcedId,status,dateLastModified,userSourcedId,roleType,role,beginDate,endDate,"
    "orgSourcedId,userProfileSourcedId\n"
)
USERS_HEADER = (
    "sourcedId,status,dateLastModified,enabledUser,username,userIds,givenName,familyName,"
    "middleName,identifier,email,sms,phone,agentSourcedIds,grades,password,"
    "userMasterIdentifier,resourceSourcedIds,preferredGivenName,preferredMiddleName,"
    "preferredFamilyName,primaryOrgSourcedId,pronouns\n"
)


def files_of(folder, **changes: str | bytes | None) -> dict[str, bytes]:
    """A sample folder's files; a change replaces a file, None drops it."""
    files = {path.name: path.read_bytes() for path in folder.glob("*.csv")}
    for name, text in changes.items():
        if text is None:
            files.pop(name, None)
        else:
            files[name] = text.encode() if isinstance(text, str) else text
    return files


def plan_of(school, files: dict[str, bytes], today: date = TODAY) -> roster.Plan:
    return roster.plan_import(school, roster.read_upload(zip_bytes(files), "x.zip"), today=today)


def apply(db, plan: roster.Plan) -> None:
    assert plan.ok, plan.errors
    roster.apply_import(plan, source="test")
    db.session.commit()


def roles_of(db, email: str) -> set[str]:
    user = db.session.scalar(select(User).where(User.email == email))
    return {m.role for m in user.memberships} if user else set()


def warned(plan: roster.Plan) -> dict[tuple, str]:
    return {(w.file, w.row, w.column): w.reason for w in plan.row_warnings}


def user_row(sourced_id: str, given: str, family: str, email: str, **cells: str) -> str:
    values = dict.fromkeys(USERS_HEADER.strip().split(","), "")
    values.update(
        sourcedId=sourced_id, enabledUser="true", username=sourced_id, givenName=given,
        familyName=family, email=email, **cells,
    )  # fmt: skip
    return ",".join(values.values()) + "\n"


def one_user_bundle(role: str, *, org: str = SCHOOL_ORG, **user_cells: str) -> dict[str, bytes]:
    """The 1.2 sample's orgs and manifest with one user holding one role."""
    users = USERS_HEADER + user_row("u1", "Pat", "Doe", "pat.doe@example.org", **user_cells)
    roles = ROLES_HEADER + f"r1,,,u1,primary,{role},,,{org},\n"
    return files_of(
        SAMPLE_12,
        **{"users.csv": users, "roles.csv": roles, "classes.csv": None, "enrollments.csv": None},
    )


# --------------------------------------------------------------------------- the bulk sample


def test_oneroster_12_sample_imports_students_and_staff_roles(db, school):
    plan = roster.plan_import(school, roster.read_path(SAMPLE_12), today=TODAY)
    assert plan.ok, plan.errors
    assert plan.counts()["students"]["created"] == 25
    assert plan.counts()["classes"]["created"] == 5
    assert plan.counts()["enrollments"]["created"] == 50
    apply(db, plan)

    # teacher -> teacher; principal (with a secondary teacher role) -> office, the most
    # rights; counselor -> staff; aide with a current secondary teacher role -> teacher.
    assert roles_of(db, "maria.alvarez@riverside.example.org") == {"teacher"}
    assert roles_of(db, "denise.walker@riverside.example.org") == {"office"}
    assert roles_of(db, "karen.brooks@riverside.example.org") == {"staff"}
    assert roles_of(db, "lena.patel@riverside.example.org") == {"teacher"}
    # districtAdministrator at the district org, a teacher who starts in January, a parent.
    assert roles_of(db, "paul.grant@riverside.example.org") == set()
    assert roles_of(db, "samuel.ortiz@riverside.example.org") == set()
    assert count(db, User, User.email == "thanh.nguyen@example.net") == 0
    assert count(db, User, User.password_hash.is_not(None)) == 0
    reasons = list(warned(plan).values())
    assert any("districtAdministrator is not imported" in r for r in reasons)
    # The sample's parents and relative are guardians (waiting for families), not warned
    # about as roles passline does not import.
    assert not any("not imported as staff" in r for r in reasons)
    assert sum("no family has this guardian's students" in r for r in reasons) == 4
    assert any("roles whose dates do not cover 2026-11-24" in w for w in plan.warnings)

    ava = student(db, school, "260101")
    assert (ava.first_name, ava.last_name, ava.grade, ava.preferred_name) == (
        "Ava", "Nguyen", "6", None,
    )  # fmt: skip
    sofia = student(db, school, "260103")
    assert (sofia.first_name, sofia.preferred_name) == ("Sofia", "Sofi")
    okafor = db.session.scalar(select(User).where(User.email.startswith("james.okafor")))
    assert okafor.name == "Jim Okafor"
    assert school.sourced_id == SCHOOL_ORG

    again = roster.plan_import(school, roster.read_path(SAMPLE_12), today=TODAY)
    assert again.ok and sum(changes.total() for changes in again.kinds.values()) == 0


@pytest.mark.parametrize(
    ("word", "role"),
    [
        ("teacher", "teacher"),
        ("principal", "office"),
        ("siteAdministrator", "office"),
        ("aide", "staff"),
        ("counselor", "staff"),
        ("administrator", "staff"),
    ],
)
def test_each_staff_role_word_maps_to_a_passline_role(db, school, word, role):
    plan = plan_of(school, one_user_bundle(word))
    assert plan.ok, plan.errors
    assert [sorted(c.record.roles) for c in plan.kinds["staff"].created] == [[role]]
    assert not plan.row_warnings


@pytest.mark.parametrize(
    ("word", "reason"),
    [
        ("districtAdministrator", "district rights are given in passline"),
        ("systemAdministrator", "district rights are given in passline"),
        ("proctor", "has no passline role"),
        ("ext:busDriver", "unknown role 'ext:busDriver'"),
    ],
)
def test_role_words_that_are_not_imported_warn_on_their_row(db, school, word, reason):
    plan = plan_of(school, one_user_bundle(word))
    assert plan.ok, plan.errors
    assert plan.kinds["staff"].created == [] and plan.kinds["students"].created == []
    assert reason in warned(plan)[("roles.csv", 2, "role")]


def test_a_district_role_at_the_district_org_warns_and_imports_nothing(db, school):
    plan = plan_of(school, one_user_bundle("districtAdministrator", org=DISTRICT_ORG))
    assert plan.ok and plan.kinds["staff"].created == []
    assert "district rights" in warned(plan)[("roles.csv", 2, "role")]


def test_the_role_with_most_rights_wins_and_dates_decide_which_roles_count(db, school):
    files = one_user_bundle("aide")
    files["roles.csv"] = (
        ROLES_HEADER
        + f"r1,,,u1,primary,aide,,,{SCHOOL_ORG},\n"
        + f"r2,,,u1,secondary,teacher,2026-08-01,2027-06-30,{SCHOOL_ORG},\n"
        + f"r3,,,u1,secondary,principal,2025-08-01,2026-06-30,{SCHOOL_ORG},\n"
        + f"r4,,,u1,secondary,principal,2027-01-04,,{SCHOOL_ORG},\n"
    ).encode()
    plan = plan_of(school, files)
    assert plan.ok, plan.errors
    assert [sorted(c.record.roles) for c in plan.kinds["staff"].created] == [["teacher"]]
    assert any(
        "roles.csv: 2 rows left out, roles whose dates do not cover" in w and "(rows 4, 5)" in w
        for w in plan.warnings
    )
    later = plan_of(school, files, today=date(2027, 2, 1))
    assert [sorted(c.record.roles) for c in later.kinds["staff"].created] == [["office"]]


def test_bad_role_rows_are_errors_by_file_row_and_column(db, school):
    files = one_user_bundle("teacher")
    files["roles.csv"] = (
        ROLES_HEADER
        + f"r1,,,u1,main,teacher,,,{SCHOOL_ORG},\n"
        + f"r2,,,u1,primary,teacher,next fall,,{SCHOOL_ORG},\n"
        + f"r3,,,u1,primary,teacher,2026-09-01,2026-08-01,{SCHOOL_ORG},\n"
        + f"r4,,,nobody,primary,teacher,,,{SCHOOL_ORG},\n"
    ).encode()
    plan = plan_of(school, files)
    errors = {(e.file, e.row, e.column): e.reason for e in plan.errors}
    assert "not a roleType" in errors[("roles.csv", 2, "roleType")]
    assert "not a date" in errors[("roles.csv", 3, "beginDate")]
    assert "before beginDate" in errors[("roles.csv", 4, "endDate")]
    assert "'nobody' is not in users.csv" in errors[("roles.csv", 5, "userSourcedId")]
    with pytest.raises(InvalidInput):
        roster.apply_import(plan, source="test")
    assert count(db, User) == 0


# --------------------------------------------------------------------------- users.csv 1.2


def test_preferred_names_and_the_student_number_fallback(db, school):
    users = (
        USERS_HEADER
        + user_row(
            "s1", "Robert", "Lee", "", grades="07", userMasterIdentifier="TX9001",
            preferredGivenName="Bobby", preferredFamilyName="Li",
        )
        + user_row(
            "t1", "Margaret", "Hill", "m.hill@example.org",
            preferredGivenName="Peggy", preferredFamilyName="Hill-Stone",
        )
    )  # fmt: skip
    roles = (
        ROLES_HEADER
        + f"r1,,,s1,primary,student,,,{SCHOOL_ORG},\n"
        + f"r2,,,t1,primary,teacher,,,{SCHOOL_ORG},\n"
    )
    files = files_of(
        SAMPLE_12,
        **{"users.csv": users, "roles.csv": roles, "classes.csv": None, "enrollments.csv": None},
    )
    plan = plan_of(school, files)
    apply(db, plan)
    bobby = student(db, school, "TX9001")
    assert (bobby.first_name, bobby.last_name, bobby.preferred_name) == ("Robert", "Lee", "Bobby")
    assert (
        "preferred family name 'Li' is not stored"
        in warned(plan)[("users.csv", 2, "preferredFamilyName")]
    )
    hill = db.session.scalar(select(User).where(User.email == "m.hill@example.org"))
    assert hill.name == "Peggy Hill-Stone"


# --------------------------------------------------------------------------- delta


def test_delta_changes_what_it_lists_and_applies_tobedeleted(db, school):
    apply(db, roster.plan_import(school, roster.read_path(SAMPLE_12), today=TODAY))
    enrollments_before = count(db, Enrollment)

    plan = roster.plan_import(school, roster.read_path(DELTA_12), today=TODAY)
    assert plan.ok, plan.errors
    counts = plan.counts()
    assert counts["students"] == {"created": 1, "changed": 1, "deactivated": 1}
    assert counts["enrollments"] == {"created": 2, "removed": 3}
    assert plan.kinds["classes"].total() == 0
    assert plan.kinds["staff"].total() == 0
    apply(db, plan)

    assert not student(db, school, "260102").active  # Liam: tobedeleted
    assert student(db, school, "260107").preferred_name == "Coco"  # Chloe: changed
    emma = student(db, school, "260126")
    assert emma.active and emma.grade == "6"
    # Everyone the delta does not list is left alone: 24 of 25 still active, plus Emma.
    assert count(db, Student, Student.active.is_(True)) == 25
    assert count(db, SchoolClass, SchoolClass.active.is_(True)) == 5
    assert count(db, Enrollment) == enrollments_before - 3 + 2
    ava = student(db, school, "260101")
    ava_classes = {
        c.name
        for c in db.session.scalars(
            select(SchoolClass).join(Enrollment).where(Enrollment.student_id == ava.id)
        )
    }
    assert ava_classes == {"Math 6 - Period 1"}
    math = db.session.scalar(select(SchoolClass).where(SchoolClass.name == "Math 6 - Period 1"))
    assert [t.email for t in math.teachers] == ["maria.alvarez@riverside.example.org"]


def test_the_same_rows_as_bulk_deactivate_what_is_missing(db, school):
    """What the delta must never do: a bulk users.csv deactivates the students it lacks."""
    apply(db, roster.plan_import(school, roster.read_path(SAMPLE_12), today=TODAY))
    manifest = (DELTA_12 / "manifest.csv").read_text().replace(",delta", ",bulk")
    plan = plan_of(school, files_of(DELTA_12, **{"manifest.csv": manifest}))
    # All 25: those it does not list, Liam (tobedeleted), and Chloe, who has no role row.
    assert plan.counts()["students"]["deactivated"] == 25


def test_a_delta_for_a_school_not_linked_to_its_org_is_refused(db, school):
    plan = roster.plan_import(school, roster.read_path(DELTA_12), today=TODAY)
    assert [(e.file, e.column) for e in plan.errors] == [("orgs.csv", None)]
    assert "not linked to a OneRoster org" in plan.errors[0].reason


def test_a_delta_role_adds_a_role_to_a_known_account(db, school):
    apply(db, roster.plan_import(school, roster.read_path(SAMPLE_12), today=TODAY))
    karen = db.session.scalar(select(User).where(User.email.startswith("karen.brooks")))
    manifest = (DELTA_12 / "manifest.csv").read_text()
    roles = ROLES_HEADER + f"r9,active,,{karen.sourced_id},secondary,teacher,,,{SCHOOL_ORG},\n"
    plan = plan_of(
        school,
        {"manifest.csv": manifest.encode(), "roles.csv": roles.encode()},
    )
    apply(db, plan)
    assert roles_of(db, karen.email) == {"staff", "teacher"}
    assert count(db, Student, Student.active.is_(True)) == 25


# --------------------------------------------------------------------------- manifest


def test_an_unknown_version_is_refused_with_a_clear_message(db, school):
    manifest = (
        (SAMPLE_12 / "manifest.csv")
        .read_text()
        .replace("oneroster.version,1.2", "oneroster.version,2.0")
    )
    plan = plan_of(school, files_of(SAMPLE_12, **{"manifest.csv": manifest}))
    assert [(e.file, e.row, e.column) for e in plan.errors] == [("manifest.csv", 3, "value")]
    assert "version '2.0' is not one passline reads" in plan.errors[0].reason
    assert plan.counts() == {}
    with pytest.raises(InvalidInput):
        roster.apply_import(plan, source="test")


def test_a_file_the_manifest_calls_absent_is_ignored(db, school):
    manifest = (
        (SAMPLE_12 / "manifest.csv")
        .read_text()
        .replace("file.enrollments,bulk", "file.enrollments,absent")
    )
    plan = plan_of(school, files_of(SAMPLE_12, **{"manifest.csv": manifest}))
    assert plan.ok, plan.errors
    assert "enrollments" not in plan.counts()
    assert any(w.startswith("enrollments.csv is ignored") for w in plan.warnings)


def test_a_bad_processing_mode_is_an_error(db, school):
    manifest = (
        (SAMPLE_12 / "manifest.csv").read_text().replace("file.users,bulk", "file.users,full")
    )
    plan = plan_of(school, files_of(SAMPLE_12, **{"manifest.csv": manifest}))
    assert any("not a processing mode" in e.reason for e in plan.errors)


@pytest.mark.parametrize(
    "demographics",
    [
        b"\xff\xfe\x00garbage,,,\n\x00\x01",
        (
            b"sourcedId,status,dateLastModified,birthDate,sex,americanIndianOrAlaskaNative,"
            b"asian,blackOrAfricanAmerican,nativeHawaiianOrOtherPacificIslander,white,"
            b"demographicRaceTwoOrMoreRaces,hispanicOrLatinoEthnicity,countryOfBirthCode,"
            b"stateOfBirthAbbreviation,cityOfBirth,publicSchoolResidenceStatus\n"
            b"640aa19a-0c64-536a-9bb6-b740d3d47542,,,2014-03-02,female,false,true,false,false,"
            b"false,false,false,US,TX,Austin,01652\n"
        ),
    ],
)
def test_demographics_is_never_read(db, school, demographics):
    plan = plan_of(school, files_of(SAMPLE_12, **{"demographics.csv": demographics}))
    assert plan.ok, plan.errors
    assert any("demographics.csv is not read" in w for w in plan.warnings)
    apply(db, plan)
    ava = student(db, school, "260101")
    stored = {str(v) for v in ava.__dict__.values()}
    assert not stored & {"2014-03-02", "female", "Austin", "TX", "01652"}


# --------------------------------------------------------------------------- 1.1 as before


def test_the_11_sample_reads_the_same_with_or_without_its_manifest(db, school):
    folder = roster.SAMPLES_DIR / "oneroster"
    with_manifest = plan_of(school, files_of(folder))
    without = plan_of(school, files_of(folder, **{"manifest.csv": None}))
    assert with_manifest.ok and without.ok
    assert with_manifest.counts() == without.counts()
    assert with_manifest.counts()["staff"]["created"] == 4
    assert with_manifest.warnings == without.warnings


def test_the_12_samples_download_as_zips(db, school):
    import io
    import zipfile

    names = zipfile.ZipFile(io.BytesIO(roster.sample_zip("oneroster-1.2"))).namelist()
    assert "roles.csv" in names and "users.csv" in names
    delta = zipfile.ZipFile(io.BytesIO(roster.sample_zip("oneroster-1.2-delta"))).namelist()
    assert "manifest.csv" in delta and "orgs.csv" not in delta

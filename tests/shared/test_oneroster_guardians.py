"""OneRoster guardians: parent, guardian and relative users joined to their students' family.

The samples share their students with the passline CSV sample, whose families.csv gives
those students families (tags 101-104); OneRoster has no families, so each test gives the
school the CSV sample's families first.
"""

import re

import pytest
from sqlalchemy import select

from shared import roster
from shared.models import Family, Guardian, GuardianSession, User
from tests.shared.test_oneroster12 import (
    DELTA_12,
    SAMPLE_12,
    SCHOOL_ORG,
    USERS_HEADER,
    apply,
    files_of,
    plan_of,
    roles_of,
    warned,
)
from tests.shared.test_roster import TODAY, count, zip_bytes
from tests.shared.test_roster_views import imports as imports  # the uploads fixture
from tests.shared.test_roster_views import token_of, upload

SAMPLE_11 = roster.SAMPLES_DIR / "oneroster"
CSV_SAMPLE = roster.SAMPLES_DIR / "csv"
THANH = "7a642fab-6c55-5812-906c-a57a607dd011"
SARAH = "fdf56ea1-11fa-58ff-89c1-58f27dcd9f2c"
KIM = "508cca8c-0135-5868-a542-1a2326d348b4"
AVA = "640aa19a-0c64-536a-9bb6-b740d3d47542"


def csv_families(db, school, *, with_guardians: bool = False) -> None:
    """The CSV sample's students and families (tags 101-104), and its guardians if asked."""
    drop = {} if with_guardians else {"guardians.csv": None}
    apply(db, plan_of(school, files_of(CSV_SAMPLE, **drop)))


def guardians(db) -> dict[str, Guardian]:
    return {g.name: g for g in db.session.scalars(select(Guardian))}


def tag_of(db, guardian: Guardian) -> int:
    return db.session.get(Family, guardian.family_id).tag_number


def users_11(*extra: str, replace: tuple[str, str] | None = None) -> str:
    text = (SAMPLE_11 / "users.csv").read_text()
    if replace is not None:
        assert replace[0] in text
        text = text.replace(*replace)
    return text + "".join(extra)


def guardian_11(sourced_id: str, email: str, agents: str, role: str = "parent", **cells) -> str:
    """A 1.1 users.csv row of a guardian."""
    values = {
        "sourcedId": sourced_id, "status": "", "dateLastModified": "", "enabledUser": "true",
        "orgSourcedIds": SCHOOL_ORG, "role": role, "username": sourced_id, "userIds": "",
        "givenName": "Pat", "familyName": "Doe", "middleName": "", "identifier": "",
        "email": email, "sms": "", "phone": "", "agentSourcedIds": agents, "grades": "",
        "password": "",
    }  # fmt: skip
    values.update(cells)
    return ",".join(f'"{v}"' if "," in v else v for v in values.values()) + "\n"


# --------------------------------------------------------------------------- the samples


@pytest.mark.parametrize("sample", [SAMPLE_11, SAMPLE_12], ids=["1.1", "1.2"])
def test_sample_guardians_join_their_students_families(db, school, sample):
    csv_families(db, school)
    plan = plan_of(school, files_of(sample))
    assert plan.ok, plan.errors
    assert plan.counts()["guardians"] == {"created": 4, "changed": 0, "removed": 0}
    assert sorted(c.label for c in plan.kinds["guardians"].created)[0] == (
        "Elena Martinez (tag 103)" if sample == SAMPLE_11 else "Helena Martinez (tag 103)"
    )
    apply(db, plan)

    found = guardians(db)
    # Thanh Nguyen lists both children (Ava 260101, Mia 260109: family 101); Sarah Johnson
    # is named by her son Liam's agentSourcedIds (the other direction): family 102.
    thanh, sarah = found["Thanh Nguyen"], found["Sarah Johnson"]
    assert (tag_of(db, thanh), thanh.relationship, thanh.mobile) == (
        101,
        "Parent",
        "+1 555 010 0101",
    )
    assert (tag_of(db, sarah), sarah.email, sarah.mobile) == (
        102, "sarah.johnson@example.net", "555-010-0102",
    )  # fmt: skip
    # 1.2 gives Elena a preferred given name, used as for staff accounts.
    elena = found["Elena Martinez" if sample == SAMPLE_11 else "Helena Martinez"]
    assert tag_of(db, elena) == 103
    # Kim Thomas is a relative at the district org: guardian of Lucas and Layla (104).
    kim = found["Kim Thomas"]
    assert (tag_of(db, kim), kim.relationship, kim.sourced_id) == (104, "Relative", KIM)
    assert all(g.may_pick_up and g.language == "en" and g.sourced_id for g in found.values())
    # Never a staff account.
    assert count(db, User, User.email.in_([g.email for g in found.values()])) == 0
    assert not any("not imported as staff" in r for r in warned(plan).values())

    again = plan_of(school, files_of(sample))
    assert again.ok and sum(changes.total() for changes in again.kinds.values()) == 0


def test_without_families_a_guardian_is_a_row_warning_and_nothing_is_written(db, school):
    plan = plan_of(school, files_of(SAMPLE_11))
    assert plan.ok and plan.kinds["guardians"].total() == 0
    reason = warned(plan)[("users.csv", 31, "agentSourcedIds")]
    assert "no family has this guardian's students (260101, 260109)" in reason
    apply(db, plan)
    assert count(db, Guardian) == 0


def test_a_guardian_of_students_in_two_families_is_a_row_warning(db, school, make_family):
    csv_families(db, school)
    liam = db.session.scalar(select(Family).where(Family.tag_number == 102)).students[0]
    make_family(school, 999, liam)  # Liam is in a carpool family too
    plan = plan_of(school, files_of(SAMPLE_11))
    assert plan.ok and plan.counts()["guardians"]["created"] == 3
    lines = (SAMPLE_11 / "users.csv").read_text().splitlines()
    sarah_row = next(i + 1 for i, line in enumerate(lines) if line.startswith(SARAH))
    assert (
        "several families (tags 102, 999)"
        in warned(plan)[("users.csv", sarah_row, "agentSourcedIds")]
    )


# --------------------------------------------------------------------------- re-imports


def test_reimport_links_the_office_or_csv_guardian_and_updates_by_sourced_id(db, school):
    csv_families(db, school, with_guardians=True)  # Thanh, Linh, Elena, Carlos, Kim
    plan = plan_of(school, files_of(SAMPLE_11))
    assert plan.ok, plan.errors
    # Thanh, Elena and Kim are matched by email in their family and linked; Sarah is new.
    assert plan.counts()["guardians"] == {"created": 1, "changed": 3, "removed": 0}
    assert {c.detail for c in plan.kinds["guardians"].changed} == {"sourced id"}
    apply(db, plan)
    assert count(db, Guardian) == 6
    thanh = guardians(db)["Thanh Nguyen"]
    # The CSV's "Mother" is more precise than OneRoster's "Parent": kept.
    assert (thanh.sourced_id, thanh.relationship) == (THANH, "Mother")

    # The SIS renames her and changes her address: the same guardian, updated.
    renamed = users_11(
        replace=("Thanh,Nguyen,,,thanh.nguyen@example.net", "Thanh,Tran,,,THANH.TRAN@example.net")
    )
    plan = plan_of(school, files_of(SAMPLE_11, **{"users.csv": renamed}))
    assert plan.counts()["guardians"] == {"created": 0, "changed": 1, "removed": 0}
    apply(db, plan)
    assert count(db, Guardian) == 6
    same = db.session.get(Guardian, thanh.id)
    assert (same.name, same.email, same.relationship) == (
        "Thanh Tran", "thanh.tran@example.net", "Mother",
    )  # fmt: skip


def test_a_bulk_import_leaves_guardians_it_does_not_list_alone(db, school):
    csv_families(db, school)
    apply(db, plan_of(school, files_of(SAMPLE_11)))
    # Sarah's row goes, and so does her son's link to her.
    without_sarah = "".join(
        line for line in users_11().splitlines(keepends=True) if not line.startswith(SARAH)
    ).replace(SARAH, "")
    plan = plan_of(school, files_of(SAMPLE_11, **{"users.csv": without_sarah}))
    assert plan.ok and plan.kinds["guardians"].total() == 0
    apply(db, plan)
    assert "Sarah Johnson" in guardians(db)


def test_a_delta_marked_tobedeleted_removes_the_guardian_and_ends_sessions(db, school):
    csv_families(db, school)
    apply(db, plan_of(school, files_of(SAMPLE_12)))
    sarah = guardians(db)["Sarah Johnson"]
    db.session.add(GuardianSession(school_id=school.id, guardian_id=sarah.id, token_hash="x" * 64))
    db.session.commit()

    delta = roster.plan_import(school, roster.read_path(DELTA_12), today=TODAY)
    assert delta.ok, delta.errors
    assert [c.label for c in delta.kinds["guardians"].removed] == ["Sarah Johnson (tag 102)"]
    assert delta.counts()["guardians"] == {"created": 0, "changed": 0, "removed": 1}
    apply(db, delta)
    assert "Sarah Johnson" not in guardians(db) and count(db, Guardian) == 3
    assert count(db, GuardianSession) == 0


# --------------------------------------------------------------------------- row problems


def test_a_guardian_with_a_bad_email_or_phone_is_a_row_error(db, school):
    csv_families(db, school)
    users = users_11(
        guardian_11("g-bad-mail", "not an address", AVA),
        guardian_11("g-bad-phone", "ok@example.net", AVA, phone="call me"),
    )
    plan = plan_of(school, files_of(SAMPLE_11, **{"users.csv": users}))
    rows = len(users.splitlines())
    errors = {(e.file, e.row, e.column): e.reason for e in plan.errors}
    assert not plan.ok
    assert "valid email address" in errors[("users.csv", rows - 1, "email")]
    assert "phone number" in errors[("users.csv", rows, "phone")]


def test_an_unknown_agent_is_a_row_warning_on_the_row_that_names_it(db, school):
    csv_families(db, school)
    users = users_11(
        guardian_11("g-1", "pat@example.net", f"{AVA},nobody-here"),
        replace=(
            "liam.johnson@students.riverside.example.org,,,fdf56ea1",
            "liam.johnson@students.riverside.example.org,,,ghost-parent;fdf56ea1",
        ),
    )
    plan = plan_of(school, files_of(SAMPLE_11, **{"users.csv": users}))
    assert plan.ok, plan.errors
    lines = users.splitlines()
    liam_row = next(i + 1 for i, line in enumerate(lines) if ",260102," in line)
    found = warned(plan)
    assert (
        "agent 'nobody-here' is not a user" in found[("users.csv", len(lines), "agentSourcedIds")]
    )
    assert "agent 'ghost-parent' is not a user" in found[("users.csv", liam_row, "agentSourcedIds")]
    # The links that are known still count: Pat joins Ava's family, Sarah Liam's.
    labels = {c.label for c in plan.kinds["guardians"].created}
    assert {"Pat Doe (tag 101)", "Sarah Johnson (tag 102)"} <= labels


@pytest.mark.parametrize("word", ["parent", "guardian", "relative"])
def test_a_guardian_role_word_is_a_guardian_never_a_staff_account(db, school, word):
    csv_families(db, school)
    users = (
        USERS_HEADER
        + (f"u1,,,true,u1,,Pat,Doe,,,pat@example.net,,,{AVA},,,,,,,,{SCHOOL_ORG},\n")
        + "".join(
            line + "\n"
            for line in (SAMPLE_12 / "users.csv").read_text().splitlines()[1:]
            if ",260101," in line
        )
    )
    roles = (
        "sourcedId,status,dateLastModified,userSourcedId,roleType,role,beginDate,endDate,"
        f"orgSourcedId,userProfileSourcedId\nr1,,,u1,primary,{word},,,{SCHOOL_ORG},\n"
        f"r2,,,{AVA},primary,student,,,{SCHOOL_ORG},\n"
    )
    files = files_of(
        SAMPLE_12,
        **{"users.csv": users, "roles.csv": roles, "classes.csv": None, "enrollments.csv": None},
    )
    plan = plan_of(school, files)
    assert plan.ok, plan.errors
    assert plan.kinds["staff"].created == [] and not plan.row_warnings
    [created] = plan.kinds["guardians"].created
    assert created.label == "Pat Doe (tag 101)" and created.detail == word.capitalize()
    apply(db, plan)
    assert roles_of(db, "pat@example.net") == set()


def test_a_teacher_who_is_also_a_parent_is_both(db, school):
    csv_families(db, school)
    users = (
        USERS_HEADER
        + (f"u1,,,true,u1,,Pat,Doe,,,pat@example.net,,,{AVA},,,,,,,,{SCHOOL_ORG},\n")
        + "".join(
            line + "\n"
            for line in (SAMPLE_12 / "users.csv").read_text().splitlines()[1:]
            if ",260101," in line
        )
    )
    roles = (
        "sourcedId,status,dateLastModified,userSourcedId,roleType,role,beginDate,endDate,"
        f"orgSourcedId,userProfileSourcedId\nr1,,,u1,primary,teacher,,,{SCHOOL_ORG},\n"
        f"r2,,,u1,secondary,parent,,,{SCHOOL_ORG},\n"
        f"r3,,,{AVA},primary,student,,,{SCHOOL_ORG},\n"
    )
    files = files_of(
        SAMPLE_12,
        **{"users.csv": users, "roles.csv": roles, "classes.csv": None, "enrollments.csv": None},
    )
    apply(db, plan_of(school, files))
    assert roles_of(db, "pat@example.net") == {"teacher"}
    assert tag_of(db, guardians(db)["Pat Doe"]) == 101


def test_the_preview_lists_guardians_to_add_and_a_delta_to_remove(
    client, db, school, make_user, login, imports
):
    csv_families(db, school)
    login(make_user(school, "admin"))
    token = token_of(upload(client, zip_bytes(files_of(SAMPLE_12)), "export.zip"))
    html = client.get(f"/admin/roster/preview/{token}").get_data(as_text=True)
    assert re.search(r"<td>Guardians</td><td>4</td><td>0</td><td></td><td>0</td>", html)
    assert "Sarah Johnson (tag 102)" in html and "Kim Thomas (tag 104)" in html
    apply(db, plan_of(school, files_of(SAMPLE_12)))

    token = token_of(upload(client, zip_bytes(files_of(DELTA_12)), "delta.zip"))
    html = client.get(f"/admin/roster/preview/{token}").get_data(as_text=True)
    assert re.search(r"<td>Guardians</td><td>0</td><td>0</td><td></td><td>1</td>", html)
    assert "Sarah Johnson (tag 102)" in html


def test_a_delta_updates_a_stored_guardian_it_lists_without_a_role_row(db, school):
    csv_families(db, school)
    apply(db, plan_of(school, files_of(SAMPLE_12)))
    thanh = next(
        line
        for line in (SAMPLE_12 / "users.csv").read_text().splitlines()
        if line.startswith(THANH)
    )
    users = USERS_HEADER + thanh.replace("+1 555 010 0101", "+1 555 010 0999") + "\n"
    roles = (DELTA_12 / "roles.csv").read_text().splitlines()[0] + "\n"
    delta = plan_of(
        school,
        files_of(DELTA_12, **{"users.csv": users, "roles.csv": roles, "enrollments.csv": None}),
    )
    assert delta.ok, delta.errors
    assert [c.detail for c in delta.kinds["guardians"].changed] == ["mobile number"]
    apply(db, delta)
    assert guardians(db)["Thanh Nguyen"].mobile == "+1 555 010 0999"
    assert count(db, Guardian) == 4

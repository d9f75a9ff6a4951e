"""Roster import services: reading input safely, planning (dry run) and applying."""

import io
import os
import stat
import zipfile
from datetime import date, time

import pytest
from sqlalchemy import event, func, select

from shared import roster
from shared.errors import InvalidInput, NotFound
from shared.models import (
    AuditEvent,
    BellPeriod,
    Enrollment,
    Family,
    Membership,
    Room,
    SchoolClass,
    Student,
    User,
)
from tests.helpers import PASSWORD

TODAY = date(2026, 11, 24)

STAFF = "email,name,roles\nann@example.org,Ann Lee,teacher\nbob@example.org,Bob Ray,teacher;staff\n"
STUDENTS = (
    "student_number,first_name,last_name,preferred_name,grade\n"
    "1001,Ava,Nguyen,,6\n"
    "1002,Liam,Johnson,,07\n"
    "1003,Sofia,Martinez,Sofi,K\n"
)
CLASSES = (
    "class_id,name,room,period,teacher_emails\n"
    "M6,Math 6,Room 101,1,ann@example.org\n"
    "E7,English 7,Room 104,2,bob@example.org;ann@example.org\n"
)
ENROLLMENTS = "class_id,student_number\nM6,1001\nE7,1002\nE7,1001\n"


def zip_bytes(members: dict[str, str | bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def bundle(**files: str | bytes) -> roster.Bundle:
    return roster.read_upload(
        zip_bytes({f"{kind}.csv": text for kind, text in files.items()}), "roster.zip"
    )


def plan(school, today=TODAY, **files) -> roster.Plan:
    return roster.plan_import(school, bundle(**files), today=today)


def run(db, school, **files) -> roster.Plan:
    result = plan(school, **files)
    assert result.ok, result.errors
    roster.apply_import(result, source="test")
    db.session.commit()
    return result


def count(db, model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def student(db, school, number) -> Student:
    return db.session.scalar(
        select(Student).where(Student.school_id == school.id, Student.student_number == number)
    )


def oneroster_files(**changes: str) -> dict[str, bytes]:
    """The sample OneRoster bundle, with some files replaced."""
    folder = roster.SAMPLES_DIR / "oneroster"
    files = {path.name: path.read_bytes() for path in folder.glob("*.csv")}
    files.update({name: text.encode() for name, text in changes.items()})
    return files


def sample_users() -> str:
    return (roster.SAMPLES_DIR / "oneroster" / "users.csv").read_text()


# --------------------------------------------------------------------------- passline CSV


def test_csv_sample_set_imports_every_kind(db, school):
    result = roster.plan_import(school, roster.read_path(roster.SAMPLES_DIR / "csv"), today=TODAY)
    assert result.ok, result.errors
    assert result.format == "csv"
    counts = result.counts()
    assert counts["students"] == {"created": 10, "changed": 0, "deactivated": 0}
    assert counts["bell_schedule"]["created"] == 35
    roster.apply_import(result, source="test")
    db.session.commit()

    assert count(db, Room, Room.school_id == school.id) == 9
    assert db.session.scalar(select(Room.kind).where(Room.name == "Nurse")) == "nurse"
    assert count(db, Student, Student.school_id == school.id) == 10
    sofia = student(db, school, "260103")
    assert (sofia.preferred_name, sofia.grade, sofia.display_name) == ("Sofi", "6", "Sofi Martinez")
    pe = db.session.scalar(select(SchoolClass).where(SchoolClass.sourced_id == "PE78-05"))
    assert pe.room.name == "Gym" and pe.period == "5"
    assert sorted(t.email for t in pe.teachers) == [
        "james.okafor@riverside.example.org",
        "maria.alvarez@riverside.example.org",
    ]
    assert count(db, Enrollment) == 14
    wednesday = db.session.scalar(
        select(BellPeriod).where(BellPeriod.name == "2", BellPeriod.weekday == 2)
    )
    assert (wednesday.start_time, wednesday.end_time) == (time(9, 30), time(10, 10))
    assert count(db, BellPeriod, BellPeriod.name == "2") == 5
    family = db.session.scalar(select(Family).where(Family.tag_number == 103))
    assert family.pickup_adults == "Elena Martinez\nJorge Martinez\nAbuela Rosa Martinez"
    tag_101 = db.session.scalar(select(Family).where(Family.tag_number == 101))
    assert sorted(s.student_number for s in tag_101.students) == ["260101", "260109"]
    james = db.session.scalar(select(User).where(User.email.startswith("james.okafor")))
    assert james.sourced_id == "T1002"
    assert {m.role for m in james.memberships} == {"teacher", "staff"}


def test_every_import_is_audited_once_with_counts_and_no_secrets(db, school):
    run(db, school, staff=STAFF, students=STUDENTS)
    events = db.session.scalars(select(AuditEvent)).all()
    assert [e.action for e in events] == ["roster.import"]
    event_ = events[0]
    assert event_.school_id == school.id and event_.actor_label == "system"
    assert event_.detail["counts"]["students"]["created"] == 3
    assert event_.detail["counts"]["staff"]["created"] == 2
    assert event_.detail["format"] == "csv"
    assert "password" not in str(event_.detail).lower()


def test_reimport_updates_instead_of_duplicating(db, school):
    run(db, school, staff=STAFF, students=STUDENTS, classes=CLASSES, enrollments=ENROLLMENTS)
    again = plan(school, staff=STAFF, students=STUDENTS, classes=CLASSES, enrollments=ENROLLMENTS)
    assert again.ok and all(changes.total() == 0 for changes in again.kinds.values())

    moved = STUDENTS.replace("1002,Liam,Johnson,,07", "1002,Liam,Johnson-Reyes,,8")
    result = run(db, school, students=moved, classes=CLASSES.replace("Room 104", "Room 201"))
    assert result.counts()["students"] == {"created": 0, "changed": 1, "deactivated": 0}
    assert "grade 7 -> 8" in result.kinds["students"].changed[0].detail
    assert result.counts()["classes"] == {"created": 0, "changed": 1, "deactivated": 0}
    assert count(db, Student) == 3
    assert count(db, SchoolClass) == 2
    assert count(db, Enrollment) == 3  # no enrollments file: left alone
    liam = student(db, school, "1002")
    assert (liam.last_name, liam.grade) == ("Johnson-Reyes", "8")
    english = db.session.scalar(select(SchoolClass).where(SchoolClass.sourced_id == "E7"))
    assert english.room.name == "Room 201"


def test_students_are_matched_by_sourced_id_when_their_number_changes(db, school):
    with_ids = "student_number,first_name,last_name,grade,sourced_id\n1001,Ava,Nguyen,6,S-1\n"
    run(db, school, students=with_ids)
    run(db, school, students=with_ids.replace("1001", "2001"))
    assert count(db, Student) == 1
    assert student(db, school, "2001").sourced_id == "S-1"


def test_dry_run_writes_nothing(db, school):
    result = plan(school, staff=STAFF, students=STUDENTS, classes=CLASSES, enrollments=ENROLLMENTS)
    assert result.ok and result.counts()["enrollments"]["created"] == 3
    db.session.commit()
    db.session.expire_all()
    for model in (User, Student, SchoolClass, Room, Enrollment, AuditEvent):
        assert count(db, model) == 0


def test_one_bad_row_writes_nothing_and_says_where(db, school):
    bad = STUDENTS + "1004,Noah,Williams,,13\n"
    result = plan(school, staff=STAFF, students=bad, classes=CLASSES)
    assert result.errors == [
        roster.RowError("students.csv", 5, "grade", "'13' is not a grade; use PK, K or 1-12")
    ]
    assert str(result.errors[0]) == (
        "students.csv row 5, column grade: '13' is not a grade; use PK, K or 1-12"
    )
    with pytest.raises(InvalidInput):
        roster.apply_import(result, source="test")
    db.session.commit()
    assert count(db, Student) == 0 and count(db, User) == 0 and count(db, AuditEvent) == 0


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"staff": "email,name,roles\nnot-an-email,Ann,teacher\n"}, ("staff.csv", 2, "email")),
        ({"staff": "email,name,roles\na@example.org,Ann,admin\n"}, ("staff.csv", 2, "roles")),
        ({"staff": "email,name,roles\na@example.org,Ann,janitor\n"}, ("staff.csv", 2, "roles")),
        ({"staff": "email,name,roles\na@example.org,Ann,\n"}, ("staff.csv", 2, "roles")),
        (
            {"staff": "email,name,roles\na@example.org,Ann,teacher\nA@example.org,Al,staff\n"},
            ("staff.csv", 3, "email"),
        ),
        ({"rooms": "name,kind\nRoom 1,closet\n"}, ("rooms.csv", 2, "kind")),
        ({"rooms": f"name,kind\n{'x' * 101},classroom\n"}, ("rooms.csv", 2, "name")),
        ({"rooms": "name,kind\nGym,classroom\ngym,other\n"}, ("rooms.csv", 3, "name")),
        (
            {"students": "student_number,first_name,last_name\n1,Ava,\n"},
            ("students.csv", 2, "last_name"),
        ),
        (
            {"students": "student_number,first_name,last_name\n1,Ava,N\n1,Bo,M\n"},
            ("students.csv", 3, "student_number"),
        ),
        ({"students": "student_number,first_name\n1,Ava\n"}, ("students.csv", 1, "last_name")),
        (
            {"classes": "class_id,name,teacher_emails\nM6,Math,nobody@example.org\n"},
            ("classes.csv", 2, "teacher_emails"),
        ),
        ({"enrollments": "class_id,student_number\nM6,1001\n"}, ("enrollments.csv", 2, "class_id")),
        (
            {
                "classes": "class_id,name\nM6,Math\n",
                "enrollments": "class_id,student_number\nM6,9\n",
            },
            ("enrollments.csv", 2, "student_number"),
        ),
        (
            {"classes": "class_id,name\nM6,Math\nM6,Math again\n"},
            ("classes.csv", 3, "class_id"),
        ),
        (
            {"bell_schedule": "period,days,start,end\n1,Mon-Funday,08:00,09:00\n"},
            ("bell_schedule.csv", 2, "days"),
        ),
        (
            {"bell_schedule": "period,days,start,end\n1,Mon,8am,09:00\n"},
            ("bell_schedule.csv", 2, "start"),
        ),
        (
            {"bell_schedule": "period,days,start,end\n1,Mon,09:00,08:00\n"},
            ("bell_schedule.csv", 2, "end"),
        ),
        (
            {"bell_schedule": "period,days,start,end\n1,Mon-Fri,08:00,09:00\n1,Wed,10:00,11:00\n"},
            ("bell_schedule.csv", 3, "days"),
        ),
        ({"families": "tag_number,student_numbers\n0,1001\n"}, ("families.csv", 2, "tag_number")),
        ({"families": "tag_number,student_numbers\n-4,1001\n"}, ("families.csv", 2, "tag_number")),
        (
            {"families": "tag_number,student_numbers\n7,\n"},
            ("families.csv", 2, "student_numbers"),
        ),
        (
            {"families": "tag_number,student_numbers\n7,1001\n"},
            ("families.csv", 2, "student_numbers"),
        ),
        (
            {"students": STUDENTS, "families": "tag_number,student_numbers\n7,1001\n7,1002\n"},
            ("families.csv", 3, "tag_number"),
        ),
        ({"rooms": "name,kind\nGym,classroom,extra\n"}, ("rooms.csv", 2, None)),
    ],
)
def test_row_errors_name_file_row_and_column(db, school, files, expected):
    result = plan(school, **files)
    assert [(e.file, e.row, e.column) for e in result.errors] == [expected]
    assert result.errors[0].reason


def test_extra_columns_blank_rows_and_a_bom_are_tolerated(db, school):
    text = "\ufeffStudent_Number,First_Name,Last_Name,Homeroom\n1,Ava,Nguyen,12B\n,,,\n"
    result = plan(school, students=text.encode("utf-8"))
    assert result.ok, result.errors
    assert result.counts()["students"]["created"] == 1


def test_non_utf8_file_is_a_clear_error(db, school):
    text = "student_number,first_name,last_name\n1,Zoë,Müller\n"
    result = plan(school, students=text.encode("latin-1"))
    assert len(result.errors) == 1
    error = result.errors[0]
    assert (error.file, error.row, error.column) == ("students.csv", None, None)
    assert "UTF-8" in error.reason


def test_disappearing_students_and_classes_are_deactivated_not_deleted(db, school):
    run(db, school, staff=STAFF, students=STUDENTS, classes=CLASSES, enrollments=ENROLLMENTS)
    fewer_students = STUDENTS.replace("1003,Sofia,Martinez,Sofi,K\n", "")
    fewer_classes = CLASSES.replace("M6,Math 6,Room 101,1,ann@example.org\n", "")
    result = run(
        db,
        school,
        students=fewer_students,
        classes=fewer_classes,
        enrollments="class_id,student_number\nE7,1002\n",
    )
    assert [c.label for c in result.kinds["students"].deactivated] == ["Sofia Martinez (1003)"]
    assert [c.label for c in result.kinds["classes"].deactivated] == ["Math 6 (M6)"]
    assert result.counts()["enrollments"] == {"created": 0, "removed": 2}
    assert count(db, Student) == 3
    assert student(db, school, "1003").active is False
    math = db.session.scalar(select(SchoolClass).where(SchoolClass.sourced_id == "M6"))
    assert math.active is False
    assert count(db, Enrollment) == 1

    back = run(db, school, students=STUDENTS)
    assert back.kinds["students"].changed[0].detail == "reactivated"
    assert student(db, school, "1003").active is True


def test_an_import_without_a_students_file_leaves_students_alone(db, school):
    run(db, school, students=STUDENTS)
    result = run(db, school, rooms="name,kind\nNurse,nurse\n")
    assert "students" not in result.counts()
    assert count(db, Student, Student.active.is_(True)) == 3


def test_enrollments_and_families_may_refer_to_students_already_in_the_database(db, school):
    run(db, school, staff=STAFF, students=STUDENTS, classes=CLASSES)
    result = run(
        db,
        school,
        enrollments="class_id,student_number\nM6,1003\n",
        families="tag_number,student_numbers\n12,1001;1003\n",
    )
    assert result.counts()["enrollments"] == {"created": 1, "removed": 0}
    family = db.session.scalar(select(Family).where(Family.tag_number == 12))
    assert sorted(s.student_number for s in family.students) == ["1001", "1003"]


def test_family_students_are_replaced_and_pickup_adults_kept_without_the_column(db, school):
    run(db, school, students=STUDENTS)
    run(db, school, families="tag_number,student_numbers,pickup_adults\n5,1001;1002,Mom;Dad\n")
    result = run(db, school, families="tag_number,student_numbers\n5,1003\n")
    assert result.kinds["families"].changed[0].detail == "students"
    family = db.session.scalar(select(Family).where(Family.tag_number == 5))
    assert [s.student_number for s in family.students] == ["1003"]
    assert family.pickup_adults == "Mom\nDad"


def test_bell_schedule_file_replaces_the_whole_schedule(db, school):
    run(
        db,
        school,
        bell_schedule="period,days,start,end\n1,Mon-Fri,08:00,08:50\n2,Mon,09:00,09:50\n",
    )
    result = run(db, school, bell_schedule='period,days,start,end\n1,"Mon,Wed",08:05,08:50\n')
    assert result.counts()["bell_schedule"] == {"created": 0, "changed": 2, "removed": 4}
    rows = db.session.execute(select(BellPeriod.weekday, BellPeriod.start_time)).all()
    assert sorted(rows) == [(0, time(8, 5)), (2, time(8, 5))]


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("Mon-Fri", [0, 1, 2, 3, 4]),
        ("Mon,Wed", [0, 2]),
        ("Tue Thu", [1, 3]),
        ("mon - wed; Fri", [0, 1, 2, 4]),
        ("0-6", [0, 1, 2, 3, 4, 5, 6]),
        ("Monday", [0]),
        ("Thurs", [3]),
    ],
)
def test_weekday_lists(text, days):
    assert roster.parse_days(text) == days


@pytest.mark.parametrize("text", ["Fri-Mon", "Funday", "7", "", "M"])
def test_bad_weekday_lists(text):
    with pytest.raises(ValueError):
        roster.parse_days(text)


# --------------------------------------------------------------------------- staff accounts


def test_staff_from_an_import_have_no_password_and_never_admin(db, school, make_school, make_user):
    other = make_school()
    known = make_user(other, "teacher", email="bob@example.org", name="Robert Ray")
    old_hash = known.password_hash
    run(db, school, staff=STAFF)

    ann = db.session.scalar(select(User).where(User.email == "ann@example.org"))
    assert ann.password_hash is None
    assert {(m.school_id, m.role) for m in ann.memberships} == {(school.id, "teacher")}
    db.session.refresh(known)
    assert known.password_hash == old_hash
    assert known.name == "Robert Ray"  # also works elsewhere: not renamed by this school
    assert {(m.school_id, m.role) for m in known.memberships} == {
        (other.id, "teacher"),
        (school.id, "teacher"),
        (school.id, "staff"),
    }
    assert count(db, Membership, Membership.role == "admin") == 0


def test_import_adds_roles_but_never_removes_them(db, school, make_user):
    admin = make_user(school, "admin", "teacher", email="ann@example.org")
    result = run(db, school, staff=STAFF)
    assert [c.label for c in result.kinds["staff"].created] == ["Bob Ray <bob@example.org>"]
    db.session.refresh(admin)
    assert {m.role for m in admin.memberships} == {"admin", "teacher"}
    assert admin.password_hash is not None


# --------------------------------------------------------------------------- OneRoster


def test_oneroster_sample_bundle(db, school):
    bundle_ = roster.read_upload(roster.sample_zip("oneroster"), "export.zip")
    assert bundle_.is_oneroster
    result = roster.plan_import(school, bundle_, today=TODAY)
    assert result.ok, result.errors
    assert result.format == "oneroster"
    assert result.counts()["students"]["created"] == 25
    assert result.counts()["staff"]["created"] == 4
    assert result.counts()["classes"]["created"] == 5
    assert result.counts()["enrollments"]["created"] == 50
    assert any("left out" in warning for warning in result.warnings)
    roster.apply_import(result, source="test")
    db.session.commit()

    org = next(
        line.split(",")[0]
        for line in (roster.SAMPLES_DIR / "oneroster" / "orgs.csv").read_text().splitlines()
        if ",school," in line
    )
    assert school.sourced_id == org
    assert count(db, Student) == 25
    ava = student(db, school, "260101")
    assert (ava.first_name, ava.last_name, ava.grade) == ("Ava", "Nguyen", "6")
    assert ava.sourced_id
    math = db.session.scalar(select(SchoolClass).where(SchoolClass.name == "Math 6 - Period 1"))
    assert (math.period, math.room.name, math.room.kind) == ("1", "Room 101", "classroom")
    assert [t.email for t in math.teachers] == ["maria.alvarez@riverside.example.org"]
    assert count(db, SchoolClass, SchoolClass.name == "Summer Math Bridge") == 0
    walker = db.session.scalar(select(User).where(User.email.startswith("denise.walker")))
    assert [m.role for m in walker.memberships] == ["staff"]
    assert count(db, User, User.email == "thanh.nguyen@example.net") == 0  # a parent
    assert count(db, User, User.password_hash.is_not(None)) == 0

    again = roster.plan_import(school, bundle_, today=TODAY)
    assert again.ok and sum(changes.total() for changes in again.kinds.values()) == 0


def test_oneroster_without_a_current_term_imports_every_class_with_a_warning(db, school):
    bundle_ = roster.read_path(roster.SAMPLES_DIR / "oneroster")
    result = roster.plan_import(school, bundle_, today=date(2027, 7, 15))
    assert result.ok and result.counts()["classes"]["created"] == 6
    assert any("No class has a term covering 2027-07-15" in w for w in result.warnings)

    summer = roster.plan_import(school, bundle_, today=date(2026, 7, 1))
    assert [c.label.split(" (")[0] for c in summer.kinds["classes"].created] == [
        "Summer Math Bridge"
    ]
    assert summer.counts()["enrollments"]["created"] == 6


def test_oneroster_user_rules(db, school):
    users = sample_users().splitlines()
    header = users[0] + ",preferredFirstName"
    rows = [line + "," for line in users[1:]]
    rows[4] += "Avi"  # the first student gets a preferred name
    rows = [row.replace(",260102,", ",,") for row in rows]  # no identifier: the username counts
    rows = [row.replace(",true,", ",false,", 1) if "260103" in row else row for row in rows]
    text = "\n".join([header, *rows]) + "\n"
    result = roster.plan_import(
        school,
        roster.read_upload(zip_bytes(oneroster_files(**{"users.csv": text})), "x.zip"),
        today=TODAY,
    )
    assert result.ok, result.errors
    created = {c.record.student_number: c.record for c in result.kinds["students"].created}
    assert created["260101"].preferred_name == "Avi"
    assert "liam.johnson" in created and "260102" not in created
    assert "260103" not in created  # enabledUser=false


def test_oneroster_staff_without_email_is_a_row_error(db, school):
    text = sample_users().replace("maria.alvarez@riverside.example.org", "", 1)
    files = oneroster_files(**{"users.csv": text})
    result = roster.plan_import(school, roster.read_upload(zip_bytes(files), "x.zip"), today=TODAY)
    assert [(e.file, e.row, e.column) for e in result.errors] == [("users.csv", 2, "email")]


def test_oneroster_deleted_students_are_deactivated(db, school):
    bundle_ = roster.read_path(roster.SAMPLES_DIR / "oneroster")
    roster.apply_import(roster.plan_import(school, bundle_, today=TODAY), source="test")
    db.session.commit()
    text = "\n".join(
        line.replace(",,,true,", ",tobedeleted,,true,", 1) if ",260125," in line else line
        for line in sample_users().splitlines()
    )
    files = oneroster_files(**{"users.csv": text})
    result = roster.plan_import(school, roster.read_upload(zip_bytes(files), "x.zip"), today=TODAY)
    assert result.ok, result.errors
    assert [c.label for c in result.kinds["students"].deactivated] == ["Hannah Torres (260125)"]
    assert result.counts()["enrollments"]["removed"] == 2


def test_oneroster_with_several_schools_needs_the_school_id(db, school):
    orgs = (roster.SAMPLES_DIR / "oneroster" / "orgs.csv").read_text()
    orgs += "east-1,,,East Middle School,school,EMS,\n"
    files = oneroster_files(**{"orgs.csv": orgs})
    result = roster.plan_import(school, roster.read_upload(zip_bytes(files), "x.zip"), today=TODAY)
    assert [(e.file, e.column) for e in result.errors] == [("orgs.csv", "sourcedId")]
    assert "East Middle School (east-1)" in result.errors[0].reason

    school.sourced_id = "east-1"
    db.session.commit()
    result = roster.plan_import(school, roster.read_upload(zip_bytes(files), "x.zip"), today=TODAY)
    assert result.ok and result.counts()["students"]["created"] == 0  # nobody is at east-1


def test_oneroster_export_of_a_school_linked_elsewhere_is_refused(db, school, make_school):
    org = next(
        line.split(",")[0]
        for line in (roster.SAMPLES_DIR / "oneroster" / "orgs.csv").read_text().splitlines()
        if ",school," in line
    )
    make_school(name="Other School", code="OTH", sourced_id=org)
    result = roster.plan_import(school, roster.read_path(roster.SAMPLES_DIR / "oneroster"))
    assert any("Other School" in e.reason for e in result.errors)


# --------------------------------------------------------------------------- guarded input


def test_zip_with_too_many_members_is_refused():
    members = {f"file{n}.csv": "a\n" for n in range(roster.MAX_ZIP_MEMBERS + 1)}
    with pytest.raises(roster.RosterFileError, match="at most 50"):
        roster.read_upload(zip_bytes(members), "roster.zip")


@pytest.mark.parametrize("name", ["../students.csv", "a/../../students.csv", "/etc/students.csv"])
def test_zip_with_path_traversal_is_refused(name):
    with pytest.raises(roster.RosterFileError, match="unsafe path"):
        roster.read_upload(zip_bytes({name: STUDENTS}), "roster.zip")


def write_zip(path, name: str, chunks, compression=zipfile.ZIP_DEFLATED) -> None:
    """A zip file on disk with one member written chunk by chunk (never held whole)."""
    with (
        zipfile.ZipFile(path, "w", compression) as archive,
        archive.open(name, "w", force_zip64=True) as member,
    ):
        for chunk in chunks:
            member.write(chunk)


def test_zip_bomb_is_refused_by_its_compression_ratio(tmp_path):
    # 40 MB of zeros pack into about 40 KB: under every size limit, but a thousand to one.
    path = tmp_path / "roster.zip"
    write_zip(path, "students.csv", (b"0" * 2**20 for _ in range(40)))
    assert path.stat().st_size < 100_000
    with pytest.raises(roster.RosterFileError, match="zip bomb") as refused:
        roster.read_path(path)
    assert "students.csv in the zip file expands" in refused.value.message
    assert "at most 100 times" in refused.value.message
    with pytest.raises(roster.RosterFileError, match="zip bomb"):
        roster.read_upload(path.read_bytes(), "roster.zip")


def real_looking_rows(megabytes: int):
    """Student rows as an SIS writes them (ids, names, numbers): they pack 2-4 to one."""
    yield b"student_number,first_name,last_name,grade,sourced_id\n"
    row = 0
    for _ in range(megabytes):
        chunk = io.BytesIO()
        while chunk.tell() < 2**20:
            row += 1
            ident = os.urandom(8).hex()
            chunk.write(f"S{row:07d},First{ident[:5]},Last{ident[5:]},9,{ident}\n".encode())
        yield chunk.getvalue()


def test_a_district_sized_bundle_passes_the_guard_and_is_read_as_a_stream(db, school, tmp_path):
    # 60 MB, more than the old flat 50 MB limit: a real export of that size is accepted.
    path = tmp_path / "roster.zip"
    write_zip(path, "students.csv", real_looking_rows(60))
    assert path.stat().st_size < 40 * 2**20
    found = roster.read_path(path)
    assert not isinstance(found.files["students.csv"], bytes)  # where it is, not its bytes
    errors: list = []
    from shared.roster.rows import read_table

    table = read_table(found, "students.csv", ("student_number",), errors)
    assert table is not None and not errors
    first = next(iter(table))
    assert (first.line, first.get("first_name")[:5]) == (2, "First")


def test_the_size_limit_is_a_setting(app, tmp_path):
    path = tmp_path / "roster.zip"
    write_zip(path, "students.csv", real_looking_rows(3))
    app.config["ROSTER_MAX_MB"] = 2
    try:
        with pytest.raises(roster.RosterFileError, match="more than the 2 MB") as refused:
            roster.read_path(path)
        assert "ROSTER_MAX_MB" in refused.value.message
        app.config["ROSTER_MAX_MB"] = 4
        assert "students.csv" in roster.read_path(path).files
        app.config["ROSTER_MAX_RATIO"] = 1
        with pytest.raises(roster.RosterFileError, match="at most 1 times"):
            roster.read_path(path)
    finally:
        app.config["ROSTER_MAX_MB"], app.config["ROSTER_MAX_RATIO"] = 1024, 100


def test_zip_member_larger_than_its_header_says_is_refused():
    data = bytearray(zip_bytes({"students.csv": STUDENTS * 100}))
    central = data.rindex(b"PK\x01\x02")
    data[central + 24 : central + 28] = (10).to_bytes(4, "little")  # claims 10 bytes
    with pytest.raises(roster.RosterFileError, match="cannot be read"):
        roster.read_upload(bytes(data), "roster.zip")


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"not a zip", "roster.zip", "damaged"),
        (b"a,b\n", "roster.xlsx", ".csv file or a .zip"),
        (b"a,b\n", "roster", ".csv file or a .zip"),
        (STUDENTS.encode(), "pupils.csv", "named after what it holds"),
        (zip_bytes({"readme.txt": "hi"}), "roster.zip", "No roster files"),
    ],
)
def test_unreadable_uploads_are_refused(data, name, message):
    with pytest.raises(roster.RosterFileError, match=message):
        roster.read_upload(data, name)


def test_zip_folders_and_system_files_are_skipped_and_other_files_reported(db, school):
    data = zip_bytes(
        {
            "export/students.csv": STUDENTS,
            "export/notes.txt": "hello",
            "__MACOSX/export/._students.csv": b"\x00\x05",
            "export/.DS_Store": b"\x00",
        }
    )
    bundle_ = roster.read_upload(data, "C:\\fakepath\\Roster.ZIP")
    assert list(bundle_.files) == ["students.csv"]
    result = roster.plan_import(school, bundle_, today=TODAY)
    assert result.ok and result.warnings == ["Ignored (not part of a roster): export/notes.txt"]


def test_single_csv_file_kind_comes_from_its_name(db, school, tmp_path):
    path = tmp_path / "Students.csv"
    path.write_text(STUDENTS)
    result = roster.plan_import(school, roster.read_path(path), today=TODAY)
    assert result.present == ["students"] and result.counts()["students"]["created"] == 3


def test_planning_does_not_query_per_row(db, school):
    def students_csv(n: int) -> str:
        return "student_number,first_name,last_name\n" + "".join(
            f"{i},First{i},Last{i}\n" for i in range(n)
        )

    def families_csv(n: int) -> str:
        return "tag_number,student_numbers\n" + "".join(f"{i + 1},{i}\n" for i in range(n))

    run(db, school, students=students_csv(300))
    statements = []

    def count_statement(*_args):
        statements.append(1)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", count_statement)
    try:
        plan(school, students=students_csv(10), families=families_csv(10))
        db.session.rollback()
        small = len(statements)
        statements.clear()
        plan(school, students=students_csv(300), families=families_csv(300))
        db.session.rollback()
        large = len(statements)
    finally:
        event.remove(engine, "before_cursor_execute", count_statement)
    assert large == small


# --------------------------------------------------------------------------- stored uploads


def test_stored_uploads_are_private_random_and_bound_to_their_school(tmp_path):
    folder = tmp_path / "imports"
    token = roster.store_upload(folder, STUDENTS.encode(), "students.csv", school_id=1, user_id=7)
    assert roster.TOKEN_RE.fullmatch(token)
    stored = sorted(p.name for p in folder.iterdir())
    assert stored == sorted([f"{token}.csv", f"{token}.json"])
    for path in folder.iterdir():
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    upload, bundle_ = roster.load_upload(folder, token, school_id=1)
    assert (upload.user_id, upload.name, list(bundle_.files)) == (
        7,
        "students.csv",
        ["students.csv"],
    )
    with pytest.raises(NotFound):
        roster.load_upload(folder, token, school_id=2)
    with pytest.raises(NotFound):
        roster.load_upload(folder, "../" + token[3:], school_id=1)
    with pytest.raises(NotFound):
        roster.discard_upload(folder, token, school_id=2)
    roster.discard_upload(folder, token, school_id=1)
    assert list(folder.iterdir()) == []


def test_unreadable_upload_is_not_stored(tmp_path):
    with pytest.raises(roster.RosterFileError):
        roster.store_upload(tmp_path, b"garbage", "roster.zip", school_id=1, user_id=1)
    assert list(tmp_path.iterdir()) == []


def test_password_of_existing_accounts_still_works_after_an_import(db, school, make_user, client):
    user = make_user(school, "teacher", email="ann@example.org")
    run(db, school, staff=STAFF)
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 302


# --------------------------------------------------------------------------- rows not imported


def _student_line(users: list[str], number: str) -> int:
    return next(i + 1 for i, line in enumerate(users) if f",{number}," in line)


def test_oneroster_rows_not_imported_are_warnings_by_file_row_and_column(db, school):
    """Issue 17: a user with an unknown role and an enrollment in an unknown class vanished."""
    users = sample_users().splitlines()
    ava_row, liam_row = _student_line(users, "260101"), _student_line(users, "260102")
    users = [
        line.replace(",student,", ",Pupil,", 1) if ",260101," in line else line for line in users
    ]
    enrollments = (roster.SAMPLES_DIR / "oneroster" / "enrollments.csv").read_text().splitlines()
    liam = users[liam_row - 1].split(",")[0]
    enrollments.append(f"e-unknown,,,no-such-class,x,{liam},student,false,,")
    files = oneroster_files(
        **{"users.csv": "\n".join(users) + "\n", "enrollments.csv": "\n".join(enrollments) + "\n"}
    )
    result = roster.plan_import(school, roster.read_upload(zip_bytes(files), "x.zip"), today=TODAY)
    assert result.ok, result.errors
    assert result.counts()["students"]["created"] == 24
    warned = {(w.file, w.row, w.column): w.reason for w in result.row_warnings}
    assert "unknown role 'Pupil'" in warned[("users.csv", ava_row, "role")]
    assert (
        "unknown class 'no-such-class'"
        in warned[("enrollments.csv", len(enrollments), "classSourcedId")]
    )
    ava_enrollments = [k for k, reason in warned.items() if f"users.csv row {ava_row}" in reason]
    assert len(ava_enrollments) == 2 and all(k[2] == "userSourcedId" for k in ava_enrollments)
    assert result.counts()["enrollments"]["created"] == 48
    # The sample's parents and relative are guardians now, not rows left out; on a school
    # without families yet each is a row warning saying so. The summer class is counted.
    assert "no family has this guardian's students" in warned[("users.csv", 31, "agentSourcedIds")]
    assert not any("users.csv: " in w and "left out" in w for w in result.warnings)
    assert any(
        w.startswith("classes.csv: 1 row left out, classes of terms") for w in result.warnings
    )
    assert any(
        w.startswith("enrollments.csv: ") and "classes left out" in w for w in result.warnings
    )


def test_every_sample_row_is_imported_or_accounted_for(db, school):
    """Rows read = rows imported + errors + row warnings + rows counted in a warning."""
    result = roster.plan_import(
        school, roster.read_path(roster.SAMPLES_DIR / "oneroster"), today=TODAY
    )
    assert result.ok
    # The 4 guardian users (3 parents, 1 relative) wait for families: the sample school
    # has none until a families.csv (or the office) adds them, so each is a row warning.
    assert [(w.file, w.column) for w in result.row_warnings] == [
        ("users.csv", "agentSourcedIds")
    ] * 4
    counted = {
        w.split(":")[0]: int(w.split(": ")[1].split(" ")[0])
        for w in result.warnings
        if " left out, " in w
    }
    users = len(sample_users().splitlines()) - 1
    assert users == 25 + 4 + 4 + counted.get("users.csv", 0)  # students, staff, guardians
    classes = len((roster.SAMPLES_DIR / "oneroster" / "classes.csv").read_text().splitlines()) - 1
    assert classes == 5 + counted["classes.csv"]


def test_enrollments_in_the_preview_name_the_student_and_the_class(db, school):
    created = plan(school, students=STUDENTS, classes=CLASSES, staff=STAFF, enrollments=ENROLLMENTS)
    labels = [c.label for c in created.kinds["enrollments"].created]
    assert "Ava Nguyen (1001) in Math 6" in labels and "Liam Johnson (1002) in English 7" in labels
    run(db, school, students=STUDENTS, classes=CLASSES, staff=STAFF, enrollments=ENROLLMENTS)
    removed = plan(school, enrollments="class_id,student_number\nM6,1001\n")
    assert sorted(c.label for c in removed.kinds["enrollments"].removed) == [
        "Ava Nguyen (1001) in English 7",
        "Liam Johnson (1002) in English 7",
    ]


def test_the_org_link_is_said_only_when_it_happens(db, school, make_school):
    bundle_ = roster.read_path(roster.SAMPLES_DIR / "oneroster")
    dry = roster.plan_import(school, bundle_, today=TODAY)
    assert not any("linked" in w for w in dry.warnings)
    assert dry.link_line(done=False).startswith(f"Applying links {school.name} to the OneRoster")
    db.session.rollback()
    assert school.sourced_id is None  # a dry run links nothing

    org = dry.school_sourced_id
    make_school(name="Other School", code="OTH", sourced_id=org)
    refused = roster.plan_import(school, bundle_, today=TODAY)
    assert not refused.ok and refused.link_line(done=False) is None
    assert not any("linked" in w for w in refused.warnings)


def _roster_rows(db, school) -> dict[str, list[tuple]]:
    """Every row a roster import writes at `school`, by natural keys (numbers, class ids,
    emails, room names), and with ids (a re-run must keep them)."""
    from shared.models import class_teachers, family_students

    db.session.expire_all()
    mine = Student.school_id == school.id
    number = {s.id: s.student_number for s in db.session.scalars(select(Student).where(mine))}
    classes = db.session.scalars(select(SchoolClass).where(SchoolClass.school_id == school.id))
    key = {}
    rows: dict[str, list[tuple]] = {"students": [], "classes": []}
    for s in db.session.scalars(select(Student).where(mine).order_by(Student.id)):
        rows["students"].append(
            (
                s.id,
                s.student_number,
                s.first_name,
                s.last_name,
                s.preferred_name,
                s.grade,
                s.active,
                s.sourced_id,
            )
        )
    for c in sorted(classes, key=lambda c: c.id):
        key[c.id] = c.sourced_id
        teachers = sorted(t.email for t in c.teachers)
        room = c.room.name if c.room else None
        rows["classes"].append((c.id, c.sourced_id, c.name, c.period, room, c.active, teachers))
    rows["class_teachers"] = sorted(tuple(r) for r in db.session.execute(select(class_teachers)))
    rows["enrollments"] = sorted(
        (e.id, key[e.class_id], number[e.student_id])
        for e in db.session.scalars(select(Enrollment))
    )
    rows["families"] = sorted(
        (f.id, f.tag_number, f.pickup_adults, sorted(number[s.id] for s in f.students))
        for f in db.session.scalars(select(Family).where(Family.school_id == school.id))
    )
    rows["family_students"] = sorted(tuple(r) for r in db.session.execute(select(family_students)))
    rows["staff"] = sorted(
        (u.id, u.email, u.sourced_id, sorted(m.role for m in u.memberships))
        for u in db.session.scalars(select(User))
    )
    return rows


def test_a_first_import_inserts_in_bulk_the_rows_the_files_give_and_a_rerun_keeps_them(db, school):
    """Students, classes, their teachers and enrollments are inserted without ORM objects
    (applying.py `_insert_many`): the rows are the files' own (a family and a class still
    reach the new students and teachers), the audit log has the one roster.import event
    with its counts, and importing again changes nothing and keeps every row and id."""
    import csv

    folder = roster.SAMPLES_DIR / "csv"

    def table(name: str) -> list[dict[str, str]]:
        with (folder / name).open(encoding="utf-8", newline="") as handle:
            return list(csv.DictReader(handle))

    first = roster.plan_import(school, roster.read_path(folder), today=TODAY)
    roster.apply_import(first, source="test")
    db.session.commit()
    rows = _roster_rows(db, school)
    assert [s[1:] for s in rows["students"]] == [
        (
            r["student_number"],
            r["first_name"],
            r["last_name"],
            r["preferred_name"] or None,
            r["grade"],
            True,
            r["sourced_id"] or None,
        )
        for r in table("students.csv")
    ]
    assert [c[1:] for c in rows["classes"]] == [
        (
            r["class_id"],
            r["name"],
            r["period"],
            r["room"],
            True,
            sorted(r["teacher_emails"].split(";")),
        )
        for r in table("classes.csv")
    ]
    assert sorted(e[1:] for e in rows["enrollments"]) == sorted(
        (r["class_id"], r["student_number"]) for r in table("enrollments.csv")
    )
    assert [(f[1], f[3]) for f in rows["families"]] == [
        (int(r["tag_number"]), sorted(r["student_numbers"].split(";")))
        for r in table("families.csv")
    ]
    events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [e.action for e in events] == ["roster.import"]
    assert events[0].detail["counts"] == first.counts()
    assert first.counts()["enrollments"]["created"] == len(rows["enrollments"]) == 14

    again = roster.plan_import(school, roster.read_path(folder), today=TODAY)
    assert again.ok and all(changes.total() == 0 for changes in again.kinds.values())
    roster.apply_import(again, source="test")
    db.session.commit()
    assert _roster_rows(db, school) == rows
    events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [e.action for e in events] == ["roster.import", "roster.import"]
    assert events[1].detail["counts"] == again.counts()

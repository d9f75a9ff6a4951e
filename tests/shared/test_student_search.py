"""The one student search: names in any order, parts of names, numbers, wildcards, scope.

Run on SQLite and (with TEST_DATABASE_URL) on PostgreSQL: case folding and LIKE escapes
are the database's.
"""

import pytest
from sqlalchemy import select

from shared.extensions import db
from shared.models import Student
from shared.students import search_students, search_words


@pytest.fixture
def make_student(make_student):
    """The usual factory, with `student_number` settable (set after creation)."""

    def make(school, first, last, *, student_number=None, **fields):
        student = make_student(school, first, last, **fields)
        if student_number is not None:
            student.student_number = student_number
            db.session.commit()
        return student

    return make


@pytest.fixture
def pupils(school, make_student):
    return {
        "bianca": make_student(school, "Bianca", "Singh", student_number="S-1042"),
        "biancaj": make_student(school, "Bianca", "Jones"),
        "sam": make_student(school, "Samuel", "Singh", preferred_name="Sam"),
        "under": make_student(school, "Ann_Marie", "O'Neil"),
        "percent": make_student(school, "Zoe", "100%"),
        "slash": make_student(school, "Back\\Slash", "Kid"),
        "left": make_student(school, "Bianca", "Singer", active=False),
    }


def _names(found) -> list[str]:
    return [f"{s.first_name} {s.last_name}" for s in found]


@pytest.mark.parametrize("typed", ["Bianca Singh", "Singh, Bianca", "singh bia", "BIANCA  SINGH"])
def test_full_names_in_either_order_and_parts_find_the_student(school, pupils, typed):
    assert search_students(school, typed) == [pupils["bianca"]]


def test_student_number_finds_the_student_case_insensitively(school, pupils):
    assert search_students(school, "S-1042") == [pupils["bianca"]]
    assert search_students(school, "s-1042") == [pupils["bianca"]]


def test_preferred_name_and_order_by_last_then_first_name(school, pupils):
    assert search_students(school, "sam singh") == [pupils["sam"]]
    assert _names(search_students(school, "bianca")) == ["Bianca Jones", "Bianca Singh"]
    assert _names(search_students(school, "singh")) == ["Bianca Singh", "Samuel Singh"]


def test_an_exact_student_number_comes_before_name_matches(school, pupils, make_student):
    number_holder = make_student(school, "Zed", "Zulu", student_number="ann")
    found = search_students(school, "ann")
    assert found[0] == number_holder
    assert pupils["under"] in found


@pytest.mark.parametrize(
    ("typed", "who"), [("_", "under"), ("n_m", "under"), ("%", "percent"), ("\\", "slash")]
)
def test_like_wildcards_match_only_themselves(school, pupils, typed, who):
    assert search_students(school, typed) == [pupils[who]]


def test_blank_text_finds_nobody(school, pupils):
    assert search_students(school, "") == []
    assert search_students(school, " , ") == []
    assert search_students(school, None) == []


def test_only_the_callers_school(school, pupils, make_school, make_student):
    other = make_school()
    make_student(other, "Bianca", "Singh", student_number="S-1042")
    assert search_students(school, "Bianca Singh") == [pupils["bianca"]]
    assert search_students(school, "S-1042") == [pupils["bianca"]]


def test_students_who_left_only_when_asked_and_after_active_ones(school, pupils):
    assert pupils["left"] not in search_students(school, "bianca sing")
    found = search_students(school, "bianca sing", include_inactive=True)
    assert found == [pupils["bianca"], pupils["left"]]


def test_among_restricts_to_the_ids_the_caller_may_see(school, pupils):
    jones_only = select(Student.id).where(Student.last_name == "Jones")
    assert search_students(school, "bianca", among=jones_only) == [pupils["biancaj"]]


def test_limit(school, pupils, make_student):
    for n in range(5):
        make_student(school, "Bianca", f"Many{n}")
    assert len(search_students(school, "bianca", limit=3)) == 3
    assert len(search_students(school, "bianca", limit=None)) == 7


def test_search_words_split_on_space_and_commas_at_most_four():
    assert search_words("  Singh,Bianca ; x y z") == ["singh", "bianca", "x", "y"]


def test_admin_students_finds_full_names_within_the_grade(client, login, school, make_user, pupils):
    login(make_user(school, "admin"))
    found = client.post("/admin/students", data={"q": "Singh, Bianca"}).get_data(as_text=True)
    assert "<td>Singh, Bianca</td>" in found and "<td>Jones, Bianca</td>" not in found
    in_grade = client.post("/admin/students", data={"q": "Bianca Singh", "grade": "3"})
    assert "<td>Singh, Bianca</td>" in in_grade.get_data(as_text=True)
    other_grade = client.post("/admin/students", data={"q": "Bianca Singh", "grade": "9"})
    assert "<td>Singh, Bianca</td>" not in other_grade.get_data(as_text=True)
    # Admin > Students lists students who left, too.
    left = client.post("/admin/students", data={"q": "bianca sing"}).get_data(as_text=True)
    assert "<td>Singer, Bianca</td>" in left

"""Staff accounts set to Spanish, for the browser test that walks the staff screens in
Spanish (`python -m tests.e2e.spanish_staff`, after tests.e2e.school).

For each demo account (admin, office, teacher, staff, and the district admin) it adds a
twin, `es.<email>`, with the same roles and classes and its account language set to
Spanish, so the walk never changes the accounts the other browser tests sign in with.

It prints, as JSON, the twins' emails, the pages of one student, family, destination and
staff member (their ids are the school's), and the school's data: every name, label and
email stored (schools, rooms, classes, destinations, students, staff, buses, devices...).
Data is the school's own words and is never translated, so the test removes it from a
page's text before looking for English interface words.
"""

from __future__ import annotations

import json
import sys

from flask import url_for
from sqlalchemy import String, insert, select

from hallpass.models import Destination
from shared import create_app
from shared.demo import SCHOOL_CODE
from shared.extensions import db
from shared.models import Family, Membership, School, Student, User, class_teachers

ACCOUNTS = ("admin", "office", "teacher", "staff", "district")
#: Columns whose values are the school's data, whatever table they are in.
DATA_COLUMNS = {
    *("name", "label", "first_name", "last_name", "preferred_name", "email", "code"),
    *("note", "reason"),  # what the office typed, in its own words
}


def _twin(email: str) -> str:
    original = db.session.scalar(select(User).where(User.email == email))
    twin = User(
        email=f"es.{email}",
        name=original.name,
        password_hash=original.password_hash,
        active=True,
        is_district_admin=original.is_district_admin,
        language="es",
    )
    db.session.add(twin)
    db.session.flush()
    for membership in original.memberships:
        db.session.add(
            Membership(user_id=twin.id, school_id=membership.school_id, role=membership.role)
        )
    class_ids = db.session.scalars(
        select(class_teachers.c.class_id).where(class_teachers.c.user_id == original.id)
    ).all()
    if class_ids:
        db.session.execute(
            insert(class_teachers), [{"user_id": twin.id, "class_id": c} for c in class_ids]
        )
    return twin.email


def _data() -> list[str]:
    words: set[str] = set()
    for table in db.metadata.sorted_tables:
        for column in table.columns:
            if column.name in DATA_COLUMNS and isinstance(column.type, String):
                words.update(v for v in db.session.scalars(select(column)) if v)
    for student in db.session.scalars(select(Student)):
        words.update(filter(None, (student.display_name, student.short_name)))
    # Two letters or fewer ("7", "B") would cut words of the interface apart.
    return sorted((w for w in words if len(w) > 2), key=len, reverse=True)


def _record_pages() -> list[str]:
    """The pages of one student, family, destination and staff member of the demo school."""
    school = db.session.scalar(select(School).where(School.code == SCHOOL_CODE))
    student = db.session.scalar(
        select(Student).where(Student.school_id == school.id).order_by(Student.id).limit(1)
    )
    family = db.session.scalar(
        select(Family).where(Family.school_id == school.id).order_by(Family.id).limit(1)
    )
    destination = db.session.scalar(
        select(Destination).where(Destination.school_id == school.id).order_by(Destination.id)
    )
    teacher = db.session.scalar(select(User).where(User.email == "teacher@example.org"))
    return [
        url_for("admin.staff_edit", user_id=teacher.id),
        url_for("privacy.student_records", student_id=student.id),
        url_for("privacy.delete_student", student_id=student.id),
        url_for("hallpass.student_history", student_id=student.id),
        url_for("hallpass.destination_edit", destination_id=destination.id),
        url_for("carline.family", family_id=family.id),
        url_for("carline.student_plan", student_id=student.id),
    ]


def main() -> None:
    app = create_app()
    with app.test_request_context():
        emails = {role: _twin(f"{role}@example.org") for role in ACCOUNTS}
        db.session.commit()
        json.dump({"emails": emails, "data": _data(), "records": _record_pages()}, sys.stdout)


if __name__ == "__main__":
    main()

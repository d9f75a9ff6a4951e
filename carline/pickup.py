"""Who may take a student home: the one list the curb and the reunification gates read.

Today it is each of the student's families' authorized adults, with the family's custody
or "do not release" note; guardians who may pick up join this list here (issue 21), so
every screen that shows it gets them at once. It also finds students by an adult's name
(the request gate looks up a parent) and a student's siblings (students sharing a family).
"""

from __future__ import annotations

from sqlalchemy import func, select

from shared.contributions import ReleaseAdult, ReleaseList
from shared.extensions import db
from shared.models import Family, School, Student, family_students
from shared.students import like_contains, search_text


def adult_lines(family: Family) -> list[str]:
    """A family's authorized adults, one a line."""
    return [line.strip() for line in (family.pickup_adults or "").splitlines() if line.strip()]


def _families(student: Student) -> list[Family]:
    return list(
        db.session.scalars(
            select(Family)
            .join(family_students, family_students.c.family_id == Family.id)
            .where(family_students.c.student_id == student.id, Family.active.is_(True))
            .order_by(Family.tag_number)
        )
    )


def who_may_take(student: Student) -> ReleaseList:
    """Everyone who may take `student`, every note about it, and the siblings."""
    families = _families(student)
    adults: list[ReleaseAdult] = []
    notes: list[str] = []
    for family in families:
        adults.extend(
            ReleaseAdult(name, f"Authorized adult, tag {family.tag_number}")
            for name in adult_lines(family)
        )
        if (family.release_note or "").strip():
            notes.append(f"Tag {family.tag_number}: {family.release_note.strip()}")
    siblings = []
    if families:
        siblings = list(
            db.session.scalars(
                select(Student.id)
                .join(family_students, family_students.c.student_id == Student.id)
                .where(
                    family_students.c.family_id.in_([f.id for f in families]),
                    Student.id != student.id,
                    Student.active.is_(True),
                )
                .distinct()
            )
        )
    return ReleaseList(adults=adults, notes=notes, sibling_ids=sorted(siblings))


def students_of_adult(school: School, text: str, limit: int = 20) -> list[int]:
    """Students whose families list an adult whose name contains `text`."""
    words = search_text(text).lower()
    if len(words) < 2:
        return []
    return list(
        db.session.scalars(
            select(family_students.c.student_id)
            .join(Family, Family.id == family_students.c.family_id)
            .where(
                Family.school_id == school.id,
                Family.active.is_(True),
                func.lower(Family.pickup_adults).like(like_contains(words), escape="\\"),
            )
            .distinct()
            .limit(limit)
        )
    )

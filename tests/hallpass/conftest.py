"""Fixtures of the hall pass service tests."""

import pytest

from hallpass.models import Destination
from shared.models import Room, Student


@pytest.fixture
def place(db, school, make_user):
    """A school with a classroom, a teacher, 20 students and three destinations."""
    room = Room(school_id=school.id, name="114")
    restroom = Room(school_id=school.id, name="Restroom", kind="restroom")
    db.session.add_all([room, restroom])
    db.session.flush()
    students = [
        Student(
            school_id=school.id,
            student_number=f"9{n:04d}",
            first_name=f"Kid{n}",
            last_name="Test",
            grade="7",
        )
        for n in range(20)
    ]
    destinations = {
        "restroom": Destination(
            school_id=school.id,
            name="Restroom",
            room_id=restroom.id,
            capacity=2,
            time_limit_minutes=5,
        ),
        "nurse": Destination(school_id=school.id, name="Nurse", capacity=1, is_nurse=True),
        "library": Destination(school_id=school.id, name="Library", counts_toward_limit=False),
    }
    db.session.add_all([*students, *destinations.values()])
    db.session.commit()
    teacher = make_user(school, "teacher")
    return {
        "school": school,
        "room": room,
        "students": students,
        "teacher": teacher,
        **destinations,
    }

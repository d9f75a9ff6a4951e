"""The classroom view groups its called walkers by the door they leave by (the school's
walker doors, by grade): one "Send all" per door, and each walker's door on their row
(issue 17)."""

from sqlalchemy import select

from carline.dismissal import release_walkers
from carline.models import CalledStudent
from carline.plans import set_weekday_defaults
from shared.audit import SYSTEM
from shared.models import Enrollment, SchoolClass
from tests.carline.test_views import HX, start, text, today


def test_walkers_are_grouped_by_door_and_sent_per_door(
    db, client, login, school, office_user, make_user, make_room, make_student
):
    school.settings = {"carline": {"walker_doors": {"North door": ["K"], "South door": ["5"]}}}
    teacher = make_user(school, "teacher")
    room = make_room(school, "120")
    section = SchoolClass(school_id=school.id, name="Mixed", room_id=room.id, period="HR")
    section.teachers.append(teacher)
    kids = [
        make_student(school, "Kay", grade="K"),
        make_student(school, "Kim", grade="K"),
        make_student(school, "Fay", grade="5"),
        make_student(school, "Fox", grade="5"),
        make_student(school, "Tri", grade="3"),  # a grade no door lists
    ]
    db.session.add(section)
    db.session.flush()
    db.session.add_all([Enrollment(class_id=section.id, student_id=k.id) for k in kids])
    for kid in kids:
        set_weekday_defaults(school, SYSTEM, kid, [today(school)], "walker")
    db.session.commit()
    dismissal = start(db, school, office_user)
    release_walkers(school, dismissal, actor=SYSTEM)
    db.session.commit()

    login(teacher)
    page = text(client.get(f"/carline/classroom?room_id={room.id}"))
    assert "Send all 2: Walkers, North door" in page
    assert "Send all 2: Walkers, South door" in page
    assert "Walker, North door" in page and "Walker, South door" in page
    assert "Send all 5" not in page  # not one button for every walker of the room

    sent = client.post(
        f"/carline/classroom/{room.id}/send-all",
        data={"mode": "walker", "route": "North door"},
        headers=HX,
    )
    assert sent.status_code == 200 and "Walkers, North door: 2 sent." in text(sent)
    released = {
        c.student.first_name
        for c in db.session.scalars(select(CalledStudent).where(CalledStudent.status == "released"))
    }
    assert released == {"Kay", "Kim"}

"""Durability: SIGKILL the server in the middle of a dismissal, start it again, nothing is lost.

Under gunicorn (three workers) on the test database, an office starts dismissal, passes
are out and a curb phone keeps entering cars while the whole server (master and workers)
is killed with SIGKILL. A new server on the same database then shows every car whose
entry had been acknowledged, in gap-free positions, and every pass still out with its
counts; the queue and the passes carry on where they were.
"""

import threading
import time
import uuid

from sqlalchemy import func, select

from carline.models import Dismissal, QueueEntry
from hallpass.models import Destination, HallPass, HallpassPolicy
from shared.models import Family, Room, Student
from tests.gunicorn_server import Browser, running_gunicorn
from tests.helpers import PASSWORD

CARS = 60


def signed_in(server, user) -> Browser:
    browser = Browser(server.url)
    token = browser.csrf_token("/login")
    status, _, _ = browser.post(
        "/login", {"email": user.email, "password": PASSWORD, "csrf_token": token}
    )
    assert status == 302
    browser.token = browser.csrf_token("/dashboard")
    return browser


def test_sigkill_mid_dismissal_loses_nothing(app, db, school, make_user, tmp_path):
    room = Room(school_id=school.id, name="101", kind="classroom")
    restroom = Room(school_id=school.id, name="Restroom", kind="restroom")
    db.session.add_all([room, restroom, HallpassPolicy(school_id=school.id)])
    db.session.flush()
    destination = Destination(
        school_id=school.id, name="Restroom", room_id=restroom.id, time_limit_minutes=10
    )
    db.session.add(destination)
    for n in range(1, CARS + 1):
        family = Family(school_id=school.id, tag_number=n)
        family.students.append(
            Student(school_id=school.id, student_number=f"{n}", first_name=f"S{n}", last_name="K")
        )
        db.session.add(family)
    db.session.commit()
    room_id, destination_id = room.id, destination.id
    student_ids = list(db.session.scalars(select(Student.id).order_by(Student.id)))
    office_user = make_user(school, "office")
    url = app.config["SQLALCHEMY_DATABASE_URI"]

    acknowledged: list[int] = []
    with running_gunicorn(url, tmp_path, workers=3) as first:
        office = signed_in(first, office_user)
        status, _, _ = office.post(
            "/carline/dismissal/start",
            {"lanes": "1", "spots_per_lane": "3", "csrf_token": office.token},
        )
        assert status == 302
        for student_id in student_ids[:3]:
            status, _, _ = office.post(
                "/hallpass/passes",
                {
                    "room_id": str(room_id),
                    "student_id": str(student_id),
                    "destination_id": str(destination_id),
                    "csrf_token": office.token,
                },
                headers={"HX-Request": "true"},
            )
            assert status == 200

        def curb_phone():
            curb = signed_in(first, office_user)
            for tag in range(1, CARS + 1):
                try:
                    status, _, _ = curb.post(
                        "/carline/curb/entries",
                        {"entry": str(tag), "key": uuid.uuid4().hex, "csrf_token": curb.token},
                        headers={"HX-Request": "true"},
                    )
                except OSError:
                    return  # the server is gone
                if status == 200:
                    acknowledged.append(tag)

        phone = threading.Thread(target=curb_phone)
        phone.start()
        while len(acknowledged) < 10:
            time.sleep(0.01)
        first.kill_hard()
        phone.join(30)
    assert 10 <= len(acknowledged) < CARS, "the kill should land in the middle of the cars"

    db.session.rollback()
    dismissal = db.session.scalars(select(Dismissal)).one()
    entries = db.session.scalars(
        select(QueueEntry)
        .where(QueueEntry.dismissal_id == dismissal.id)
        .order_by(QueueEntry.position)
    ).all()
    queued_tags = [e.family.tag_number for e in entries]
    assert set(acknowledged) <= set(queued_tags), "an acknowledged car was lost"
    assert [e.position for e in entries] == list(range(1, len(entries) + 1))
    assert dismissal.last_position == len(entries)
    active = db.session.scalar(select(func.count(HallPass.id)).where(HallPass.status == "active"))
    assert active == 3
    assert db.session.get(Destination, destination_id).out_now == 3

    with running_gunicorn(url, tmp_path, workers=3) as second:
        office = signed_in(second, office_user)
        next_tag = max(queued_tags) + 1
        status, _, _ = office.post(
            "/carline/curb/entries",
            {"entry": str(next_tag), "key": uuid.uuid4().hex, "csrf_token": office.token},
            headers={"HX-Request": "true"},
        )
        assert status == 200
        again, _, _ = office.post(
            "/carline/curb/entries",
            {"entry": str(acknowledged[0]), "key": uuid.uuid4().hex, "csrf_token": office.token},
            headers={"HX-Request": "true"},
        )
        assert again == 200
        pass_id = db.session.scalar(select(HallPass.id).where(HallPass.status == "active"))
        ended, _, _ = office.post(
            f"/hallpass/passes/{pass_id}/end",
            {"csrf_token": office.token},
            headers={"HX-Request": "true"},
        )
        assert ended == 200
    db.session.rollback()
    positions = list(
        db.session.scalars(
            select(QueueEntry.position)
            .where(QueueEntry.dismissal_id == dismissal.id)
            .order_by(QueueEntry.position)
        )
    )
    assert positions == list(range(1, len(entries) + 2)), "the queue carries on without a gap"
    assert db.session.get(Destination, destination_id).out_now == 2
    assert "Traceback" not in second.log()

"""The hall pass invariants hold when requests race through several gunicorn processes.

The app runs under gunicorn (gunicorn.conf.py, three worker processes, threads) on the
test database (SQLite in WAL mode, or PostgreSQL with TEST_DATABASE_URL). Staff browsers
sign in over HTTP and fire their requests at once from a barrier: every answer is a 2xx
or a clear 4xx (never a 5xx, never "database is locked"), and the database ends exact.
"""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from carline.models import Dismissal, QueueEntry
from hallpass.models import Destination, HallPass, HallpassPolicy, KeepApartGroup
from shared.models import Family, Room, Student
from tests.gunicorn_server import Browser, running_gunicorn
from tests.helpers import PASSWORD

BROWSERS = 10


@pytest.fixture
def server(app, tmp_path):
    with running_gunicorn(
        app.config["SQLALCHEMY_DATABASE_URI"], tmp_path, workers=3, threads=4
    ) as running:
        yield running


def signed_in_browsers(server, users) -> list[Browser]:
    browsers = []
    for user in users:
        browser = Browser(server.url)
        token = browser.csrf_token("/login")
        status, _, _ = browser.post(
            "/login", {"email": user.email, "password": PASSWORD, "csrf_token": token}
        )
        assert status == 302
        browser.token = browser.csrf_token("/hallpass/")
        browsers.append(browser)
    return browsers


def race(browsers, make_form, path="/hallpass/passes") -> list[tuple[int, str]]:
    """Every browser posts to `path` at the same moment; (status, body) of each."""
    barrier = threading.Barrier(len(browsers))

    def one(index: int):
        browser = browsers[index]
        barrier.wait(timeout=30)
        status, _headers, body = browser.post(
            path,
            {**make_form(index), "csrf_token": browser.token},
            headers={"HX-Request": "true"},
        )
        return status, body

    with ThreadPoolExecutor(max_workers=len(browsers)) as pool:
        return list(pool.map(one, range(len(browsers))))


@pytest.fixture
def place(db, school, make_user):
    room = Room(school_id=school.id, name="101", kind="classroom")
    restroom = Room(school_id=school.id, name="Restroom", kind="restroom")
    db.session.add_all([room, restroom])
    db.session.flush()
    destination = Destination(
        school_id=school.id, name="Restroom", room_id=restroom.id, time_limit_minutes=8, capacity=2
    )
    students = [
        Student(school_id=school.id, student_number=f"N{n}", first_name=f"S{n}", last_name="T")
        for n in range(BROWSERS)
    ]
    db.session.add_all([destination, *students, HallpassPolicy(school_id=school.id)])
    db.session.commit()
    users = [make_user(school, "office") for _ in range(BROWSERS)]
    return room, destination, students, users


def active_passes(db, **where) -> int:
    db.session.rollback()
    query = select(func.count(HallPass.id)).where(HallPass.status == "active")
    for key, value in where.items():
        query = query.where(getattr(HallPass, key) == value)
    return db.session.scalar(query)


def test_capacity_holds_across_processes(db, server, place):
    room, destination, students, users = place
    room_id, destination_id = room.id, destination.id
    student_ids = [s.id for s in students]
    browsers = signed_in_browsers(server, users)
    answers = race(
        browsers,
        lambda i: {
            "room_id": room_id,
            "student_id": student_ids[i],
            "destination_id": destination_id,
        },
    )
    statuses = sorted(status for status, _ in answers)
    assert all(status < 500 for status in statuses), answers
    assert statuses.count(200) == 2, statuses
    assert active_passes(db, destination_id=destination_id) == 2
    assert db.session.get(Destination, destination_id).out_now == 2
    assert "database is locked" not in server.log()


def test_one_active_pass_per_student_across_processes(db, server, place):
    room, destination, students, users = place
    room_id, destination_id, student_id = room.id, destination.id, students[0].id
    db.session.get(Destination, destination_id).capacity = None
    db.session.commit()
    browsers = signed_in_browsers(server, users)
    answers = race(
        browsers,
        lambda i: {"room_id": room_id, "student_id": student_id, "destination_id": destination_id},
    )
    statuses = sorted(status for status, _ in answers)
    assert all(status < 500 for status in statuses), answers
    assert statuses.count(200) == 1, statuses
    assert active_passes(db, student_id=student_id) == 1
    assert db.session.get(Destination, destination_id).out_now == 1
    assert "database is locked" not in server.log()


def test_building_cap_and_keep_apart_hold_across_processes(db, server, place, school):
    room, destination, students, users = place
    room_id, destination_id = room.id, destination.id
    db.session.get(Destination, destination_id).capacity = None
    db.session.get(HallpassPolicy, school.id).building_cap = 3
    group = KeepApartGroup(school_id=school.id, note="apart")
    group.members.extend(students[:4])  # browsers 0-3 ask for the four kept apart
    db.session.add(group)
    db.session.commit()
    student_ids = [s.id for s in students]
    browsers = signed_in_browsers(server, users)
    answers = race(
        browsers,
        lambda i: {
            "room_id": room_id,
            "student_id": student_ids[i],
            "destination_id": destination_id,
        },
    )
    assert all(status < 500 for status, _ in answers), answers
    assert active_passes(db) == 3, answers
    kept_apart_out = active_passes(db) - sum(
        1 for sid in student_ids[4:] if active_passes(db, student_id=sid)
    )
    assert kept_apart_out <= 1
    assert db.session.get(HallpassPolicy, school.id).out_now == 3
    assert "database is locked" not in server.log()


def test_curb_phones_racing_on_the_same_cars_queue_each_once(db, server, school, make_user):
    """Ten curb phones in three processes enter five cars, each car from two phones at once."""
    families = []
    for n in range(1, 6):
        family = Family(school_id=school.id, tag_number=n)
        family.students.append(
            Student(school_id=school.id, student_number=f"C{n}", first_name=f"C{n}", last_name="K")
        )
        families.append(family)
    db.session.add_all(families)
    db.session.commit()
    office = make_user(school, "office")
    users = [make_user(school, "staff") for _ in range(BROWSERS)]
    starter = signed_in_browsers(server, [office])[0]
    status, _, _ = starter.post(
        "/carline/dismissal/start",
        {"lanes": "1", "spots_per_lane": "2", "csrf_token": starter.token},
    )
    assert status == 302
    browsers = signed_in_browsers(server, users)
    answers = race(
        browsers,
        lambda i: {"entry": str(i % 5 + 1), "key": f"phone-{i}"},
        path="/carline/curb/entries",
    )
    assert [status for status, _ in answers] == [200] * BROWSERS, answers
    db.session.rollback()
    dismissal = db.session.scalars(select(Dismissal)).one()
    entries = db.session.scalars(
        select(QueueEntry).where(QueueEntry.dismissal_id == dismissal.id)
    ).all()
    assert sorted(e.position for e in entries) == [1, 2, 3, 4, 5]
    assert len({e.family_id for e in entries}) == 5
    assert sorted(e.spot for e in entries if e.spot is not None) == [1, 2]
    assert sum(e.repeat_count for e in entries) == BROWSERS - 5
    assert "database is locked" not in server.log()

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

from hallpass.models import Destination, HallPass, HallpassPolicy
from shared.models import Room, Student
from tests.conftest import PASSWORD
from tests.gunicorn_server import Browser, running_gunicorn

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


def race(browsers, make_form) -> list[tuple[int, str]]:
    """Every browser posts a pass start at the same moment; (status, body) of each."""
    barrier = threading.Barrier(len(browsers))

    def one(index: int):
        browser = browsers[index]
        barrier.wait(timeout=30)
        status, _headers, body = browser.post(
            "/hallpass/passes",
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

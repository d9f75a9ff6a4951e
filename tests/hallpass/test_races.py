"""The hall pass lock order and the emergency sweep hold under real races on PostgreSQL.

SQLite serialises its writers, so these shapes can only go wrong on PostgreSQL, where
two transactions that lock the same rows in opposite orders deadlock (one of them is
killed: a 500 and a lost write) and a read without a lock can be stale by the time the
write it decides lands. The tests run when TEST_DATABASE_URL names a PostgreSQL database:

- every pair of the operations that lock a school's policy row and a destination row
  (start, end, join the wait line, queue a request, approve, deny) raced from threads,
  each with its own connection, round after round;
- the shape that deadlocked black-box, through several gunicorn workers: a full
  capacity-3 destination with 6 in its line, then its 3 passes end while 20 more join;
- 150 pass starts spread over a second while the office starts a sweep half way: the
  sweep's count is the truth and no pass starts after its answer.
"""

from __future__ import annotations

import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from hallpass import pass_requests, passes, wait_line
from hallpass.models import Destination, HallPass, HallpassPolicy, PassRequest
from shared.audit import Actor
from shared.database import write_intent
from shared.errors import DomainError
from shared.models import Room, School, Student, User
from shared.timeutil import utcnow
from tests.gunicorn_server import Browser, running_gunicorn
from tests.helpers import PASSWORD

pytestmark = pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql"),
    reason="a lock order and a stale read only show on PostgreSQL (set TEST_DATABASE_URL)",
)

CAPACITY = 3


def _setup(db, school, make_user, *, students: int, capacity: int | None = CAPACITY):
    """A classroom, a destination, `students` students in it and an office user."""
    room = Room(school_id=school.id, name="101", kind="classroom")
    restroom = Room(school_id=school.id, name="Restroom", kind="restroom")
    db.session.add_all([room, restroom])
    db.session.flush()
    destination = Destination(
        school_id=school.id,
        name="Restroom",
        room_id=restroom.id,
        time_limit_minutes=8,
        capacity=capacity,
    )
    kids = [
        Student(school_id=school.id, student_number=f"R{n:03d}", first_name=f"S{n}", last_name="T")
        for n in range(students)
    ]
    db.session.add_all([destination, *kids, HallpassPolicy(school_id=school.id)])
    db.session.commit()
    return room, destination, kids, make_user(school, "office")


def _fill_with_line(db, school, room, destination, kids, user, waiting: int) -> list[HallPass]:
    """The destination full (CAPACITY passes out) and `waiting` students in its line."""
    actor = Actor(user=user)
    started = [
        passes.start_pass(
            school,
            actor,
            student_id=kid.id,
            destination_id=destination.id,
            from_room_id=room.id,
            source="teacher",
        )
        for kid in kids[:CAPACITY]
    ]
    for kid in kids[CAPACITY : CAPACITY + waiting]:
        wait_line.join_wait_line(
            school,
            actor,
            student_id=kid.id,
            destination_id=destination.id,
            from_room_id=room.id,
            source="teacher",
        )
    db.session.commit()
    return started


def _places_add_up(db, school_id: int, destination_id: int) -> None:
    """Every claimed place is a pass out or a place held for the head of the line."""
    db.session.rollback()
    active = db.session.scalar(
        select(func.count(HallPass.id)).where(
            HallPass.destination_id == destination_id, HallPass.status == "active"
        )
    )
    ready = db.session.scalar(
        select(func.count(PassRequest.id)).where(
            PassRequest.destination_id == destination_id, PassRequest.status == "ready"
        )
    )
    destination = db.session.get(Destination, destination_id)
    assert destination.out_now == active + ready <= CAPACITY
    assert db.session.get(HallpassPolicy, school_id).out_now == active + ready
    waiting = db.session.scalar(
        select(func.count(PassRequest.id)).where(
            PassRequest.destination_id == destination_id, PassRequest.status == "waiting"
        )
    )
    if waiting:  # a free place never stays free while someone waits for it
        assert destination.out_now == CAPACITY


# ---------------------------------------------------- every pair, from threads


def _at_once(app, calls) -> list[str]:
    """Run each call in its own thread, app context, connection and transaction."""
    barrier = threading.Barrier(len(calls))

    def attempt(call):
        with app.app_context(), write_intent():
            from shared.extensions import db

            barrier.wait(timeout=30)
            try:
                call(db)
                db.session.commit()
                return "ok"
            except DomainError as error:
                db.session.rollback()
                return type(error).__name__
            except DBAPIError as error:  # a deadlock: PostgreSQL killed this transaction
                db.session.rollback()
                return f"database error: {type(error.orig).__name__}"

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(attempt, calls))


def _ops(school_id, room_id, destination_id, user_id, kids, started, pending, waiting):
    """Each operation as a factory: n -> a call (a function of the thread's db)."""

    def context(db):
        return db.session.get(School, school_id), Actor(user=db.session.get(User, user_id))

    def start(n):
        def call(db):
            school, actor = context(db)
            passes.start_pass(
                school,
                actor,
                student_id=kids[n].id,
                destination_id=destination_id,
                from_room_id=room_id,
                source="teacher",
                urgent=False,
            )

        return call

    def end(n):
        def call(db):
            school, actor = context(db)
            passes.end_pass(school, actor, pass_id=started[n % len(started)], ended_by="staff")

        return call

    def join(n):
        def call(db):
            school, actor = context(db)
            wait_line.join_wait_line(
                school,
                actor,
                student_id=kids[n].id,
                destination_id=destination_id,
                from_room_id=room_id,
                source="teacher",
            )

        return call

    def queue(n):
        def call(db):
            school, actor = context(db)
            wait_line.queue_request(school, actor, request_id=pending[n % len(pending)])

        return call

    def approve(n):
        def call(db):
            school, actor = context(db)
            pass_requests.approve_request(school, actor, request_id=pending[n % len(pending)])

        return call

    def deny(n):
        def call(db):
            school, actor = context(db)
            pass_requests.deny_request(school, actor, request_id=waiting[n % len(waiting)])

        return call

    return {
        "start": start,
        "end": end,
        "join": join,
        "queue": queue,
        "approve": approve,
        "deny": deny,
    }


OPS = ("start", "end", "join", "queue", "approve", "deny")
PAIRS = [(a, b) for i, a in enumerate(OPS) for b in OPS[i:] if a != b]


@pytest.mark.parametrize(("first", "second"), PAIRS, ids=[f"{a}-{b}" for a, b in PAIRS])
def test_every_pair_of_place_taking_operations_races_without_a_deadlock(
    app, db, make_school, make_user, first, second
):
    rounds, each = 3, 4
    for _ in range(rounds):
        school = make_school()  # a fresh school for every round
        room, destination, kids, user = _setup(db, school, make_user, students=40)
        started = [p.id for p in _fill_with_line(db, school, room, destination, kids, user, 3)]
        pending = [
            pass_requests.ask_for_pass(
                school,
                Actor(),
                student_id=kid.id,
                destination_id=destination.id,
                from_room_id=room.id,
                source="room_qr",
            ).id
            for kid in kids[6:10]
        ]
        db.session.commit()
        waiting = list(
            db.session.scalars(
                select(PassRequest.id).where(
                    PassRequest.destination_id == destination.id, PassRequest.status == "waiting"
                )
            )
        )
        ops = _ops(school.id, room.id, destination.id, user.id, kids, started, pending, waiting)
        fresh = iter(range(10, 40))  # students nobody has touched, for starts and joins
        calls = [ops[first](next(fresh) if first in ("start", "join") else n) for n in range(each)]
        calls += [
            ops[second](next(fresh) if second in ("start", "join") else n) for n in range(each)
        ]
        answers = _at_once(app, calls)
        assert not [a for a in answers if a.startswith("database error")], answers
        _places_add_up(db, school.id, destination.id)


# ------------------------------------------------- through several gunicorn workers


@pytest.fixture
def server(app, tmp_path):
    with running_gunicorn(
        app.config["SQLALCHEMY_DATABASE_URI"], tmp_path, workers=3, threads=4
    ) as running:
        yield running


def _signed_in(server, user, n: int) -> list[Browser]:
    browsers = []
    for _ in range(n):
        browser = Browser(server.url)
        token = browser.csrf_token("/login")
        status, _, _ = browser.post(
            "/login", {"email": user.email, "password": PASSWORD, "csrf_token": token}
        )
        assert status == 302
        browser.token = browser.csrf_token("/hallpass/")
        browsers.append(browser)
    return browsers


def _post(browser: Browser, path: str, form: dict) -> tuple[int, str]:
    status, _headers, body = browser.post(
        path, {**form, "csrf_token": browser.token}, headers={"HX-Request": "true"}
    )
    return status, body


def test_passes_ending_while_many_join_the_line_neither_deadlock_nor_lose_a_place(
    db, server, school, make_user
):
    """The black-box deadlock: 3 passes end while 20 students join the line at once."""
    room, destination, kids, user = _setup(db, school, make_user, students=CAPACITY + 6 + 20)
    started = _fill_with_line(db, school, room, destination, kids, user, waiting=6)
    first_in_line = list(
        db.session.scalars(
            select(PassRequest.id)
            .where(PassRequest.status == "waiting")
            .order_by(PassRequest.position)
            .limit(CAPACITY)
        )
    )
    room_id, destination_id, school_id = room.id, destination.id, school.id
    pass_ids = [p.id for p in started]
    joiners = [k.id for k in kids[CAPACITY + 6 :]]
    browsers = _signed_in(server, user, 8)
    calls = [(f"/hallpass/passes/{pass_id}/end", {}) for pass_id in pass_ids] + [
        (
            "/hallpass/wait-line",
            {"room_id": room_id, "student_id": sid, "destination_id": destination_id},
        )
        for sid in joiners
    ]
    barrier = threading.Barrier(len(calls))

    def one(index: int):
        path, form = calls[index]
        barrier.wait(timeout=30)
        return _post(browsers[index % len(browsers)], path, form)

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        answers = list(pool.map(one, range(len(calls))))
    statuses = [status for status, _ in answers]
    log = server.log()
    assert statuses.count(500) == 0, statuses
    assert "deadlock" not in log.lower(), log[-3000:]
    assert statuses == [200] * len(calls), statuses
    db.session.rollback()
    assert [db.session.get(HallPass, pid).status for pid in pass_ids] == ["ended"] * CAPACITY
    ready = sorted(db.session.scalars(select(PassRequest.id).where(PassRequest.status == "ready")))
    assert ready == sorted(first_in_line)  # the freed places went to the head of the line
    waiting = db.session.scalar(
        select(func.count(PassRequest.id)).where(PassRequest.status == "waiting")
    )
    assert waiting == 6 - CAPACITY + len(joiners)
    _places_add_up(db, school_id, destination_id)


STARTS = 150


def test_no_pass_starts_once_the_sweep_has_answered(db, server, school, make_user):
    """150 starts over one second, the sweep at half a second: its count is the truth."""
    room, destination, kids, user = _setup(db, school, make_user, students=STARTS, capacity=None)
    room_id, destination_id = room.id, destination.id
    kid_ids = [k.id for k in kids]
    browsers = _signed_in(server, user, 10)
    office = _signed_in(server, user, 1)[0]
    office.token = office.csrf_token("/hallpass/sweep")
    answered_at: list[float] = []
    begin = time.monotonic() + 0.5

    def start(n: int):
        time.sleep(max(0.0, begin + n / STARTS - time.monotonic()))
        status, _ = _post(
            browsers[n % len(browsers)],
            "/hallpass/passes",
            {"room_id": room_id, "student_id": kid_ids[n], "destination_id": destination_id},
        )
        return status

    def sweep():
        time.sleep(max(0.0, begin + 0.5 - time.monotonic()))
        status, _headers, _body = office.post(
            "/hallpass/sweep", {"action": "start", "csrf_token": office.token}
        )
        answered_at.append(time.monotonic())
        return status

    with ThreadPoolExecutor(max_workers=64) as pool:
        swept = pool.submit(sweep)
        statuses = list(pool.map(start, range(STARTS)))
        assert swept.result() == 302
    _status, _headers, page = office.get("/hallpass/sweep")
    told = re.search(r"Sweep started: no new passes\. (\d+) students? (?:is|are) out", page)
    assert told, page[:2000]
    db.session.rollback()
    policy = db.session.get(HallpassPolicy, school.id)
    active = db.session.scalar(select(func.count(HallPass.id)).where(HallPass.status == "active"))
    assert statuses.count(500) == 0, statuses
    assert 0 < active < STARTS, statuses  # the sweep came in the middle of the starts
    assert active == int(told[1]), (active, told[0], statuses)
    assert sorted(set(statuses)) <= [200, 409], statuses
    assert utcnow() - policy.sweep_started_at < timedelta(minutes=1)

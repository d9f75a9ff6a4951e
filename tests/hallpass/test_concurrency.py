"""Wait lines and approvals under concurrent requests (SQLite and PostgreSQL).

Threads act at once through the services, each in its own app context and transaction,
as requests on several workers would; the invariants are then read from the database.
"""

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from hallpass import pass_requests, wait_line
from hallpass.models import Destination, HallPass, HallpassPolicy, PassRequest
from hallpass.passes import end_pass, start_pass
from shared.audit import Actor
from shared.database import write_intent
from shared.errors import DomainError
from tests.hallpass import test_services as base

NOON_ISH, go = base.NOON_ISH, base.go


def run_at_once(app, calls) -> list[str]:
    """Run each call (a function of nothing) in its own thread and transaction."""

    def attempt(call):
        with app.app_context(), write_intent():
            from shared.extensions import db

            try:
                call(db)
                db.session.commit()
                return "ok"
            except DomainError as error:
                db.session.rollback()
                return type(error).__name__

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(attempt, calls))


def _school(db, school_id):
    from shared.models import School

    return db.session.get(School, school_id)


def fill(db, place):
    """Make the restroom (capacity 2) full."""
    go(place, place["students"][0])
    go(place, place["students"][1])
    db.session.commit()


def test_joining_the_wait_line_at_once_keeps_positions_unique(app, db, place):
    fill(db, place)
    school_id, room_id, restroom_id = place["school"].id, place["room"].id, place["restroom"].id
    joiners = [s.id for s in place["students"][2:18]]
    twice = joiners[0]

    def join(student_id):
        return lambda db: wait_line.join_wait_line(
            _school(db, school_id),
            Actor(),
            student_id=student_id,
            destination_id=restroom_id,
            from_room_id=room_id,
            source="kiosk",
            now=NOON_ISH,
        )

    outcomes = run_at_once(app, [join(s) for s in joiners] + [join(twice)] * 6)
    assert outcomes.count("ok") == len(joiners)
    assert outcomes.count("Conflict") == 6  # the same student never twice
    db.session.rollback()
    rows = db.session.execute(
        select(PassRequest.student_id, PassRequest.position).where(PassRequest.status == "waiting")
    ).all()
    positions = [position for _, position in rows]
    assert len(rows) == len(joiners) and len(set(positions)) == len(positions)
    assert sorted(student for student, _ in rows) == sorted(joiners)
    ranks = [wait_line.line_rank(r) for r in db.session.scalars(select(PassRequest))]
    assert sorted(ranks) == list(range(1, len(joiners) + 1))


def test_approving_at_once_holds_the_capacity(app, db, place):
    school = place["school"]
    requests = [
        pass_requests.ask_for_pass(
            school,
            Actor(),
            student_id=s.id,
            destination_id=place["restroom"].id,
            from_room_id=place["room"].id,
            source="room_qr",
            now=NOON_ISH,
        ).id
        for s in place["students"][:12]
    ]
    db.session.commit()
    school_id, teacher_id = school.id, place["teacher"].id

    def approve(request_id):
        def call(db):
            from shared.models import User

            pass_requests.approve_request(
                _school(db, school_id),
                Actor(user=db.session.get(User, teacher_id)),
                request_id=request_id,
                now=NOON_ISH,
            )

        return call

    outcomes = run_at_once(app, [approve(r) for r in requests] + [approve(requests[0])] * 4)
    assert outcomes.count("ok") == 2
    db.session.rollback()
    active = db.session.scalar(select(func.count(HallPass.id)).where(HallPass.status == "active"))
    assert active == 2
    assert db.session.get(Destination, place["restroom"].id).out_now == 2
    assert db.session.get(HallpassPolicy, school.id).out_now == 2
    approved = db.session.scalar(
        select(func.count(PassRequest.id)).where(PassRequest.status == "approved")
    )
    assert approved == 2


def test_places_freed_while_others_join_go_to_the_line_in_order(app, db, place):
    fill(db, place)
    passes = list(db.session.scalars(select(HallPass.id).order_by(HallPass.id)))
    school_id, room_id, restroom_id = place["school"].id, place["room"].id, place["restroom"].id
    teacher_id = place["teacher"].id
    for student in place["students"][2:6]:  # four are in line first
        wait_line.join_wait_line(
            place["school"],
            Actor(),
            student_id=student.id,
            destination_id=restroom_id,
            from_room_id=room_id,
            source="kiosk",
            now=NOON_ISH,
        )
    db.session.commit()

    def end(pass_id):
        def call(db):
            from shared.models import User

            end_pass(
                _school(db, school_id),
                Actor(user=db.session.get(User, teacher_id)),
                pass_id=pass_id,
                ended_by="staff",
                now=NOON_ISH,
            )

        return call

    def start(student_id):
        return lambda db: start_pass(
            _school(db, school_id),
            Actor(),
            student_id=student_id,
            destination_id=restroom_id,
            from_room_id=room_id,
            source="kiosk",
            now=NOON_ISH,
        )

    outsiders = [s.id for s in place["students"][6:14]]
    outcomes = run_at_once(app, [end(p) for p in passes] + [start(s) for s in outsiders])
    assert outcomes[:2] == ["ok", "ok"]
    assert "ok" not in outcomes[2:]  # nobody jumped the line
    db.session.rollback()
    ready = list(
        db.session.scalars(
            select(PassRequest.position)
            .where(PassRequest.status == "ready")
            .order_by(PassRequest.position)
        )
    )
    assert ready == [1, 2]  # the first two in line got the two places
    assert db.session.get(Destination, restroom_id).out_now == 2

"""The limit of students out at once from one classroom: counted with the passes out and
the places held for the room's students, overridden by staff with a reason (never by a
sweep), skipped by an urgent nurse pass, held under concurrent requests, and respected by
the wait line (a student whose classroom is at its limit keeps their place in line, and
the place goes to the next student until one is back)."""

import pytest
from sqlalchemy import select

from hallpass.models import HallPass, PassRequest
from hallpass.pass_requests import approve_request
from hallpass.passes import start_pass
from hallpass.rules import RuleBlocked
from hallpass.wait_line import join_wait_line
from shared.audit import Actor
from shared.models import AuditEvent, Room
from tests.hallpass.test_services import NOON_ISH, back, go, policy, race


@pytest.fixture
def other_room(db, place):
    room = Room(school_id=place["school"].id, name="115")
    db.session.add(room)
    db.session.commit()
    return room


def go_from(place, room, student, destination="library", **kwargs):
    """A pass from `room` (None: sent from no classroom, e.g. by the office)."""
    return start_pass(
        place["school"],
        Actor(user=place["teacher"]),
        student_id=student.id,
        destination_id=place[destination].id,
        from_room_id=room.id if room else None,
        source="teacher",
        now=NOON_ISH,
        **kwargs,
    )


def line_up_from(place, room, student, destination="restroom"):
    return join_wait_line(
        place["school"],
        Actor(),
        student_id=student.id,
        destination_id=place[destination].id,
        from_room_id=room.id,
        source="kiosk",
        now=NOON_ISH,
    )


def test_a_classroom_at_its_limit_sends_nobody_else_until_one_is_back(db, place, other_room):
    policy(db, place["school"], room_cap=2)
    kids = place["students"]
    first = go(place, kids[0], "library")
    go(place, kids[1], "library")
    with pytest.raises(
        RuleBlocked, match="2 students are already out of this classroom"
    ) as blocked:
        go(place, kids[2], "library")
    assert blocked.value.rule == "room_cap" and blocked.value.overridable
    # Another classroom has its own count.
    assert go_from(place, other_room, kids[3]).status == "active"
    # An urgent nurse pass is never blocked; it still counts.
    urgent = go(place, kids[4], "nurse", urgent=True)
    back(place, first)
    with pytest.raises(RuleBlocked, match="already out of this classroom"):
        go(place, kids[2], "library")  # the urgent pass fills the place given back
    back(place, urgent)
    assert go(place, kids[2], "library").status == "active"


def test_staff_override_the_classroom_limit_with_a_reason_but_never_a_sweep(db, place):
    policy(db, place["school"], room_cap=1)
    go(place, place["students"][0], "library")
    over = go(place, place["students"][1], "library", override_reason="test make-up")
    db.session.commit()
    assert over.override_reason == "test make-up"
    started = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "hallpass.start").order_by(AuditEvent.id)
    ).all()
    assert started[-1].detail["override_reason"] == "test make-up"
    policy(db, place["school"], sweep_started_at=NOON_ISH)
    with pytest.raises(RuleBlocked, match="sweep"):
        go(place, place["students"][2], "library", override_reason="test make-up")


def test_no_limit_set_sends_anyone(db, place):
    for kid in place["students"][:6]:
        go(place, kid, "library")
    assert db.session.query(HallPass).filter_by(status="active").count() == 6


def test_the_classroom_limit_holds_under_concurrent_requests(app, db, place):
    policy(db, place["school"], room_cap=3)
    outcomes = race(app, place, [(s.id, "library") for s in place["students"]])
    assert outcomes.count("started") == 3
    assert sorted(set(outcomes)) == ["RuleBlocked", "started"]
    db.session.rollback()
    active = db.session.query(HallPass).filter_by(status="active", from_room_id=place["room"].id)
    assert active.count() == 3


def test_the_wait_line_passes_over_a_student_whose_classroom_is_at_its_limit(db, place, other_room):
    """Restroom: 2 places. A classroom may have 1 out. A 114 student waits at the head of the
    restroom's line while 114 has someone out: the freed place goes to the 115 student
    behind them, and the 114 student gets the next place once 114's student is back."""
    policy(db, place["school"], room_cap=1)
    kids = place["students"]
    out_of_114 = go(place, kids[0], "library")  # 114 is at its limit
    # The restroom is full, with two students sent from the office (no classroom).
    restroom = [go_from(place, None, kids[n], "restroom") for n in (1, 2)]
    head_from_114 = line_up_from(place, place["room"], kids[3])
    behind_from_115 = line_up_from(place, other_room, kids[4])
    db.session.commit()

    back(place, restroom[0])  # a restroom place frees: 114 is still at its limit
    db.session.commit()
    head, behind = (db.session.get(PassRequest, r.id) for r in (head_from_114, behind_from_115))
    assert (head.status, behind.status) == ("waiting", "ready")

    back(place, out_of_114)  # 114's student is back, but the restroom is full again
    db.session.commit()
    assert db.session.get(PassRequest, head.id).status == "waiting"

    back(place, restroom[1])  # a place frees, and 114 is under its limit: the head's turn
    db.session.commit()
    assert db.session.get(PassRequest, head.id).status == "ready"
    # A held place counts toward the room: nobody else leaves 114 meanwhile.
    with pytest.raises(RuleBlocked, match="already out of this classroom"):
        go(place, kids[5], "library")
    hall_pass = approve_request(
        place["school"], Actor(user=place["teacher"]), request_id=head.id, now=NOON_ISH
    )
    db.session.commit()
    assert (hall_pass.student_id, hall_pass.status) == (kids[3].id, "active")


def test_a_student_back_in_class_hands_a_waiting_classmate_a_free_place(db, place, other_room):
    """The line's destination has a free place but its head's classroom was at its limit:
    once that classroom's student is back, the waiting classmate gets the place at once."""
    policy(db, place["school"], room_cap=1)
    kids = place["students"]
    restroom = [
        go_from(place, None, kids[1], "restroom"),
        go_from(place, None, kids[2], "restroom"),
    ]
    out_of_114 = go(place, kids[0], "library")
    waiting = line_up_from(place, place["room"], kids[3])
    db.session.commit()
    back(place, restroom[0])  # the place frees while 114 is at its limit: kept free
    db.session.commit()
    assert db.session.get(PassRequest, waiting.id).status == "waiting"
    back(place, out_of_114)
    db.session.commit()
    assert db.session.get(PassRequest, waiting.id).status == "ready"


def test_a_classroom_of_its_own_limit_beats_the_schools(db, place, other_room):
    """Room 114 may have 3 out though the school says 1; 115 keeps the school's 1; a room
    given its own limit with no school limit at all is held to it too."""
    from hallpass.policy import set_room_cap

    school, kids = place["school"], place["students"]
    policy(db, school, room_cap=1)
    set_room_cap(school, place["room"].id, 3)
    db.session.commit()
    for kid in kids[:3]:
        go(place, kid, "library")
    with pytest.raises(RuleBlocked, match="3 students are already out of this classroom"):
        go(place, kids[3], "library")
    go_from(place, other_room, kids[4])
    with pytest.raises(RuleBlocked, match="1 student is already out of this classroom"):
        go_from(place, other_room, kids[5])
    policy(db, school, room_cap=None)
    set_room_cap(school, other_room.id, 1)
    db.session.commit()
    with pytest.raises(RuleBlocked, match="already out of this classroom"):
        go_from(place, other_room, kids[5])
    set_room_cap(school, other_room.id, None)  # back to the school's: no limit now
    db.session.commit()
    assert go_from(place, other_room, kids[5]).status == "active"
    changes = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "hallpass.room_cap").order_by(AuditEvent.id)
    ).all()
    assert [(e.detail["before"], e.detail["after"]) for e in changes] == [
        (None, 3),
        (None, 1),
        (1, None),
    ]

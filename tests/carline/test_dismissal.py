"""Car line services: tags, plans, curb entry, spots, calls, end of day; and under concurrency."""

import csv
import io
import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock

import pytest
from sqlalchemy import func, select

from carline import carpools, progress, reports
from carline.curb import CurbResult, curb_entry, mark_loaded
from carline.day_plans import dismissal_mode
from carline.dismissal import (
    UNDO_WINDOW,
    call_bus,
    end_dismissal,
    late_pickups,
    mark_sent,
    release_walkers,
    reopen_dismissal,
    start_dismissal,
)
from carline.families import (
    block_tag_number,
    blocked_numbers,
    create_family,
    issue_tag,
    next_tag_number,
    replace_lost_tag,
    unblock_tag_number,
)
from carline.models import CalledStudent, CurbRequest, Dismissal, QueueEntry, Tag
from carline.pickup import pickup_list
from carline.plans import (
    clear_absence,
    mark_absent,
    record_change,
    set_weekday_defaults,
    take_back_change,
)
from carline.sending import send_all, undo_calls, undo_send_all
from shared import live
from shared.audit import SYSTEM, Actor
from shared.database import write_intent
from shared.errors import Conflict, InvalidInput, NotFound
from shared.extensions import db as database
from shared.models import AuditEvent, Device, School
from shared.schedule import school_today
from tests.helpers import audit_actions

MONDAY = date(2026, 11, 23)
TUESDAY = date(2026, 11, 24)
#: Noon in Chicago (the school fixture's time zone) on MONDAY: plans for MONDAY are not past.
ON_MONDAY = datetime(2026, 11, 23, 18, tzinfo=UTC)


@pytest.fixture
def office(school, make_user):
    return make_user(school, "office")


@pytest.fixture
def dismissal(db, school, office):
    started = start_dismissal(school, Actor(user=office), 1, 2, MONDAY)
    db.session.commit()
    return started


def enter(db, school, dismissal, actor=SYSTEM, **how) -> CurbResult:
    result = curb_entry(school, dismissal, actor=actor, **how)
    db.session.commit()
    return result


def warnings(result: CurbResult) -> dict[str, str]:
    return {s.student.first_name: s.warning for s in result.warnings}


def called(result: CurbResult) -> list[str]:
    return [s.student.first_name for s in result.students if s.call is not None]


# Tags


def test_unknown_inactive_and_malformed_tags_are_refused(
    db, school, dismissal, make_family, make_school
):
    make_family(school, 7, active=False)
    make_family(make_school(), 8)
    with pytest.raises(NotFound, match="Tag 99 is not a tag"):
        curb_entry(school, dismissal, tag_number=99, actor=SYSTEM)
    with pytest.raises(NotFound, match="Tag 8 is not a tag"):  # another school's tag
        curb_entry(school, dismissal, tag_number=8, actor=SYSTEM)
    with pytest.raises(InvalidInput, match="no longer in use"):
        curb_entry(school, dismissal, tag_number=7, actor=SYSTEM)
    with pytest.raises(NotFound, match="not a hang tag"):
        curb_entry(school, dismissal, token="nonsense", actor=SYSTEM)
    with pytest.raises(InvalidInput, match="start at 1"):
        curb_entry(school, dismissal, tag_number=0, actor=SYSTEM)
    with pytest.raises(InvalidInput, match="tag number or scan"):
        curb_entry(school, dismissal, actor=SYSTEM)
    with pytest.raises(InvalidInput, match="request id"):
        curb_entry(school, dismissal, tag_number=7, idempotency_key="x" * 65, actor=SYSTEM)
    db.session.rollback()
    assert db.session.scalar(select(func.count(QueueEntry.id))) == 0


def test_reprinting_a_tag_revokes_the_old_token(db, school, office, dismissal, make_family):
    family = make_family(school, 12)
    old = issue_tag(school, family, actor=Actor(user=office))
    new = issue_tag(school, family, actor=Actor(user=office))
    db.session.commit()
    assert old.revoked_at is not None and new.revoked_at is None
    assert len(new.token) >= 32 and new.token != old.token  # 192 random bits
    with pytest.raises(InvalidInput, match=r"replaced by a newer one\. Type the number 12\."):
        curb_entry(school, dismissal, token=old.token, actor=SYSTEM)
    assert enter(db, school, dismissal, token=f" {new.token}\n").tag_number == 12
    live_tags = select(func.count(Tag.id)).where(Tag.revoked_at.is_(None))
    assert db.session.scalar(live_tags) == 1


def test_a_token_of_another_school_is_unknown(db, school, dismissal, make_school, make_family):
    tag = issue_tag(other := make_school(), make_family(other, 12), actor=SYSTEM)
    with pytest.raises(NotFound):
        curb_entry(school, dismissal, token=tag.token, actor=SYSTEM)


# Curb entry


def test_curb_entry_calls_the_familys_car_riders(db, school, dismissal, make_family, make_student):
    ann, ben = make_student(school, "Ann"), make_student(school, "Ben")
    make_family(school, 12, ann, ben)
    result = enter(db, school, dismissal, tag_number=12)
    assert result.created and result.position == 1 and result.spot == "A1"
    assert called(result) == ["Ann", "Ben"] and result.warnings == []
    assert {c.status for c in result.entry.calls} == {"called"}


def test_the_same_tag_again_is_a_noted_repeat(db, school, dismissal, make_family, make_student):
    make_family(school, 12, make_student(school, "Ann"))
    first = enter(db, school, dismissal, tag_number=12)
    again = enter(db, school, dismissal, tag_number=12)
    enter(db, school, dismissal, tag_number=12)
    assert not again.created and again.entry.id == first.entry.id and again.position == 1
    assert called(again) == ["Ann"]
    assert db.session.scalar(select(func.count(QueueEntry.id))) == 1
    assert db.session.scalar(select(func.count(CalledStudent.id))) == 1
    assert first.entry.repeat_count == 2
    assert audit_actions(db, school_id=school.id)[-3:] == [
        "carline.curb_entry",
        "carline.curb_repeat",
        "carline.curb_repeat",
    ]


def test_a_retried_request_gets_the_first_answer(db, school, dismissal, make_family, make_student):
    make_family(school, 12, make_student(school))
    make_family(school, 13, make_student(school))
    first = enter(db, school, dismissal, tag_number=12, idempotency_key="k1")
    retry = enter(db, school, dismissal, tag_number=12, idempotency_key="k1")
    assert retry.created and retry.entry.id == first.entry.id and retry.entry.repeat_count == 0
    repeat = enter(db, school, dismissal, tag_number=12, idempotency_key="k2")
    repeat_retry = enter(db, school, dismissal, tag_number=12, idempotency_key="k2")
    assert not repeat.created and not repeat_retry.created
    assert repeat_retry.entry.repeat_count == 1  # the retry of a repeat is not counted again
    with pytest.raises(Conflict, match="another tag"):
        curb_entry(school, dismissal, tag_number=13, idempotency_key="k1", actor=SYSTEM)
    db.session.rollback()
    assert db.session.scalar(select(func.count(QueueEntry.id))) == 1
    assert db.session.scalar(select(func.count(CurbRequest.id))) == 2
    assert audit_actions(db, school_id=school.id).count("carline.curb_repeat") == 1


def test_students_not_riding_with_this_car_are_named_with_a_warning(
    db, school, office, dismissal, make_family, make_student
):
    ann, ben, cal, dee, eve, fay = (
        make_student(school, name) for name in ("Ann", "Ben", "Cal", "Dee", "Eve", "Fay")
    )
    ours = make_family(school, 12, ann, ben, cal, dee, eve, fay)
    grandma = make_family(school, 31)
    carpools.set_up(school, Actor(user=office), ours, 31)  # a plan may name tag 31 now
    mark_absent(school, Actor(user=office), ben, MONDAY, now=ON_MONDAY)
    record_change(
        school, Actor(user=office), cal, MONDAY, mode="bus", bus_route=" 7a ", now=ON_MONDAY
    )
    set_weekday_defaults(school, Actor(user=office), dee, [MONDAY.weekday()], "walker")
    record_change(
        school, Actor(user=office), eve, MONDAY, mode="car", family=grandma, now=ON_MONDAY
    )
    record_change(
        school,
        Actor(user=office),
        fay,
        MONDAY,
        mode="car",
        early_pickup=clock(13, 30),
        now=ON_MONDAY,
    )
    db.session.commit()
    result = enter(db, school, dismissal, tag_number=12)
    assert called(result) == ["Ann"]
    assert warnings(result) == {
        "Ben": "Absent today.",
        "Cal": "Rides bus 7A today.",
        "Dee": "Walks home today.",
        "Eve": "Goes home with tag 31 today.",
        "Fay": "Picked up early at 1:30 PM.",
    }
    assert called(enter(db, school, dismissal, tag_number=31)) == ["Eve"]


def test_a_student_on_two_tags_is_called_once(db, school, dismissal, make_family, make_student):
    shared_kid = make_student(school, "Sam")
    make_family(school, 12, shared_kid)
    make_family(school, 13, shared_kid, make_student(school, "Tia"))
    enter(db, school, dismissal, tag_number=12)
    second = enter(db, school, dismissal, tag_number=13)
    assert called(second) == ["Tia"]
    assert warnings(second) == {"Sam": "Already called with tag 12."}


def test_students_already_gone_are_named(db, school, dismissal, make_family, make_student):
    kid = make_student(school, "Sam")
    make_family(school, 12, kid)
    make_family(school, 13, kid)
    mark_loaded(school, enter(db, school, dismissal, tag_number=12).entry, actor=SYSTEM)
    db.session.commit()
    assert warnings(enter(db, school, dismissal, tag_number=13)) == {
        "Sam": "Already loaded with tag 12."
    }


# Spots


def test_cars_fill_spots_in_arrival_order_and_move_up(
    db, school, dismissal, make_family, make_student
):
    for tag in (1, 2, 3, 4):
        make_family(school, tag, make_student(school))
    results = [enter(db, school, dismissal, tag_number=tag) for tag in (3, 1, 4, 2)]
    assert [(r.position, r.spot) for r in results] == [(1, "A1"), (2, "A2"), (3, None), (4, None)]
    mark_loaded(school, results[0].entry, actor=SYSTEM)  # spot 1 frees; position 3 moves in
    db.session.commit()
    spots = dict(db.session.execute(select(QueueEntry.position, QueueEntry.spot)).all())
    assert spots == {1: 1, 2: 2, 3: 1, 4: None}
    statuses = dict(db.session.execute(select(QueueEntry.position, QueueEntry.status)).all())
    assert statuses == {1: "loaded", 2: "at_spot", 3: "at_spot", 4: "queued"}
    mark_loaded(school, results[3].entry, actor=SYSTEM)  # a car loaded from the queue
    mark_loaded(school, results[1].entry, actor=SYSTEM)
    db.session.commit()
    assert db.session.get(QueueEntry, results[3].entry.id).status == "loaded"
    assert db.session.get(QueueEntry, results[2].entry.id).spot == 1
    assert mark_loaded(school, results[1].entry, actor=SYSTEM).status == "loaded"  # no-op again


def test_spot_labels_run_across_lanes_front_to_back(db, school, make_user):
    started = start_dismissal(school, SYSTEM, 3, 4, TUESDAY)
    assert [started.spot_label(n) for n in (1, 2, 3, 4, 12)] == ["A1", "B1", "C1", "A2", "C4"]
    assert started.spot_label(None) is None


def test_loading_a_car_loads_its_students(db, school, dismissal, make_family, make_student):
    make_family(school, 12, make_student(school, "Ann"), make_student(school, "Ben"))
    result = enter(db, school, dismissal, tag_number=12)
    ann = result.entry.calls[0]
    assert mark_sent(school, ann, actor=SYSTEM).status == "sent"
    assert mark_sent(school, ann, actor=SYSTEM).status == "sent"  # a second tap changes nothing
    mark_loaded(school, result.entry, actor=SYSTEM)
    db.session.commit()
    calls = db.session.scalars(select(CalledStudent).order_by(CalledStudent.id)).all()
    assert [(c.status, c.sent_at is not None, c.left_at is not None) for c in calls] == [
        ("loaded", True, True),
        ("loaded", False, True),
    ]


# Plans


def test_dismissal_mode_resolution_order(db, school, office, make_family, make_student):
    kid, loner = make_student(school), make_student(school)
    make_family(school, 12, kid)
    assert dismissal_mode(kid, MONDAY).mode == "car"
    assert dismissal_mode(kid, MONDAY).source == "family"
    assert dismissal_mode(loner, MONDAY).mode == "unplanned"
    set_weekday_defaults(school, Actor(user=office), kid, [MONDAY.weekday()], "bus", "12")
    assert dismissal_mode(kid, MONDAY).bus_route == "12"
    assert dismissal_mode(kid, TUESDAY).mode == "car"
    set_weekday_defaults(school, Actor(user=office), kid, [MONDAY.weekday()], "aftercare")
    assert dismissal_mode(kid, MONDAY).mode == "aftercare"
    record_change(
        school, Actor(user=office), kid, MONDAY, mode="walker", note=" dentist ", now=ON_MONDAY
    )
    plan = dismissal_mode(kid, MONDAY)
    assert (plan.mode, plan.source, plan.note) == ("walker", "change", "dentist")
    mark_absent(school, Actor(user=office), kid, MONDAY, now=ON_MONDAY)
    mark_absent(school, Actor(user=office), kid, MONDAY, now=ON_MONDAY)
    assert dismissal_mode(kid, MONDAY).mode == "absent"
    clear_absence(school, Actor(user=office), kid, MONDAY)
    take_back_change(school, Actor(user=office), kid, MONDAY, now=ON_MONDAY)
    assert dismissal_mode(kid, MONDAY).mode == "aftercare"
    with pytest.raises(NotFound):
        clear_absence(school, Actor(user=office), kid, MONDAY)
    with pytest.raises(NotFound):
        take_back_change(school, Actor(user=office), kid, MONDAY, now=ON_MONDAY)


def test_plans_are_checked(db, school, make_school, make_family, make_student):
    kid = make_student(school)
    with pytest.raises(InvalidInput, match="bus route"):
        set_weekday_defaults(school, SYSTEM, kid, [0], "bus")
    with pytest.raises(InvalidInput, match="Choose car"):
        set_weekday_defaults(school, SYSTEM, kid, [0], "teleport")
    with pytest.raises(InvalidInput, match="weekday"):
        set_weekday_defaults(school, SYSTEM, kid, [7], "car")
    with pytest.raises(InvalidInput, match="Only a car rider"):
        record_change(
            school, SYSTEM, kid, MONDAY, mode="walker", family=make_family(school, 1), now=ON_MONDAY
        )
    other = make_school()
    with pytest.raises(NotFound):
        record_change(
            school, SYSTEM, kid, MONDAY, mode="car", family=make_family(other, 1), now=ON_MONDAY
        )
    with pytest.raises(NotFound):
        mark_absent(other, SYSTEM, kid, MONDAY, now=ON_MONDAY)
    assert set_weekday_defaults(school, SYSTEM, kid, [0], "walker", "9")[0].bus_route is None


# Buses and walkers


def test_bus_call_calls_todays_riders_once(db, school, office, dismissal, make_student):
    ann, ben, cal, dee = (make_student(school, name) for name in ("Ann", "Ben", "Cal", "Dee"))
    for kid in (ann, ben, cal):
        set_weekday_defaults(school, Actor(user=office), kid, [MONDAY.weekday()], "bus", "7")
    set_weekday_defaults(school, Actor(user=office), dee, [MONDAY.weekday()], "bus", "9")
    mark_absent(school, Actor(user=office), ben, MONDAY, now=ON_MONDAY)
    record_change(school, Actor(user=office), cal, MONDAY, mode="walker", now=ON_MONDAY)
    record_change(school, Actor(user=office), dee, MONDAY, mode="bus", bus_route="7", now=ON_MONDAY)
    calls = call_bus(school, dismissal, " 7 ", actor=SYSTEM)
    db.session.commit()
    assert sorted(c.student.first_name for c in calls) == ["Ann", "Dee"]
    assert {(c.mode, c.bus_route, c.queue_entry_id) for c in calls} == {("bus", "7", None)}
    assert call_bus(school, dismissal, "7", actor=SYSTEM) == []
    with pytest.raises(InvalidInput, match="No student rides bus 99"):
        call_bus(school, dismissal, "99", actor=SYSTEM)
    sent = mark_sent(school, calls[0], actor=Actor(user=office))
    assert (sent.status, sent.left_at is not None) == ("released", True)


def test_walkers_are_released_by_grade_or_all(db, school, office, dismissal, make_student):
    walkers = [make_student(school, f"W{grade}", grade=grade) for grade in ("K", "1", "2")]
    rider = make_student(school, "Bus", grade="K")
    for kid in walkers:
        set_weekday_defaults(school, Actor(user=office), kid, [MONDAY.weekday()], "walker")
    set_weekday_defaults(school, Actor(user=office), rider, [MONDAY.weekday()], "bus", "3")
    assert [
        c.student.first_name for c in release_walkers(school, dismissal, "K", actor=SYSTEM)
    ] == ["WK"]
    rest = release_walkers(school, dismissal, actor=Actor(user=office))
    assert sorted(c.student.first_name for c in rest) == ["W1", "W2"]
    assert release_walkers(school, dismissal, actor=SYSTEM) == []
    assert {c.status for c in db.session.scalars(select(CalledStudent))} == {"called"}


# Start and end of the day


def test_one_dismissal_per_school_and_day(db, school, office, dismissal):
    with pytest.raises(Conflict, match="already started"):
        start_dismissal(school, Actor(user=office), 1, 2, MONDAY)
    db.session.rollback()
    with pytest.raises(InvalidInput, match="Lanes"):
        start_dismissal(school, Actor(user=office), 0, 2, TUESDAY)
    with pytest.raises(InvalidInput, match="spots per lane"):
        start_dismissal(school, Actor(user=office), 1, 51, TUESDAY)
    assert start_dismissal(school, Actor(user=office), 2, 5, TUESDAY).last_position == 0
    db.session.commit()
    assert db.session.scalar(select(func.count(Dismissal.id))) == 2


def test_end_of_day_lists_late_pickups_and_closes(
    db, school, office, dismissal, make_family, make_student
):
    loaded, waiting, never, absent = (
        make_student(school, name) for name in ("Loaded", "Waiting", "Never", "Absent")
    )
    unplanned, early, aftercare = (
        make_student(school, name) for name in ("Unplanned", "Early", "Aftercare")
    )
    make_family(school, 1, loaded)
    make_family(school, 2, waiting)
    make_family(school, 3, never, absent)
    mark_absent(school, Actor(user=office), absent, MONDAY, now=ON_MONDAY)
    record_change(
        school, Actor(user=office), early, MONDAY, mode="car", early_pickup=clock(13), now=ON_MONDAY
    )
    set_weekday_defaults(school, Actor(user=office), aftercare, [MONDAY.weekday()], "aftercare")
    mark_loaded(school, enter(db, school, dismissal, tag_number=1).entry, actor=SYSTEM)
    enter(db, school, dismissal, tag_number=2)
    late = end_dismissal(school, dismissal, actor=Actor(user=office))
    db.session.commit()
    assert [(p.student.first_name, p.reason) for p in late] == [  # by last name
        ("Waiting", "called"),
        ("Never", "not_called"),
        ("Unplanned", "no_plan"),
    ]
    assert late[0].call.status == "called"
    assert dismissal.ended_at is not None
    with pytest.raises(Conflict, match="has ended"):
        curb_entry(school, dismissal, tag_number=3, actor=SYSTEM)
    with pytest.raises(Conflict, match="has ended"):
        end_dismissal(school, dismissal, actor=SYSTEM)
    ended = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "carline.dismissal_end")
    )
    # The audit entry summarises (counts); who they are stays in the day's records.
    assert ended.detail == {
        "late_pickups": 3,
        "late_called": 1,
        "late_not_called": 1,
        "late_no_plan": 1,
    }
    assert [p.student.id for p in late_pickups(dismissal)] == [waiting.id, never.id, unplanned.id]


def test_reports_count_the_late_pickups_of_the_end_of_day_list(
    db, school, office, dismissal, make_family, make_student
):
    """One definition of a late pickup: the report's "not picked up" is the office's list."""
    waiting, never, absent, unplanned = (
        make_student(school, name) for name in ("Waiting", "Never", "Absent", "Unplanned")
    )
    gone, walker = make_student(school, "Gone"), make_student(school, "Walker")
    make_family(school, 1, gone)
    make_family(school, 2, waiting)
    make_family(school, 3, never, absent)
    mark_absent(school, Actor(user=office), absent, MONDAY, now=ON_MONDAY)
    set_weekday_defaults(school, Actor(user=office), walker, [MONDAY.weekday()], "walker")
    mark_loaded(school, enter(db, school, dismissal, tag_number=1).entry, actor=SYSTEM)
    enter(db, school, dismissal, tag_number=2)
    (walk,) = release_walkers(school, dismissal, actor=SYSTEM)
    mark_sent(school, walk, actor=SYSTEM)
    late = end_dismissal(school, dismissal, actor=Actor(user=office))
    db.session.commit()
    (row,) = reports.history(school, MONDAY, MONDAY)
    assert [p.student.id for p in late] == [waiting.id, never.id, unplanned.id]
    assert row.not_picked_up == 3 == reports.dismissal_stats(school, dismissal).not_picked_up
    csv_late = next(csv.DictReader(io.StringIO(reports.history_csv(school, [row]))))
    assert csv_late["not picked up"] == "3"


def test_another_schools_dismissal_is_not_found(db, school, dismissal, make_school):
    other = make_school()
    with pytest.raises(NotFound):
        curb_entry(other, dismissal, tag_number=1, actor=SYSTEM)
    with pytest.raises(NotFound):
        call_bus(other, dismissal, "7", actor=SYSTEM)
    with pytest.raises(NotFound):
        end_dismissal(other, dismissal, actor=SYSTEM)


def test_every_write_is_audited_and_announced(
    db, school, office, make_family, make_student, make_user
):
    kid, walker, rider = make_student(school), make_student(school), make_student(school)
    family = make_family(school, 12, kid)
    before = live.current(school.id, "dismissal")
    writes = [
        lambda: issue_tag(school, family, actor=Actor(user=office)),
        lambda: set_weekday_defaults(school, Actor(user=office), walker, [0], "walker"),
        lambda: set_weekday_defaults(school, Actor(user=office), rider, [0], "bus", "4"),
        lambda: record_change(school, Actor(user=office), kid, MONDAY, mode="car", now=ON_MONDAY),
        lambda: take_back_change(school, Actor(user=office), kid, MONDAY, now=ON_MONDAY),
        lambda: mark_absent(school, Actor(user=office), kid, TUESDAY, now=ON_MONDAY),
        lambda: clear_absence(school, Actor(user=office), kid, TUESDAY),
        lambda: start_dismissal(school, Actor(user=office), 1, 1, MONDAY),
        lambda: curb_entry(school, today(), tag_number=12, actor=Actor(user=office)),
        lambda: curb_entry(school, today(), tag_number=12, actor=Actor(user=office)),
        lambda: mark_sent(
            school, db.session.scalar(select(CalledStudent)), actor=Actor(user=office)
        ),
        lambda: mark_loaded(
            school, db.session.scalar(select(QueueEntry)), actor=Actor(user=office)
        ),
        lambda: call_bus(school, today(), "4", actor=Actor(user=office)),
        lambda: release_walkers(school, today(), actor=Actor(user=office)),
        lambda: end_dismissal(school, today(), actor=Actor(user=office)),
    ]

    def today() -> Dismissal:
        return db.session.scalar(select(Dismissal))

    for write in writes:
        write()
    db.session.commit()
    assert live.current(school.id, "dismissal") == before + len(writes)
    assert audit_actions(db, school_id=school.id) == [
        "carline.tag_issue",
        "carline.plan_default",
        "carline.plan_default",
        "carline.plan_change",
        "carline.plan_change_clear",
        "carline.absence",
        "carline.absence_clear",
        "carline.dismissal_start",
        "carline.curb_entry",
        "carline.curb_repeat",
        "carline.sent",
        "carline.loaded",
        "carline.bus_call",
        "carline.walkers_release",
        "carline.dismissal_end",
    ]
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.school_id == school.id))
    assert {e.actor_user_id for e in events} == {office.id}


def test_a_device_is_named_as_the_actor(db, school, dismissal, make_family, make_student):
    phone = Device(school_id=school.id, kind="scanner", label="Curb 1", secret_hash="x" * 64)
    db.session.add(phone)
    make_family(school, 12, make_student(school))
    result = enter(db, school, dismissal, tag_number=12, actor=Actor(device=phone))
    assert result.entry.entered_by_device_id == phone.id
    assert db.session.scalar(select(AuditEvent.actor_label).order_by(AuditEvent.id.desc())) == (
        "device: Curb 1"
    )


# Concurrency

THREADS = 8
ENTRIES_EACH = 10
REPEATERS = 3
LOADERS = 2


def in_own_transaction(app, work):
    """Run `work()` as a writing request would: its own session, one commit."""
    with app.app_context(), write_intent():
        result = work()
        database.session.commit()
        return result


def curb(app, school_id, dismissal_id, **how) -> tuple[int, bool, int]:
    """One curb request from a device: (family id, created, position)."""

    def work():
        school = database.session.get(School, school_id)
        dismissal = database.session.get(Dismissal, dismissal_id)
        result = curb_entry(school, dismissal, actor=SYSTEM, **how)
        return result.entry.family_id, result.created, result.position

    return in_own_transaction(app, work)


def test_concurrent_curb_entries_and_loading_keep_the_queue_exact(
    app, db, school, make_family, make_student
):
    """8 devices x 10 families, each request retried once, 3 re-scanning devices, 2 loaders."""
    families = THREADS * ENTRIES_EACH
    kids = [make_student(school) for _ in range(families)]
    shared = [make_student(school) for _ in range(families // 2)]
    for n in range(families):  # each tag has its own student and one of a split household
        make_family(school, n + 1, kids[n], shared[n // 2])
    started = start_dismissal(school, SYSTEM, 2, 4, MONDAY)
    db.session.commit()
    school_id, dismissal_id = school.id, started.id
    done = threading.Event()

    def device(index: int) -> list[tuple]:
        answers = []
        for n in range(ENTRIES_EACH):
            tag, key = index * ENTRIES_EACH + n + 1, f"device{index}-{n}"
            first = curb(app, school_id, dismissal_id, tag_number=tag, idempotency_key=key)
            retry = curb(app, school_id, dismissal_id, tag_number=tag, idempotency_key=key)
            assert retry == first
            answers.append(first)
        return answers

    def rescanner(seed: int) -> list[tuple]:
        tags = random.Random(seed).sample(range(1, families + 1), families)
        return [curb(app, school_id, dismissal_id, tag_number=tag) for tag in tags]

    def loader(_) -> int:
        loads = 0
        while True:

            def load_first_at_spot() -> str:
                entry = database.session.scalar(
                    select(QueueEntry)
                    .where(QueueEntry.dismissal_id == dismissal_id, QueueEntry.status == "at_spot")
                    .order_by(QueueEntry.position)
                    .limit(1)
                )
                if entry is None:
                    return "idle"
                mark_loaded(database.session.get(School, school_id), entry, actor=SYSTEM)
                return "loaded"

            outcome = in_own_transaction(app, load_first_at_spot)
            if outcome == "loaded":
                loads += 1
            elif done.is_set():
                return loads
            else:
                time.sleep(0.002)

    with ThreadPoolExecutor(max_workers=THREADS + REPEATERS + LOADERS) as pool:
        loaders = [pool.submit(loader, n) for n in range(LOADERS)]
        devices = [pool.submit(device, n) for n in range(THREADS)]
        rescanners = [pool.submit(rescanner, n) for n in range(REPEATERS)]
        try:
            answers = [a for f in devices + rescanners for a in f.result()]
        finally:
            done.set()  # the loaders stop even when a device failed
        assert sum(f.result() for f in loaders) >= families

    db.session.rollback()
    entries = db.session.scalars(select(QueueEntry).order_by(QueueEntry.position)).all()
    assert [e.position for e in entries] == list(range(1, families + 1))
    assert len({e.family_id for e in entries}) == families
    assert db.session.get(Dismissal, dismissal_id).last_position == families
    assert sum(1 for _, created, _ in answers if created) == families
    assert sum(e.repeat_count for e in entries) == REPEATERS * families
    assert {e.status for e in entries} == {"loaded"}
    spot_times = [e.at_spot_at for e in entries]
    assert None not in spot_times and spot_times == sorted(spot_times)  # spots in arrival order
    calls = db.session.scalars(select(CalledStudent)).all()
    assert len(calls) == families + len(shared) and {c.status for c in calls} == {"loaded"}
    assert db.session.scalar(select(func.count(CurbRequest.id))) == families
    actions = Counter(audit_actions(db, school_id=school_id))
    assert actions["carline.curb_entry"] == families
    assert actions["carline.curb_repeat"] == REPEATERS * families
    assert actions["carline.loaded"] == families
    writes = 1 + families + REPEATERS * families + families
    assert live.current(school_id, "dismissal") == writes


def test_devices_racing_on_the_same_cars_queue_each_once(
    app, db, school, make_family, make_student
):
    """8 devices enter the same 10 tags at the same moment: 10 entries, positions 1..10."""
    for tag in range(1, ENTRIES_EACH + 1):
        make_family(school, tag, make_student(school))
    started = start_dismissal(school, SYSTEM, 1, 3, MONDAY)
    db.session.commit()
    school_id, dismissal_id = school.id, started.id
    barrier = threading.Barrier(THREADS)

    def device(_) -> list[tuple]:
        answers = []
        try:
            for tag in range(1, ENTRIES_EACH + 1):
                barrier.wait()
                answers.append(curb(app, school_id, dismissal_id, tag_number=tag))
        except Exception:
            barrier.abort()  # the other devices stop waiting for this one
            raise
        return answers

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        futures = [pool.submit(device, n) for n in range(THREADS)]
    failures = [f.exception() for f in futures if f.exception() is not None]
    for failure in failures:  # the error that broke the barrier, not the waiters' complaint
        if not isinstance(failure, threading.BrokenBarrierError):
            raise failure
    answers = [a for f in futures for a in f.result()]
    db.session.rollback()
    assert sum(1 for _, created, _ in answers if created) == ENTRIES_EACH
    entries = db.session.scalars(select(QueueEntry).order_by(QueueEntry.position)).all()
    assert [(e.position, e.family.tag_number) for e in entries] == [
        (n, n) for n in range(1, ENTRIES_EACH + 1)
    ]
    assert [e.repeat_count for e in entries] == [THREADS - 1] * ENTRIES_EACH
    held = [e.spot for e in entries if e.status == "at_spot"]
    assert held == [1, 2, 3]


# Issue 17: nobody to call, reopening, authorized adults


def test_a_car_with_nobody_to_call_is_warned_and_takes_no_spot(
    db, school, office, dismissal, make_family, make_student
):
    absent, gone = make_student(school, "Absent"), make_student(school, "Gone")
    rider = make_student(school, "Rider")
    make_family(school, 1, absent)
    make_family(school, 2, gone)
    make_family(school, 3, gone, rider)
    make_family(school, 4, rider)
    mark_absent(school, Actor(user=office), absent, MONDAY, now=ON_MONDAY)
    mark_loaded(school, enter(db, school, dismissal, tag_number=2).entry, actor=SYSTEM)
    nobody = enter(db, school, dismissal, tag_number=1)
    assert nobody.entry is None and nobody.nobody and nobody.spot is None
    assert warnings(nobody) == {"Absent": "Absent today."}
    also_gone = enter(db, school, dismissal, tag_number=3)  # Rider is called by it: a spot
    assert also_gone.spot == "A1" and called(also_gone) == ["Rider"]
    second = enter(db, school, dismissal, tag_number=4)  # Rider already called by tag 3
    assert second.entry is None and warnings(second) == {"Rider": "Already called with tag 3."}
    entries = db.session.scalars(select(QueueEntry.family_id).order_by(QueueEntry.position))
    assert len(list(entries)) == 2  # tag 2 (loaded) and tag 3; tags 1 and 4 never queued
    assert "carline.curb_nobody" in audit_actions(db, school_id=school.id)


def test_the_office_reopens_todays_ended_dismissal(db, school, office, make_family, make_student):
    make_family(school, 5, make_student(school, "Late"))
    today = school_today(school)
    running = start_dismissal(school, Actor(user=office), 1, 2, today)
    with pytest.raises(Conflict, match="still running"):
        reopen_dismissal(school, running, actor=Actor(user=office))
    end_dismissal(school, running, actor=Actor(user=office))
    db.session.commit()
    with pytest.raises(Conflict, match="has ended"):
        curb_entry(school, running, tag_number=5, actor=SYSTEM)
    reopen_dismissal(school, running, actor=Actor(user=office))
    db.session.commit()
    assert running.ended_at is None
    assert enter(db, school, running, tag_number=5).spot == "A1"
    assert audit_actions(db, school_id=school.id)[-3:] == [
        "carline.dismissal_end",
        "carline.dismissal_reopen",
        "carline.curb_entry",
    ]


def test_another_days_dismissal_is_not_reopened(db, school, office, dismissal, make_school):
    end_dismissal(school, dismissal, actor=Actor(user=office))  # MONDAY is not today
    with pytest.raises(Conflict, match="Only today's"):
        reopen_dismissal(school, dismissal, actor=Actor(user=office))
    with pytest.raises(NotFound):
        reopen_dismissal(make_school(), dismissal, actor=SYSTEM)


def test_the_curb_answer_names_the_authorized_adults(
    db, school, dismissal, make_family, make_student
):
    family = make_family(school, 8, make_student(school))
    family.pickup_adults = "Maria Lopez (mother)\nJames Lopez (grandfather)"
    db.session.commit()
    family = enter(db, school, dismissal, tag_number=8).family
    assert pickup_list(family).names == [
        "Maria Lopez (mother)",
        "James Lopez (grandfather)",
    ]


def test_a_lost_tag_gets_a_new_number_and_its_old_number_and_qr_call_nobody(
    db, school, office, dismissal, make_family, make_student
):
    family = make_family(school, 103, make_student(school, "Kid"))
    make_family(school, 104, make_student(school))
    lost = issue_tag(school, family, actor=Actor(user=office))
    db.session.commit()
    new = replace_lost_tag(school, family, actor=Actor(user=office))
    db.session.commit()
    assert family.tag_number == 105 and new.family_id == family.id and new.revoked_at is None
    assert lost.revoked_at is not None and lost.lost
    with pytest.raises(InvalidInput, match="reported lost and is blocked"):
        curb_entry(school, dismissal, token=lost.token, actor=SYSTEM)
    with pytest.raises(InvalidInput, match=r"Tag 103 is blocked \(reported lost\): call no one"):
        curb_entry(school, dismissal, tag_number=103, actor=SYSTEM)
    assert enter(db, school, dismissal, token=new.token).tag_number == 105
    assert db.session.scalar(select(func.count(QueueEntry.id))) == 1
    with pytest.raises(Conflict, match="Tag 103 is blocked"):
        create_family(school, Actor(user=office), tag_number=103)
    assert next_tag_number(school) == 106
    assert audit_actions(db, school_id=school.id)[-3:] == [
        "carline.tag_issue",
        "carline.tag_lost",
        "carline.curb_entry",
    ]
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "carline.tag_lost"))
    assert event.detail == {"old_tag_number": 103, "tag_number": 105}


def test_the_office_blocks_and_unblocks_a_number(
    db, school, office, dismissal, make_family, make_student, make_school
):
    family = make_family(school, 7, make_student(school))
    tag = issue_tag(school, family, actor=Actor(user=office))
    block_tag_number(school, Actor(user=office), 7, "  Found  in the parking lot ")
    db.session.commit()
    with pytest.raises(InvalidInput, match="Tag 7 is blocked"):
        curb_entry(school, dismissal, tag_number=7, actor=SYSTEM)
    with pytest.raises(InvalidInput, match="Tag 7 is blocked"):  # its QR code too
        curb_entry(school, dismissal, token=tag.token, actor=SYSTEM)
    with pytest.raises(InvalidInput, match="Tag 9 is blocked"):  # a number nobody holds
        block_tag_number(school, Actor(user=office), 9)
        curb_entry(school, dismissal, tag_number=9, actor=SYSTEM)
    with pytest.raises(Conflict, match="already blocked"):
        block_tag_number(school, Actor(user=office), 7)
    db.session.rollback()
    assert [b.reason for b in blocked_numbers(school)] == ["Found in the parking lot"]
    assert blocked_numbers(make_school()) == []
    unblock_tag_number(school, Actor(user=office), 7)
    db.session.commit()
    assert enter(db, school, dismissal, tag_number=7).spot == "A1"
    with pytest.raises(NotFound, match="not blocked"):
        unblock_tag_number(school, Actor(user=office), 7)
    actions = audit_actions(db, school_id=school.id)
    assert "carline.tag_number_block" in actions and "carline.tag_number_unblock" in actions


def test_a_bus_call_is_undone_within_a_minute_and_keeps_who_already_left(
    db, school, office, dismissal, make_student
):
    riders = [make_student(school, f"Rider{n}") for n in range(3)]
    for kid in riders:
        set_weekday_defaults(school, Actor(user=office), kid, [MONDAY.weekday()], "bus", "7")
    calls = call_bus(school, dismissal, "7", actor=SYSTEM)
    db.session.commit()
    assert len({c.called_at for c in calls}) == 1  # one group, called together
    (group,) = progress.undoable_groups(dismissal)
    assert group.label == "Bus 7" and sorted(group.call_ids) == sorted(c.id for c in calls)
    mark_sent(school, calls[0], actor=SYSTEM)  # already out of the room: stays released
    ids = [c.id for c in calls]
    late = calls[0].called_at + UNDO_WINDOW + timedelta(seconds=1)
    with pytest.raises(Conflict, match="Too late to undo"):
        undo_calls(school, dismissal, ids, actor=Actor(user=office), now=late)
    done = undo_calls(school, dismissal, ids, actor=Actor(user=office))
    db.session.commit()
    assert (done.undone, done.kept) == (2, 1)
    left = db.session.scalars(select(CalledStudent.student_id)).all()
    assert left == [calls[0].student_id]
    assert progress.undoable_groups(dismissal) == []
    with pytest.raises(NotFound, match="nothing to undo"):
        undo_calls(school, dismissal, ids[1:], actor=SYSTEM)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "carline.calls_undo"))
    assert event.detail == {"mode": "bus", "route": "7", "undone": 2, "kept": 1}
    # The undone riders are called again when the bus is called again.
    assert len(call_bus(school, dismissal, "7", actor=SYSTEM)) == 2


def test_send_all_releases_a_group_once_and_is_undone_only_within_a_minute(
    db, school, office, dismissal, make_student
):
    walkers = [make_student(school, f"Walker{n}") for n in range(3)]
    for kid in walkers:
        set_weekday_defaults(school, Actor(user=office), kid, [MONDAY.weekday()], "walker")
    calls = release_walkers(school, dismissal, actor=SYSTEM)
    ids = [c.id for c in calls]
    sent = send_all(school, dismissal, ids, actor=SYSTEM)
    assert [c.status for c in sent] == ["released"] * 3 and len({c.sent_at for c in sent}) == 1
    assert send_all(school, dismissal, ids, actor=SYSTEM) == []  # released once
    late = sent[0].sent_at + UNDO_WINDOW + timedelta(seconds=1)
    with pytest.raises(Conflict, match="Too late"):
        undo_send_all(school, dismissal, ids, actor=SYSTEM, now=late)
    assert undo_send_all(school, dismissal, ids, actor=SYSTEM) == 3
    db.session.commit()
    assert {c.status for c in calls} == {"called"} and {c.left_at for c in calls} == {None}
    assert late_pickups(dismissal)  # called again: not gone

"""Hall pass rules, tested at the service level, and held under concurrent requests."""

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import func, select

from hallpass import pass_requests, room_qr, tokens, wait_line
from hallpass.models import (
    Destination,
    HallPass,
    HallpassPolicy,
    KeepApartGroup,
    StudentPassLimit,
)
from hallpass.passes import end_pass, start_pass
from hallpass.policy import policy_for
from hallpass.rules import RuleBlocked
from shared import live
from shared.audit import Actor
from shared.database import write_intent
from shared.errors import Conflict, DomainError, InvalidInput, NotFound
from shared.models import AuditEvent, BellPeriod, Student
from tests.helpers import audit_actions

#: A Tuesday, 10:00 in Chicago.
NOON_ISH = datetime(2026, 11, 24, 16, 0, tzinfo=UTC)


def go(place, student, destination="restroom", **kwargs):
    kwargs.setdefault("now", NOON_ISH)
    return start_pass(
        place["school"],
        Actor(user=place["teacher"]),
        student_id=student.id,
        destination_id=place[destination].id,
        from_room_id=place["room"].id,
        source="teacher",
        **kwargs,
    )


def back(place, hall_pass, minutes_later=3):
    return end_pass(
        place["school"],
        Actor(user=place["teacher"]),
        pass_id=hall_pass.id,
        ended_by="staff",
        now=NOON_ISH + timedelta(minutes=minutes_later),
    )


def policy(db, school, **fields):
    row = policy_for(school)
    for key, value in fields.items():
        setattr(row, key, value)
    db.session.commit()
    return row


def test_a_pass_starts_and_ends_with_audit_and_live_updates(db, place):
    student = place["students"][0]
    hall_pass = go(place, student)
    db.session.commit()
    assert (hall_pass.status, hall_pass.time_limit_minutes) == ("active", 5)
    assert len(hall_pass.token) >= 20 and student.student_number not in hall_pass.token
    assert live.current(place["school"].id, "hallway") == 1
    assert live.current(place["school"].id, f"room:{place['room'].id}") == 1
    back(place, hall_pass)
    db.session.commit()
    assert (hall_pass.status, hall_pass.ended_by) == ("ended", "staff")
    assert audit_actions(db) == ["hallpass.start", "hallpass.end"]
    assert db.session.get(Destination, place["restroom"].id).out_now == 0
    assert db.session.get(HallpassPolicy, place["school"].id).out_now == 0
    with pytest.raises(Conflict, match="already ended"):
        back(place, hall_pass)


def test_one_active_pass_per_student(db, place):
    student = place["students"][0]
    go(place, student)
    with pytest.raises(Conflict, match="already has an active pass"):
        go(place, student, "library")


def test_destination_capacity_and_freed_places(db, place):
    first, second, third = place["students"][:3]
    pass_one = go(place, first)
    go(place, second)
    with pytest.raises(RuleBlocked, match="full") as blocked:
        go(place, third)
    assert blocked.value.rule == "capacity" and not blocked.value.overridable
    back(place, pass_one)
    assert go(place, third).status == "active"


def test_building_cap(db, place):
    policy(db, place["school"], building_cap=2)
    go(place, place["students"][0], "library")
    go(place, place["students"][1], "library")
    with pytest.raises(RuleBlocked, match="building"):
        go(place, place["students"][2], "library")


def test_staff_may_override_the_building_cap_with_a_reason_but_not_a_sweep(db, place):
    policy(db, place["school"], building_cap=1)
    go(place, place["students"][0], "library")
    with pytest.raises(RuleBlocked, match="building") as blocked:
        go(place, place["students"][1], "library")
    assert blocked.value.rule == "building_cap" and blocked.value.overridable
    over = go(place, place["students"][1], "library", override_reason="counselor asked")
    assert over.override_reason == "counselor asked"
    db.session.expire_all()
    assert db.session.get(HallpassPolicy, place["school"].id).out_now == 2  # it still counts
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "hallpass.start"))
    assert [e.detail["override_reason"] for e in event] == [None, "counselor asked"]
    policy(db, place["school"], sweep_started_at=NOON_ISH)
    with pytest.raises(RuleBlocked, match="sweep"):
        go(place, place["students"][2], "library", override_reason="counselor asked")


def test_keep_apart_group(db, place, school):
    a, b, c = place["students"][:3]
    group = KeepApartGroup(school_id=school.id, note="conflict in 4th period", members=[a, b])
    db.session.add(group)
    db.session.commit()
    pass_a = go(place, a, "library")
    with pytest.raises(RuleBlocked, match="must not be out at the same time") as blocked:
        go(place, b, "restroom")
    assert "Kid0" not in blocked.value.message  # the other student is not named here
    # the refusal undid its own claims on the building and the destination
    out_now = select(Destination.out_now).where(Destination.id == place["restroom"].id)
    assert db.session.scalar(out_now) == 0
    assert go(place, c, "restroom").status == "active"  # not in the group
    back(place, pass_a)
    assert go(place, b, "restroom").status == "active"


def test_keep_apart_group_past_its_end_date_no_longer_applies(db, place, school):
    a, b = place["students"][:2]
    db.session.add(KeepApartGroup(school_id=school.id, members=[a, b], ends_on=date(2026, 11, 1)))
    db.session.commit()
    go(place, a, "library")
    assert go(place, b, "library").status == "active"


def test_daily_limit_override_and_exemption(db, place):
    policy(db, place["school"], daily_limit=2)
    student, exempt = place["students"][:2]
    for minutes in (0, 20):
        back(
            place,
            go(place, student, now=NOON_ISH + timedelta(minutes=minutes)),
            minutes_later=minutes + 5,
        )
    library = go(place, student, "library", now=NOON_ISH + timedelta(minutes=40))
    back(place, library, minutes_later=45)  # library does not count toward the limit
    with pytest.raises(RuleBlocked, match="used all 2 passes") as blocked:
        go(place, student, now=NOON_ISH + timedelta(minutes=60))
    assert blocked.value.overridable
    overridden = go(
        place,
        student,
        now=NOON_ISH + timedelta(minutes=60),
        override_reason="Stomach ache, called home",
    )
    assert overridden.override_reason == "Stomach ache, called home"
    db.session.add(StudentPassLimit(student_id=exempt.id, daily_limit=None, note="504 plan"))
    db.session.commit()
    for minutes in (0, 20, 40):
        back(
            place,
            go(place, exempt, now=NOON_ISH + timedelta(minutes=minutes)),
            minutes_later=minutes + 5,
        )


def test_the_daily_limit_counts_the_schools_local_day(db, place):
    policy(db, place["school"], daily_limit=1)
    student = place["students"][0]
    late_evening = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)  # 21:00 on the 24th in Chicago
    back(place, go(place, student, now=late_evening - timedelta(hours=10)), minutes_later=-595)
    with pytest.raises(RuleBlocked):
        go(place, student, now=late_evening)
    next_morning = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
    assert go(place, student, now=next_morning).status == "active"


def test_devices_cannot_override(db, place):
    policy(db, place["school"], daily_limit=0)
    with pytest.raises(InvalidInput, match="Only staff"):
        start_pass(
            place["school"],
            Actor(),
            student_id=place["students"][0].id,
            destination_id=place["restroom"].id,
            from_room_id=None,
            source="kiosk",
            override_reason="I said so",
            now=NOON_ISH,
        )


def test_cooldown(db, place):
    policy(db, place["school"], cooldown_minutes=15)
    student = place["students"][0]
    back(place, go(place, student), minutes_later=5)
    with pytest.raises(RuleBlocked, match="less than 15 minutes"):
        go(place, student, now=NOON_ISH + timedelta(minutes=10))
    assert go(place, student, now=NOON_ISH + timedelta(minutes=21)).status == "active"


def test_no_pass_windows(db, place, school):
    db.session.add_all(
        [
            BellPeriod(
                school_id=school.id,
                name="2",
                weekday=1,
                start_time=time(9, 50),
                end_time=time(10, 40),
            ),
            BellPeriod(
                school_id=school.id,
                name="3",
                weekday=1,
                start_time=time(10, 44),
                end_time=time(11, 34),
            ),
        ]
    )
    policy(db, school, no_pass_first_minutes=10, no_pass_last_minutes=5, no_pass_periods=["3"])
    student = place["students"][0]
    with pytest.raises(RuleBlocked, match="first 10 minutes"):
        go(place, student, now=NOON_ISH - timedelta(minutes=5))  # 9:55
    with pytest.raises(RuleBlocked, match="last 5 minutes"):
        go(place, student, now=NOON_ISH + timedelta(minutes=37))  # 10:37
    with pytest.raises(RuleBlocked, match="period 3"):
        go(place, student, now=NOON_ISH + timedelta(minutes=50))  # 10:50
    assert go(place, student).status == "active"  # 10:00


@pytest.mark.parametrize(
    "setting, minutes_after_ten, refusal",
    [
        ({"no_pass_first_minutes": 10}, -5, "first 10 minutes"),
        ({"no_pass_last_minutes": 5}, 37, "last 5 minutes"),
        ({"no_pass_periods": ["2"]}, 20, "period 2"),
    ],
)
def test_each_no_pass_setting_applies_alone(db, place, school, setting, minutes_after_ten, refusal):
    """The bell schedule is read only when a window is set: any one of them is enough."""
    db.session.add(
        BellPeriod(
            school_id=school.id, name="2", weekday=1, start_time=time(9, 50), end_time=time(10, 40)
        )
    )
    policy(db, school, **setting)
    with pytest.raises(RuleBlocked, match=refusal):
        go(place, place["students"][0], now=NOON_ISH + timedelta(minutes=minutes_after_ten))


def test_urgent_nurse_pass_is_never_blocked_except_by_a_sweep(db, place):
    policy(db, place["school"], daily_limit=0, building_cap=1)
    first, second = place["students"][:2]
    go(place, first, "library", override_reason="allowed once")
    urgent = go(place, second, "nurse", urgent=True)
    assert urgent.urgent and urgent.status == "active"
    assert db.session.get(HallpassPolicy, place["school"].id).out_now == 2
    with pytest.raises(InvalidInput, match="nurse"):
        go(place, place["students"][2], "restroom", urgent=True)
    policy(db, place["school"], sweep_started_at=NOON_ISH)
    with pytest.raises(RuleBlocked, match="sweep"):
        go(place, place["students"][3], "nurse", urgent=True)


def test_other_schools_records_are_not_found(db, place, make_school):
    other = make_school()
    stranger = Student(school_id=other.id, student_number="1", first_name="A", last_name="B")
    far = Destination(school_id=other.id, name="Far")
    db.session.add_all([stranger, far])
    db.session.commit()
    with pytest.raises(NotFound):
        go(place, stranger)
    with pytest.raises(NotFound):
        start_pass(
            place["school"],
            Actor(user=place["teacher"]),
            student_id=place["students"][0].id,
            destination_id=far.id,
            from_room_id=None,
            source="teacher",
            now=NOON_ISH,
        )


# ---------------------------------------------------------------- concurrency


def race(app, place, attempts: list[tuple[int, str]], **kwargs) -> list[str]:
    """Start passes for (student_id, destination) pairs at once; return the outcomes."""
    school_id, teacher_id, room_id = place["school"].id, place["teacher"].id, place["room"].id
    ids = {name: place[name].id for name in ("restroom", "nurse", "library")}

    def attempt(item):
        student_id, destination = item
        with app.app_context(), write_intent():
            from shared.extensions import db
            from shared.models import School, User

            try:
                start_pass(
                    db.session.get(School, school_id),
                    Actor(user=db.session.get(User, teacher_id)),
                    student_id=student_id,
                    destination_id=ids[destination],
                    from_room_id=room_id,
                    source="teacher",
                    now=NOON_ISH,
                    **kwargs,
                )
                db.session.commit()
                return "started"
            except DomainError as error:
                db.session.rollback()
                return type(error).__name__

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(attempt, attempts))


def active_passes(db, **where) -> int:
    db.session.rollback()
    query = select(func.count(HallPass.id)).where(HallPass.status == "active")
    for key, value in where.items():
        query = query.where(getattr(HallPass, key) == value)
    return db.session.scalar(query)


def test_capacity_holds_under_concurrent_requests(app, db, place):
    outcomes = race(app, place, [(s.id, "restroom") for s in place["students"][:16]])
    assert outcomes.count("started") == 2
    assert active_passes(db, destination_id=place["restroom"].id) == 2
    assert db.session.get(Destination, place["restroom"].id).out_now == 2


def test_one_active_pass_holds_under_concurrent_requests(app, db, place):
    student = place["students"][0]
    outcomes = race(app, place, [(student.id, "library")] * 12)
    assert outcomes.count("started") == 1
    assert active_passes(db, student_id=student.id) == 1
    assert db.session.get(HallpassPolicy, place["school"].id).out_now == 1


def test_building_cap_holds_under_concurrent_requests(app, db, place):
    policy(db, place["school"], building_cap=5)
    outcomes = race(app, place, [(s.id, "library") for s in place["students"]])
    assert outcomes.count("started") == 5
    assert active_passes(db) == 5


def test_keep_apart_holds_under_concurrent_requests(app, db, place, school):
    members = place["students"][:6]
    db.session.add(KeepApartGroup(school_id=school.id, members=members))
    db.session.commit()
    outcomes = race(app, place, [(s.id, "library") for s in members])
    assert outcomes.count("started") == 1
    assert active_passes(db) == 1


# ------------------------------------------------ requests, wait lines, automatic end

from hallpass.housekeeping import end_overrun_passes, expire_requests  # noqa: E402
from hallpass.models import PassRequest  # noqa: E402
from hallpass.pass_requests import approve_request, ask_for_pass, deny_request, student_go  # noqa: E402
from hallpass.passes import check_in  # noqa: E402
from hallpass.tokens import TokenExpired  # noqa: E402
from hallpass.wait_line import join_wait_line  # noqa: E402


def ask(place, student, destination="library", **kwargs):
    kwargs.setdefault("now", NOON_ISH)
    return ask_for_pass(
        place["school"],
        Actor(),
        student_id=student.id,
        destination_id=place[destination].id,
        from_room_id=place["room"].id,
        source="room_qr",
        **kwargs,
    )


def line_up(place, student, destination="restroom", **kwargs):
    kwargs.setdefault("now", NOON_ISH)
    return join_wait_line(
        place["school"],
        Actor(),
        student_id=student.id,
        destination_id=place[destination].id,
        from_room_id=place["room"].id,
        source="kiosk",
        **kwargs,
    )


def teacher(place):
    return Actor(user=place["teacher"])


def test_student_go_starts_self_start_and_asks_otherwise(db, place):
    kid0, kid1 = place["students"][:2]
    started = student_go(
        place["school"],
        Actor(),
        student_id=kid0.id,
        destination_id=place["restroom"].id,
        from_room_id=place["room"].id,
        source="kiosk",
        now=NOON_ISH,
    )
    assert isinstance(started, HallPass) and started.source == "kiosk"
    place["library"].self_start = False
    db.session.commit()
    asked = student_go(
        place["school"],
        Actor(),
        student_id=kid1.id,
        destination_id=place["library"].id,
        from_room_id=place["room"].id,
        source="room_qr",
        now=NOON_ISH,
    )
    assert isinstance(asked, PassRequest) and asked.status == "pending"
    assert db.session.scalar(select(func.count(HallPass.id))) == 1


def test_one_open_request_per_student_and_none_while_out(db, place):
    kid0, kid1 = place["students"][:2]
    ask(place, kid0)
    with pytest.raises(Conflict, match="already asked"):
        ask(place, kid0, "nurse")
    go(place, kid1)
    with pytest.raises(Conflict, match="already has an active pass"):
        ask(place, kid1)


def test_approval_runs_every_rule_and_override_is_audited(db, place):
    policy(db, place["school"], daily_limit=0)
    request = ask(place, place["students"][0], "restroom")
    db.session.commit()
    with pytest.raises(RuleBlocked, match="used all 0 passes"):
        approve_request(place["school"], teacher(place), request_id=request.id, now=NOON_ISH)
    db.session.rollback()
    assert db.session.get(PassRequest, request.id).status == "pending"
    hall_pass = approve_request(
        place["school"],
        teacher(place),
        request_id=request.id,
        override_reason="doctor's note",
        now=NOON_ISH,
    )
    db.session.commit()
    assert hall_pass.override_reason == "doctor's note" and hall_pass.source == "room_qr"
    request = db.session.get(PassRequest, request.id)
    assert request.status == "approved" and request.pass_id == hall_pass.id
    assert request.decided_by_id == place["teacher"].id
    assert {"hallpass.request", "hallpass.start", "hallpass.request_approve"} <= set(
        audit_actions(db)
    )
    with pytest.raises(Conflict, match="already been answered"):
        deny_request(place["school"], teacher(place), request_id=request.id)


def test_deny_closes_a_request(db, place):
    request = ask(place, place["students"][0])
    deny_request(place["school"], teacher(place), request_id=request.id, now=NOON_ISH)
    db.session.commit()
    assert db.session.get(PassRequest, request.id).status == "denied"
    assert ask(place, place["students"][0]).status == "pending"  # may ask again


def test_wait_line_order_and_a_freed_place_is_held_for_the_head(db, place):
    a, b, c, d, stranger = place["students"][:5]
    first, second = go(place, a), go(place, b)
    with pytest.raises(RuleBlocked) as blocked:
        go(place, c)
    assert blocked.value.rule == "capacity"
    entries = [line_up(place, kid) for kid in (c, d)]
    db.session.commit()
    assert [e.position for e in entries] == [1, 2]
    assert [wait_line.line_rank(e) for e in entries] == [1, 2]
    with pytest.raises(Conflict):
        line_up(place, c)  # no duplicates
    back(place, first)
    db.session.commit()
    head, behind = (db.session.get(PassRequest, e.id) for e in entries)
    assert (head.status, behind.status) == ("ready", "waiting")
    assert wait_line.line_rank(behind) == 1
    # the freed place is held for the head: nobody else can take it meanwhile
    assert db.session.get(Destination, place["restroom"].id).out_now == 2
    with pytest.raises(RuleBlocked):
        go(place, stranger)
    hall_pass = approve_request(place["school"], teacher(place), request_id=head.id, now=NOON_ISH)
    db.session.commit()
    assert hall_pass.student_id == c.id
    assert db.session.get(Destination, place["restroom"].id).out_now == 2
    assert db.session.get(HallpassPolicy, place["school"].id).out_now == 2
    back(place, second)
    db.session.commit()
    assert db.session.get(PassRequest, behind.id).status == "ready"
    assert "hallpass.wait_line_ready" in audit_actions(db)


def test_nobody_jumps_a_wait_line_when_a_place_opens_without_a_return(db, place):
    """Raising a full destination's capacity opens a place nobody gave back: a new pass
    must not take it ahead of the students already waiting."""
    a, b, c, stranger = place["students"][:4]
    go(place, a)
    go(place, b)
    line_up(place, c)
    db.session.commit()
    place["restroom"].capacity = 3
    db.session.commit()
    with pytest.raises(RuleBlocked, match="has a wait line") as blocked:
        go(place, stranger)
    assert blocked.value.rule == "capacity" and not blocked.value.overridable
    db.session.rollback()
    assert go(place, stranger, "library").status == "active"  # other places are not held up


def test_an_unused_held_place_goes_to_the_next_in_line(db, place):
    a, b, c, d = place["students"][:4]
    first = go(place, a)
    go(place, b)
    head, behind = line_up(place, c), line_up(place, d)
    back(place, first, minutes_later=1)
    db.session.commit()
    assert expire_requests(NOON_ISH + timedelta(minutes=2)) == 0
    changed = expire_requests(NOON_ISH + timedelta(minutes=1 + wait_line.READY_HOLD_MINUTES + 1))
    db.session.commit()
    assert changed == 1  # expired; its place went on to the next in line
    assert db.session.get(PassRequest, head.id).status == "expired"
    assert db.session.get(PassRequest, behind.id).status == "ready"
    assert db.session.get(Destination, place["restroom"].id).out_now == 2


def test_denying_a_ready_place_gives_it_back(db, place):
    a, b, c = place["students"][:3]
    first = go(place, a)
    go(place, b)
    head = line_up(place, c)
    back(place, first)
    deny_request(place["school"], teacher(place), request_id=head.id, now=NOON_ISH)
    db.session.commit()
    assert db.session.get(Destination, place["restroom"].id).out_now == 1
    assert db.session.get(HallpassPolicy, place["school"].id).out_now == 1


def test_starting_a_pass_closes_the_students_open_request(db, place):
    a, b, c = place["students"][:3]
    go(place, a)
    go(place, b)
    waiting = line_up(place, c)
    go(place, c, "library")
    db.session.commit()
    assert db.session.get(PassRequest, waiting.id).status == "cancelled"


def test_wait_line_needs_a_limited_destination(db, place):
    with pytest.raises(InvalidInput, match="no limit"):
        line_up(place, place["students"][0], "library")


def test_room_qr_tokens_rotate_and_cannot_be_forged(app, db, place):
    room = place["room"]
    token = room_qr.room_qr_token(room, NOON_ISH)
    assert room_qr.room_from_qr_token(token, NOON_ISH).id == room.id
    assert room_qr.room_from_qr_token(token, NOON_ISH + timedelta(seconds=60)).id == room.id
    with pytest.raises(TokenExpired):
        room_qr.room_from_qr_token(token, NOON_ISH + timedelta(seconds=121))
    with pytest.raises(NotFound):
        room_qr.room_from_qr_token(token[:-2] + ("AA" if token[-2:] != "AA" else "BB"), NOON_ISH)
    with pytest.raises(NotFound):
        room_qr.room_from_qr_token("not-a-token", NOON_ISH)
    from itsdangerous import URLSafeSerializer

    other_salt = URLSafeSerializer(app.config["SECRET_KEY"], salt="hallpass.room-visit")
    with pytest.raises(NotFound):
        room_qr.room_from_qr_token(other_salt.dumps([room.school_id, room.id, 1]), NOON_ISH)


def test_kiosk_student_token_is_bound_to_its_kiosk_and_expires(db, place, monkeypatch):
    from shared.models import Device

    kiosk = Device(
        school_id=place["school"].id,
        kind="kiosk",
        room_id=place["room"].id,
        label="K",
        secret_hash="a" * 64,
    )
    other = Device(
        school_id=place["school"].id,
        kind="kiosk",
        room_id=place["room"].id,
        label="L",
        secret_hash="b" * 64,
    )
    db.session.add_all([kiosk, other])
    db.session.commit()
    student = place["students"][0]
    token = tokens.kiosk_student_token(kiosk, student)
    assert tokens.student_from_kiosk_token(place["school"], kiosk, token).id == student.id
    with pytest.raises(InvalidInput):
        tokens.student_from_kiosk_token(place["school"], other, token)
    with pytest.raises(InvalidInput):
        tokens.student_from_kiosk_token(place["school"], kiosk, token + "x")
    monkeypatch.setattr(tokens, "KIOSK_STUDENT_SECONDS", -1)
    with pytest.raises(TokenExpired):
        tokens.student_from_kiosk_token(place["school"], kiosk, token)


def test_end_overrun_passes_at_period_end_and_max_duration(db, place, school):
    db.session.add(
        BellPeriod(
            school_id=school.id,
            name="2",
            weekday=1,
            start_time=time(9, 50),
            end_time=time(10, 40),
        )
    )
    policy(db, school, max_pass_minutes=20)
    a, b, c, d = place["students"][:4]
    in_period = go(place, a, "library")  # 10:00, period ends 10:40
    late = go(place, b, "library", now=NOON_ISH + timedelta(minutes=45))  # 10:45, no period
    first, second = go(place, c), go(place, d)  # restroom is full now
    db.session.commit()
    assert end_overrun_passes(NOON_ISH + timedelta(minutes=15)) == 0
    # 10:41: the period is over: a ends; c and d too; b (started 10:45) not yet
    assert end_overrun_passes(NOON_ISH + timedelta(minutes=41)) == 3
    db.session.commit()
    for hall_pass in (in_period, first, second):
        db.session.refresh(hall_pass)
        assert (hall_pass.status, hall_pass.ended_by) == ("ended", "system")
    assert db.session.get(Destination, place["restroom"].id).out_now == 0
    assert end_overrun_passes(NOON_ISH + timedelta(minutes=64)) == 0  # b: 19 minutes
    assert end_overrun_passes(NOON_ISH + timedelta(minutes=65), school_id=school.id) == 1
    db.session.commit()
    db.session.refresh(late)
    assert late.ended_by == "system"
    assert db.session.get(HallpassPolicy, school.id).out_now == 0
    assert end_overrun_passes(NOON_ISH + timedelta(hours=5)) == 0  # idempotent

    labels = set(
        db.session.scalars(
            select(AuditEvent.actor_label).where(AuditEvent.action == "hallpass.end")
        )
    )
    assert labels == {"system"}
    ended = pass_requests.room_requests(school, place["room"].id, NOON_ISH + timedelta(hours=1))
    assert len(ended.ended_by_system) == 4


def test_end_overrun_moves_the_wait_line_on(db, place):
    a, b, c = place["students"][:3]
    go(place, a)
    go(place, b)
    waiting = line_up(place, c)
    db.session.commit()
    assert end_overrun_passes(NOON_ISH + timedelta(hours=1)) == 2  # max 30 minutes
    db.session.commit()
    assert db.session.get(PassRequest, waiting.id).status == "ready"


def test_new_policies_have_a_maximum_duration(db, place):
    assert policy_for(place["school"]).max_pass_minutes == 30


def test_arrival_check_in_at_the_destinations_room(db, place):
    hall_pass = go(place, place["students"][0])
    db.session.commit()
    with pytest.raises(InvalidInput, match="not this room"):
        check_in(place["school"], Actor(), token=hall_pass.token, room_id=place["room"].id)
    with pytest.raises(NotFound):
        check_in(place["school"], Actor(), token="nope", room_id=place["restroom"].room_id)
    arrived = check_in(
        place["school"],
        Actor(),
        token=hall_pass.token,
        room_id=place["restroom"].room_id,
        now=NOON_ISH + timedelta(minutes=2),
    )
    db.session.commit()
    assert arrived.arrived_at == NOON_ISH + timedelta(minutes=2)
    again = check_in(
        place["school"], Actor(), token=hall_pass.token, room_id=place["restroom"].room_id
    )
    assert again.arrived_at == NOON_ISH + timedelta(minutes=2)  # the first arrival stays
    assert audit_actions(db).count("hallpass.arrive") == 1

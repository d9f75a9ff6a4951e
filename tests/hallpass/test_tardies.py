"""Late arrivals: the service's rules, the office's screen and kiosk, the teacher's live
line, the report and its SIS file, retention, export and delete."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from hallpass import tardies
from hallpass.tardy_demo import load_tardy_history
from hallpass.tardy_models import Tardy
from hallpass.tardy_reports import SIS_COLUMNS
from shared import live, retention, student_records
from shared.audit import SYSTEM, Actor
from shared.errors import Conflict, InvalidInput
from shared.models import AuditEvent, BellPeriod, Enrollment, Room, SchoolClass, Student
from shared.timeutil import utcnow

CHICAGO = ZoneInfo("America/Chicago")
#: A Monday.
MONDAY = date(2026, 11, 30)


def at(clock: str, day: date = MONDAY) -> datetime:
    """A wall-clock time of the (Chicago) school on `day`, as an aware instant."""
    hour, minute = map(int, clock.split(":"))
    return datetime.combine(day, time(hour, minute), tzinfo=CHICAGO)


@pytest.fixture
def late(db, school, make_user):
    """A school with a Monday bell schedule, a class in period 1 and one in period 2, an
    office room and its staff, and three students enrolled in both classes."""
    teacher, other_teacher = make_user(school, "teacher"), make_user(school, "teacher")
    office_user, admin = make_user(school, "office"), make_user(school, "admin")
    room, office = (
        Room(school_id=school.id, name="114"),
        Room(school_id=school.id, name="Main office", kind="office"),
    )
    db.session.add_all([room, office])
    db.session.flush()
    periods = [("1", time(8, 0), time(8, 50)), ("2", time(8, 55), time(9, 45))]
    db.session.add_all(
        BellPeriod(school_id=school.id, name=n, weekday=0, start_time=s, end_time=e)
        for n, s, e in periods
    )
    first = SchoolClass(
        school_id=school.id, name="Math 7", room_id=room.id, period="1", sourced_id="sec-m7"
    )
    first.teachers.append(teacher)
    second = SchoolClass(school_id=school.id, name="Art 7", room_id=room.id, period="2")
    second.teachers.append(other_teacher)
    students = [
        Student(
            school_id=school.id, student_number=f"55{n}", first_name=f"Late{n}", last_name="Kid"
        )
        for n in range(3)
    ]
    db.session.add_all([first, second, *students])
    db.session.flush()
    db.session.add_all(
        Enrollment(class_id=c.id, student_id=s.id) for c in (first, second) for s in students
    )
    db.session.commit()
    return {
        "school": school,
        "teacher": teacher,
        "other_teacher": other_teacher,
        "office_user": office_user,
        "admin": admin,
        "room": room,
        "office": office,
        "first": first,
        "second": second,
        "students": students,
    }


def record(late, student=0, *, clock="8:12", reason="late_bus", **kw):
    return tardies.record_late_arrival(
        late["school"],
        Actor(user=late["office_user"]),
        student_id=late["students"][student].id,
        reason=reason,
        source=kw.pop("source", "office"),
        now=at(clock),
        **kw,
    )


# ------------------------------------------------------------------ service rules


def test_an_arrival_in_a_period_is_late_by_the_minutes_since_its_bell(db, late):
    tardy, created = record(late, clock="8:12")
    assert created
    assert (tardy.period, tardy.minutes_late, tardy.class_id) == ("1", 12, late["first"].id)
    assert tardy.day == MONDAY and tardy.arrival == 1 and tardy.reason == "late_bus"
    assert tardy.recorded_by_id == late["office_user"].id and tardy.source == "office"


def test_in_the_passing_time_the_student_goes_to_the_next_period_zero_minutes_late(db, late):
    tardy, _ = record(late, clock="8:52")
    assert (tardy.period, tardy.minutes_late, tardy.class_id) == ("2", 0, late["second"].id)


def test_nobody_is_late_before_the_first_bell_or_after_the_last(db, late):
    with pytest.raises(Conflict, match="first period starts"):
        record(late, clock="7:40")
    with pytest.raises(Conflict, match="school day is over"):
        record(late, clock="10:00")
    assert db.session.scalar(select(func.count()).select_from(Tardy)) == 0


def test_a_day_without_a_bell_schedule_records_no_period_nor_minutes(db, late):
    tuesday = at("8:12", MONDAY + timedelta(days=1))
    tardy, created = tardies.record_late_arrival(
        late["school"],
        SYSTEM,
        student_id=late["students"][0].id,
        reason="family",
        source="office",
        now=tuesday,
    )
    assert created and (tardy.period, tardy.minutes_late, tardy.class_id) == (None, None, None)


def test_a_second_scan_the_same_day_answers_with_the_first_record(db, late):
    first, _ = record(late, clock="8:12")
    again, created = record(late, clock="8:30", reason="other", note="ignored")
    assert not created and again.id == first.id
    assert db.session.scalar(select(func.count()).select_from(Tardy)) == 1


def test_the_office_may_record_another_arrival_the_same_day(db, late):
    record(late, clock="8:12")
    second, created = record(late, clock="9:10", reason="appointment", another=True)
    assert created and second.arrival == 2 and second.period == "2" and second.minutes_late == 15


def test_the_database_holds_one_arrival_per_student_and_day(db, late):
    record(late)
    db.session.commit()
    db.session.add(
        Tardy(
            school_id=late["school"].id,
            student_id=late["students"][0].id,
            day=MONDAY,
            arrival=1,
            arrived_at=utcnow(),
            reason="late_bus",
            source="kiosk",
        )
    )
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_two_kiosks_racing_record_one_arrival_and_both_see_it(db, late, monkeypatch):
    winner, _ = record(late, clock="8:12")
    db.session.commit()
    # The second kiosk looked before the first one's record was there (a race): its insert
    # meets the unique index, and it answers with the winner's record.
    looks = iter([None])
    real = tardies.todays_record
    monkeypatch.setattr(tardies, "todays_record", lambda *a: next(looks, None) or real(*a))
    again, created = record(late, clock="8:13", source="kiosk")
    assert not created and again.id == winner.id
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(Tardy)) == 1


@pytest.mark.parametrize(
    "reason, note, field",
    [
        ("", "", "reason"),
        ("sick", "", "reason"),
        ("other", "  ", "note"),
        ("other", "x" * 201, "note"),
    ],
)
def test_reasons_come_from_the_list_and_other_needs_a_short_note(db, late, reason, note, field):
    with pytest.raises(InvalidInput) as refused:
        record(late, reason=reason, note=note)
    assert refused.value.field == field


def test_a_tardy_is_audited_and_tells_its_class_tablet(db, late):
    topic = tardies.class_topic(late["first"].id)
    before = live.current(late["school"].id, topic)
    tardy, _ = record(late, clock="8:12")
    db.session.commit()
    assert live.current(late["school"].id, topic) == before + 1
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "hallpass.tardy"))
    assert event.target_id == tardy.id and event.detail["minutes_late"] == 12
    assert "Late0" not in str(event.detail)  # ids and codes, not names


def test_a_student_of_another_school_cannot_be_recorded(db, late, make_school, make_student):
    stranger = make_student(make_school())
    with pytest.raises(Exception, match="No such student"):
        tardies.record_late_arrival(
            late["school"],
            SYSTEM,
            student_id=stranger.id,
            reason="late_bus",
            source="office",
            now=at("8:12"),
        )


# ------------------------------------------------------------------ views: the office


def today_all_day(db, late):
    """Make today a school day whose period 1 lasts all day (views use the real clock)."""
    weekday = datetime.now(UTC).astimezone(CHICAGO).weekday()
    db.session.execute(
        delete(BellPeriod).where(
            BellPeriod.school_id == late["school"].id, BellPeriod.weekday == weekday
        )
    )
    db.session.add(
        BellPeriod(
            school_id=late["school"].id,
            name="1",
            weekday=weekday,
            start_time=time(0, 0),
            end_time=time(23, 59, 59),
        )
    )
    db.session.commit()


def test_the_office_finds_a_student_as_it_types_records_and_gets_the_pass(db, client, login, late):
    today_all_day(db, late)
    login(late["office_user"])
    page = client.get("/hallpass/late").get_data(as_text=True)
    assert 'hx-post="/hallpass/late/students"' in page
    found = client.post(
        "/hallpass/late/students", data={"q": "late1"}, headers={"HX-Request": "true"}
    )
    text = found.get_data(as_text=True)
    assert "<html" not in text and "Kid, Late1" in text and "Late0" not in text
    student = late["students"][1]
    done = client.post(
        "/hallpass/late/record", data={"student_id": student.id, "reason": "late_bus"}
    )
    assert done.status_code == 302
    tardy = db.session.scalar(select(Tardy))
    assert done.headers["Location"].endswith(f"/hallpass/late/{tardy.id}/slip")
    assert "55" not in done.headers["Location"]  # no student number in the URL
    slip = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "Late1 Kid" in slip and "Math 7" in slip and "Late bus" in slip and "data-print" in slip
    again = client.post(
        "/hallpass/late/record",
        data={"student_id": student.id, "reason": "family"},
        follow_redirects=True,
    )
    assert "already recorded late today" in again.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Tardy)) == 1
    another = client.post(
        "/hallpass/late/record",
        data={"student_id": student.id, "reason": "family", "another": "1"},
    )
    assert another.status_code == 302
    assert db.session.scalar(select(func.max(Tardy.arrival))) == 2


@pytest.mark.parametrize(
    "form, status",
    [
        ({"reason": "late_bus"}, 400),
        ({"student_id": "abc", "reason": "late_bus"}, 400),
        ({"student_id": "999999", "reason": "late_bus"}, 404),
        ({"student_id": "{s}", "reason": "nope"}, 400),
        ({"student_id": "{s}", "reason": "other"}, 400),
    ],
)
def test_bad_office_input_is_a_clear_4xx_and_writes_nothing(db, client, login, late, form, status):
    today_all_day(db, late)
    login(late["office_user"])
    data = {k: v.format(s=late["students"][0].id) for k, v in form.items()}
    response = client.post("/hallpass/late/record", data=data)
    assert response.status_code == status
    assert 'class="flash flash-error"' in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Tardy)) == 0


# ------------------------------------------------------------------ views: the kiosk


def pair_kiosk(app, db, late, room):
    from tests.hallpass.test_views import pair

    return pair(app, db, late["school"], late["admin"], "kiosk", room_id=room.id, purpose=None)


def test_the_office_kiosk_records_a_late_arrival_and_shows_the_pass(app, db, late):
    today_all_day(db, late)
    kiosk = pair_kiosk(app, db, late, late["office"])
    home = kiosk.get("/hallpass/kiosk")
    assert home.status_code == 302 and home.headers["Location"].endswith("/hallpass/late/kiosk")
    assert "Arriving late?" in kiosk.get("/hallpass/late/kiosk").get_data(as_text=True)
    chosen = kiosk.post("/hallpass/late/kiosk/scan", data={"number": " 552 "})
    page = chosen.get_data(as_text=True)
    assert "why are you late?" in page and "Late2 K." in page
    token = re.search(r'name="student" value="([^"]+)"', page).group(1)
    done = kiosk.post(
        "/hallpass/late/kiosk/record", data={"student": token, "reason": "appointment"}
    )
    text = done.get_data(as_text=True)
    assert done.status_code == 200 and "Pass to class" in text.replace(
        "pass to class", "Pass to class"
    )
    assert "Late2 K." in text and "Late2 Kid" not in text and "Math 7" in text
    tardy = db.session.scalar(select(Tardy))
    assert (tardy.source, tardy.room_id, tardy.reason) == (
        "kiosk",
        late["office"].id,
        "appointment",
    )
    assert tardy.device_id is not None and tardy.recorded_by_id is None
    again = kiosk.post("/hallpass/late/kiosk/scan", data={"number": "552"}).get_data(as_text=True)
    assert "already checked in late today" in again
    assert db.session.scalar(select(func.count()).select_from(Tardy)) == 1


def test_the_kiosk_refuses_junk_and_other_without_a_note(app, db, late):
    today_all_day(db, late)
    kiosk = pair_kiosk(app, db, late, late["office"])
    assert kiosk.post("/hallpass/late/kiosk/scan", data={"number": ""}).status_code == 400
    assert kiosk.post("/hallpass/late/kiosk/scan", data={"number": "nobody"}).status_code == 404
    assert kiosk.post("/hallpass/late/kiosk/record", data={"student": "forged"}).status_code == 400
    page = kiosk.post("/hallpass/late/kiosk/scan", data={"number": "550"}).get_data(as_text=True)
    token = re.search(r'name="student" value="([^"]+)"', page).group(1)
    refused = kiosk.post("/hallpass/late/kiosk/record", data={"student": token, "reason": "other"})
    assert refused.status_code == 400
    assert db.session.scalar(select(func.count()).select_from(Tardy)) == 0


def test_a_pass_to_the_office_still_checks_in_at_the_office_kiosk(app, db, late):
    from hallpass.models import Destination
    from hallpass.passes import start_pass

    office = Destination(school_id=late["school"].id, name="Office", room_id=late["office"].id)
    db.session.add(office)
    db.session.flush()
    hall_pass = start_pass(
        late["school"],
        SYSTEM,
        student_id=late["students"][0].id,
        destination_id=office.id,
        from_room_id=late["room"].id,
        source="teacher",
    )
    db.session.commit()
    kiosk = pair_kiosk(app, db, late, late["office"])
    code = f"https://passline.test/hallpass/p/{hall_pass.token}"
    arrived = kiosk.post("/hallpass/late/kiosk/scan", data={"number": code})
    assert arrived.status_code == 200 and "Checked in at Office" in arrived.get_data(as_text=True)
    db.session.refresh(hall_pass)
    assert hall_pass.arrived_at is not None
    assert db.session.scalar(select(func.count()).select_from(Tardy)) == 0


def test_a_classroom_kiosk_is_not_an_office_kiosk(app, db, late):
    kiosk = pair_kiosk(app, db, late, late["room"])
    assert kiosk.get("/hallpass/kiosk").status_code == 200  # its own hall pass screen
    assert kiosk.get("/hallpass/late/kiosk").status_code == 403
    assert kiosk.post("/hallpass/late/kiosk/scan", data={"number": "550"}).status_code == 403


# ------------------------------------------------------------------ the teacher's tablet


def test_the_class_tablet_shows_a_late_arrival_live(db, client, login, late):
    today_all_day(db, late)
    login(late["teacher"])
    tablet = client.get(f"/hallpass/?class_id={late['first'].id}").get_data(as_text=True)
    assert 'id="class-tardies"' in tablet and "No late arrivals in this class today." in tablet
    url = f"/hallpass/classes/{late['first'].id}/tardies"
    first = client.get(url + "?v=-1").get_data(as_text=True)
    version = int(re.search(r"v=(\d+)", first).group(1))
    assert client.get(f"{url}?v={version}").status_code == 204
    tardies.record_late_arrival(
        late["school"],
        SYSTEM,
        student_id=late["students"][0].id,
        reason="late_bus",
        source="office",
    )
    db.session.commit()
    changed = client.get(f"{url}?v={version}")
    text = changed.get_data(as_text=True)
    assert changed.status_code == 200 and "<html" not in text
    assert "Late0 Kid" in text and "arrived late" in text and "(office)" in text


def test_a_teacher_watches_only_their_own_classes_late_arrivals(db, client, login, late):
    login(late["other_teacher"])
    assert client.get(f"/hallpass/classes/{late['first'].id}/tardies").status_code == 403
    assert client.get(f"/hallpass/classes/{late['second'].id}/tardies").status_code == 200


# ------------------------------------------------------------------ reports and the SIS file


def test_teachers_see_their_own_classes_tardies_and_filters_narrow(db, client, login, late):
    record(late, 0, clock="8:12", reason="late_bus")
    record(late, 1, clock="9:00", reason="family")
    db.session.commit()
    args = "?from=2026-11-30&to=2026-11-30"
    login(late["teacher"])
    page = client.get("/hallpass/late/report" + args).get_data(as_text=True)
    assert "Late0 Kid" in page and "Late1 Kid" not in page
    login(late["office_user"])
    page = client.get("/hallpass/late/report" + args).get_data(as_text=True)
    assert "Late0 Kid" in page and "Late1 Kid" in page
    only = client.get("/hallpass/late/report" + args + "&reason=family").get_data(as_text=True)
    assert "Late1 Kid" in only and "Late0 Kid" not in only
    assert client.get("/hallpass/late/report?reason=sick").status_code == 400
    assert client.get("/hallpass/late/report?period=99").status_code == 400


def test_the_sis_file_has_one_row_per_tardy_in_the_documented_columns(db, client, login, late):
    late["students"][2].student_number = "=cmd|' /C calc'!A0"
    record(late, 0, clock="8:12")
    record(late, 2, clock="8:52", reason="other", note="Car trouble")
    db.session.commit()
    login(late["office_user"])
    response = client.get("/hallpass/late/report.csv?from=2026-11-30&to=2026-11-30")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    body = response.get_data(as_text=True)
    assert body.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert (
        rows[0]
        == SIS_COLUMNS
        == [
            "student_number",
            "date",
            "period",
            "minutes_late",
            "arrival_time",
            "reason",
            "class_sourced_id",
            "source",
        ]
    )
    assert rows[1] == ["550", "2026-11-30", "1", "12", "08:12", "late_bus", "sec-m7", "office"]
    assert rows[2] == [
        "'=cmd|' /C calc'!A0",
        "2026-11-30",
        "2",
        "0",
        "08:52",
        "other",
        "",
        "office",
    ]
    assert len(rows) == 3
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "hallpass.tardies_export")
        )
        == 1
    )


def test_the_sis_file_speaks_no_language_but_its_own(db, client, login, late):
    record(late, 0, clock="8:12")
    db.session.commit()
    late["office_user"].language = "es"
    db.session.commit()
    login(late["office_user"])
    body = client.get("/hallpass/late/report.csv?from=2026-11-30&to=2026-11-30").get_data(
        as_text=True
    )
    assert body.lstrip("\ufeff").splitlines()[0] == ",".join(SIS_COLUMNS)
    assert "late_bus" in body


def test_a_students_history_shows_their_tardies_beside_passes(db, client, login, late):
    record(late, 0, clock="8:12", reason="appointment")
    db.session.commit()
    login(late["office_user"])
    page = client.get(
        f"/hallpass/reports/students/{late['students'][0].id}?from=2026-11-30&to=2026-11-30"
    ).get_data(as_text=True)
    assert 'id="student-tardies"' in page and "Appointment" in page and "Math 7" in page


# ------------------------------------------------------------------ retention, export, delete


def test_old_tardies_are_purged_by_their_own_period(db, late):
    record(late, 0, clock="8:12")
    old, _ = record(late, 1, clock="8:12")
    old.day = MONDAY - timedelta(days=400)
    db.session.commit()
    assert "tardy_days" in retention.policy(late["school"])
    counts = retention.purge_school(late["school"], now=at("12:00"))
    assert counts["tardies"] == 1
    assert [t.student_id for t in db.session.scalars(select(Tardy))] == [late["students"][0].id]


def test_a_students_tardies_are_exported_and_deleted_with_them(db, late):
    tardy, _ = record(late, 0, clock="8:12")
    db.session.commit()
    records = student_records.collect(late["students"][0])
    assert [row["id"] for row in records["tardies"]] == [tardy.id]
    student_records.delete_student(late["students"][0])
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(Tardy)) == 0


def test_the_demo_history_has_tardies_placed_by_the_schedule(db, late):
    # Every weekday gets the Monday schedule, so every past school day has late students.
    for weekday in range(1, 5):
        db.session.add_all(
            BellPeriod(
                school_id=late["school"].id, name=n, weekday=weekday, start_time=s, end_time=e
            )
            for n, s, e in (("1", time(8, 0), time(8, 50)), ("2", time(8, 55), time(9, 45)))
        )
    db.session.commit()
    import random

    count = load_tardy_history(late["school"], random.Random(1))
    db.session.commit()
    found = list(db.session.scalars(select(Tardy)))
    assert count == len(found) >= 20 * 2  # 20 school days, at least 2 a day
    assert {t.period for t in found} <= {"1", "2"} and all(t.class_id for t in found)


def test_the_office_screen_and_the_tablet_line_speak_spanish(db, client, login, late):
    today_all_day(db, late)
    late["teacher"].language = "es"
    db.session.commit()
    tardies.record_late_arrival(
        late["school"],
        SYSTEM,
        student_id=late["students"][0].id,
        reason="family",
        source="office",
    )
    db.session.commit()
    login(late["teacher"])
    region = client.get(f"/hallpass/classes/{late['first'].id}/tardies").get_data(as_text=True)
    assert "llegó tarde a las" in region and "(oficina)" in region
    assert "Se quedó dormido / familia" in region
    report = client.get("/hallpass/late/report").get_data(as_text=True)
    assert "Informe de retrasos" in report and "CSV para el SIS" in report


def test_teachers_reach_the_tardy_report_from_the_pass_reports(db, client, login, late):
    login(late["teacher"])
    page = client.get("/hallpass/reports").get_data(as_text=True)
    assert 'href="/hallpass/late/report"' in page

"""The report page computed from the daily summary (`build_report`) equals the report
computed the old way, from every pass (`totals`, `by_destination`, ... in `figures`), on a
generated history of several weeks: several destinations, periods, rooms and issuers,
passes crossing midnight, a day still open, past passes edited, a student deleted, old
days purged, the bell schedule changed. And the summary is really what it reads.
"""

import math
import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from hallpass.models import Destination, HallPass
from hallpass.reports import figures, summary
from hallpass.reports.scope import ReportFilter, Scope
from hallpass.summary_models import (
    HallPassSummary,
    HallPassSummaryDay,
    HallPassSummaryGroup,
    HallPassSummarySlot,
)
from shared import retention
from shared.models import BellPeriod, Enrollment, Room, SchoolClass, Student

CHICAGO = ZoneInfo("America/Chicago")
TODAY = date(2026, 11, 18)  # a Wednesday
NOW = datetime.combine(TODAY, time(11, 0), tzinfo=CHICAGO).astimezone(UTC)
FIRST = TODAY - timedelta(days=40)


def at(day: date, hh: int, mm: int) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=CHICAGO).astimezone(UTC)


@pytest.fixture
def year(db, school, make_user):
    """Eight students, three destinations, three rooms, two teachers (and kiosk passes
    nobody issued), three bell periods, 41 days of passes with known randomness."""
    rng = random.Random(25)
    teachers = [make_user(school, "teacher", name=n) for n in ("Tess One", "Ted Two")]
    rooms = [Room(school_id=school.id, name=n) for n in ("101", "102", "103")]
    places = [
        Destination(school_id=school.id, name=n, time_limit_minutes=m)
        for n, m in (("Restroom", 5), ("Nurse", 15), ("library", 10))
    ]
    students = [
        Student(school_id=school.id, student_number=f"S{n}", first_name=f"F{n}", last_name=ln)
        for n, ln in enumerate(("Doe", "doe", "Abe", "Zed", "Éva", "Moe", "Doe", "Lee"))
    ]
    db.session.add_all([*rooms, *places, *students])
    db.session.flush()
    math = SchoolClass(school_id=school.id, name="Math", room_id=rooms[0].id, period="1")
    math.teachers.append(teachers[0])
    db.session.add(math)
    db.session.flush()
    db.session.add_all(Enrollment(class_id=math.id, student_id=s.id) for s in students[:5])
    for weekday in range(5):
        for name, start, end in (
            ("1", time(8), time(9)),
            ("2", time(9), time(10)),
            ("Lunch", time(11, 30), time(12, 15)),
        ):
            db.session.add(BellPeriod(school_id=school.id, name=name, weekday=weekday,
                                      start_time=start, end_time=end))  # fmt: skip
    day = FIRST
    while day <= TODAY:
        for student in students:
            for _ in range(rng.choice((0, 1, 1, 2))):
                start = at(day, rng.randint(7, 14), rng.randint(0, 59))
                if day == TODAY and start > NOW - timedelta(minutes=30):
                    continue
                minutes = rng.choice((2, 4.5, 5, 7.25, 16))
                issuer = rng.choice((*teachers, None))
                db.session.add(
                    HallPass(
                        school_id=school.id,
                        student_id=student.id,
                        destination_id=rng.choice(places).id,
                        from_room_id=rng.choice(rooms).id,
                        source="teacher" if issuer else "kiosk",
                        issued_by_id=issuer.id if issuer else None,
                        status="ended",
                        started_at=start,
                        ended_at=start + timedelta(minutes=minutes),
                        ended_by="staff",
                        time_limit_minutes=10,
                    )
                )
            db.session.flush()
        day += timedelta(days=1)
    # Crossing midnight: one ended the next morning, one still active since two days ago.
    crossing = HallPass(
        school_id=school.id, student_id=students[7].id, destination_id=places[1].id,
        source="kiosk", status="ended", started_at=at(TODAY - timedelta(days=5), 23, 50),
        ended_at=at(TODAY - timedelta(days=4), 0, 20), ended_by="system", time_limit_minutes=15,
    )  # fmt: skip
    still_out = HallPass(
        school_id=school.id, student_id=students[6].id, destination_id=places[1].id,
        source="kiosk", status="active", started_at=at(TODAY - timedelta(days=2), 23, 30),
        time_limit_minutes=15,
    )  # fmt: skip
    db.session.add_all([crossing, still_out])
    db.session.commit()
    return {"school": school, "teachers": teachers, "students": students, "places": places,
            "crossing": crossing, "still_out": still_out}  # fmt: skip


class Minutes(float):
    """Minutes that equal any within a millionth (sums in another order differ in the last
    bits of a float, and rounding both to some decimal can still part them at its edge)."""

    def __eq__(self, other):
        return math.isclose(self, other, rel_tol=0, abs_tol=1e-6)

    __hash__ = float.__hash__


def shown(report: figures.Report) -> dict:
    """Everything a report holds, its minutes as `Minutes`."""

    def f(x):
        return (x.passes, Minutes(x.minutes), x.overdue, x.students)

    def rows(found, students=True):
        return [(r.key, r.label, f(r.figures)[: 4 if students else 3]) for r in found]

    return {
        "totals": f(report.totals),
        "destination": rows(report.by_destination),
        "teacher": rows(report.by_teacher),
        "period": rows(report.by_period),
        # The page's top users carry no student count (the old way counts 1 each too).
        "student": rows(report.by_student, students=False),
        # The page's charts show passes: its days and hours count no students.
        "day": rows(report.by_day, students=False),
        "hour": rows(report.by_hour, students=False),
    }


def old_way(scope: Scope, flt: ReportFilter) -> figures.Report:
    return figures.Report(
        filter=flt,
        totals=figures.totals(scope, flt, NOW),
        by_destination=figures.by_destination(scope, flt, NOW),
        by_teacher=figures.by_teacher(scope, flt, NOW),
        by_period=figures.by_period(scope, flt, NOW),
        by_student=figures.by_student(scope, flt, NOW),
        by_day=figures.by_day(scope, flt, NOW),
        by_hour=figures.by_hour(scope, flt, NOW),
    )


def assert_same(data) -> None:
    """The new way equals the old way for the whole school, a teacher, each filter and
    ranges that start or end on summarized and unsummarized days."""
    school = data["school"]
    whole, teacher = Scope(school), Scope(school, teacher_id=data["teachers"][0].id)
    filters = [
        ReportFilter(FIRST, TODAY),
        ReportFilter(TODAY - timedelta(days=9), TODAY - timedelta(days=3)),
        ReportFilter(TODAY - timedelta(days=6), TODAY),
        ReportFilter(FIRST, TODAY, destination_id=data["places"][0].id),
        ReportFilter(FIRST, TODAY, issuer_id=data["teachers"][1].id),
        ReportFilter(FIRST, TODAY, period="2"),
        ReportFilter(FIRST, TODAY, period="outside periods"),
        ReportFilter(FIRST, TODAY, student_id=data["students"][1].id),
    ]
    for scope in (whole, teacher):
        for flt in filters:
            assert shown(figures.build_report(scope, flt, NOW)) == shown(old_way(scope, flt)), (
                scope,
                flt,
            )


def summarize(db) -> int:
    done = summary.summarize_closed_days(NOW, budget_seconds=None)
    db.session.commit()
    return done


def summarized_days(db, school) -> set[date]:
    return set(
        db.session.scalars(
            select(HallPassSummaryDay.day).where(HallPassSummaryDay.school_id == school.id)
        )
    )


def test_the_summary_gives_the_report_of_the_passes(db, year):
    school = year["school"]
    assert_same(year)  # nothing summarized yet: every day from the passes
    assert summarize(db) == 39  # 40 closed days, minus the one whose pass is still out
    days = summarized_days(db, school)
    assert TODAY not in days and TODAY - timedelta(days=2) not in days
    assert TODAY - timedelta(days=1) in days and FIRST in days
    assert summarize(db) == 0  # nothing left to do
    assert db.session.scalar(select(func.sum(HallPassSummary.passes))) > 250
    assert_same(year)

    # The page really reads the summary: a figure changed behind its back shows (in a
    # filtered report, and in the whole school's most frequent users).
    one = db.session.scalars(select(HallPassSummary).limit(1)).one()
    filtered = ReportFilter(FIRST, TODAY, destination_id=one.destination_id)
    total = figures.build_report(Scope(school), filtered, NOW).totals.passes
    db.session.execute(
        update(HallPassSummary).where(HallPassSummary.id == one.id).values(passes=one.passes + 70)
    )
    assert figures.build_report(Scope(school), filtered, NOW).totals.passes == total + 70
    top = figures.build_report(Scope(school), ReportFilter(FIRST, TODAY), NOW).by_student[0]
    assert top.key == one.student_id
    db.session.rollback()

    # The whole school's groups come from the day's groups and their students' bitmaps
    # (a teacher's scope or a filter: from the summary's rows, above).
    whole = ReportFilter(FIRST, TODAY)
    assert summary.page_groups(Scope(school), whole, NOW) is not None
    teacher = Scope(school, teacher_id=year["teachers"][0].id)
    assert summary.page_groups(teacher, whole, NOW) is None
    assert summary.page_groups(Scope(school), ReportFilter(FIRST, TODAY, period="2"), NOW) is None
    shown_before = shown(figures.build_report(Scope(school), whole, NOW))
    group = db.session.scalars(
        select(HallPassSummaryGroup).where(HallPassSummaryGroup.grouping == "destination").limit(1)
    ).one()
    db.session.execute(
        update(HallPassSummaryGroup)
        .where(HallPassSummaryGroup.id == group.id)
        .values(passes=group.passes + 5, students=b"\xff\xff\xff")
    )
    changed = shown(figures.build_report(Scope(school), whole, NOW))
    db.session.rollback()
    place = int(group.key)
    before_row = next(r for r in shown_before["destination"] if r[0] == place)
    after_row = next(r for r in changed["destination"] if r[0] == place)
    assert after_row[2][0] == before_row[2][0] + 5
    assert after_row[2][3] == 8 + 16  # every bit of three bytes: 24 "students"
    assert shown(figures.build_report(Scope(school), whole, NOW)) == shown_before


def test_changes_to_past_passes_forget_their_day(db, year):
    school = year["school"]
    summarize(db)
    before = summarized_days(db, school)
    # An edit of a past pass (another destination, a longer trip) forgets its day only.
    edited = db.session.scalars(
        select(HallPass).where(HallPass.started_at < at(TODAY - timedelta(days=10), 0, 0))
        .order_by(HallPass.started_at.desc()).limit(1)
    ).one()  # fmt: skip
    edited_day = edited.started_at.astimezone(CHICAGO).date()
    edited.destination_id = year["places"][2].id
    edited.ended_at = edited.ended_at + timedelta(minutes=30)
    db.session.commit()
    assert summarized_days(db, school) == before - {edited_day}
    assert not db.session.scalar(select(func.count()).where(HallPassSummary.day == edited_day))
    assert not db.session.scalar(select(func.count()).where(HallPassSummaryGroup.day == edited_day))
    assert db.session.scalar(select(func.count(HallPassSummaryGroup.id))) > 100
    assert_same(year)

    # The pass still out since two days ago ends: its day can be summarized now.
    year["still_out"].status, year["still_out"].ended_at = "ended", NOW
    db.session.commit()
    assert summarize(db) == 2
    assert_same(year)

    # A deleted student leaves nothing behind in the summary.
    gone = year["students"][3]
    db.session.delete(gone)
    db.session.commit()
    assert not db.session.scalar(select(func.count()).where(HallPassSummary.student_id == gone.id))
    assert not db.session.get(HallPassSummarySlot, gone.id)  # and their days were forgotten
    assert summarize(db) > 0
    assert_same(year)

    # Another bell schedule forgets every day of the school (periods are read anew).
    period = db.session.scalars(select(BellPeriod).where(BellPeriod.name == "Lunch")).first()
    period.end_time = time(13)
    db.session.commit()
    assert summarized_days(db, school) == set()
    summarize(db)
    assert_same(year)


def test_the_retention_purge_purges_the_summary_too(db, year):
    school = year["school"]
    summarize(db)
    school.settings = {"retention": {"pass_history_days": 30}}
    db.session.commit()
    retention.purge_school(school, NOW)
    db.session.commit()
    oldest = db.session.scalar(select(func.min(HallPass.started_at)))
    assert oldest > NOW - timedelta(days=31)
    assert not [d for d in summarized_days(db, school) if d < TODAY - timedelta(days=31)]
    assert not db.session.scalar(
        select(func.count()).where(HallPassSummary.day < TODAY - timedelta(days=31))
    )
    assert not db.session.scalar(
        select(func.count()).where(HallPassSummaryGroup.day < TODAY - timedelta(days=31))
    )
    assert_same(year)


def test_a_time_zone_change_forgets_every_day(db, year):
    school = year["school"]
    summarize(db)
    school.timezone = "America/New_York"
    db.session.commit()
    assert summarized_days(db, school) == set()


def test_the_page_shows_the_same_before_and_after_summarizing(db, year, make_user, login, client):
    """Through the route, signed in: every cell and figure of the page is the same."""
    import re

    login(make_user(year["school"], "office"))
    args = {"from": FIRST.isoformat(), "to": TODAY.isoformat()}

    def cells():
        html = client.get("/hallpass/reports", query_string=args).get_data(as_text=True)
        return re.findall(r"<td[^>]*>.*?</td>|<strong>.*?</strong>", html)

    before = cells()
    assert summary.summarize_closed_days(budget_seconds=None) > 30  # closed by the real now
    db.session.commit()
    assert summarized_days(db, year["school"])
    assert cells() == before


def test_housekeeping_stops_at_its_budget_and_the_command_does_the_rest(db, app, year):
    assert summary.summarize_closed_days(NOW, budget_seconds=0) == 1  # the newest first
    db.session.commit()
    assert summarized_days(db, year["school"]) == {TODAY - timedelta(days=1)}
    result = app.test_cli_runner().invoke(args=["hallpass", "summarize", "--school", "LMS"])
    assert result.exit_code == 0, result.output
    assert "Summarized" in result.output
    db.session.expire_all()
    assert len(summarized_days(db, year["school"])) > 30


# ------------------------------------------------------------- the CSV of every pass


def old_passes_csv(school, lines) -> str:
    """The CSV of every pass as it was written before it streamed plain rows (issue 25,
    fourth part): a `PassLine` per pass, its times converted in Python, every cell
    through `csv_cell`."""
    from hallpass.reports.csv_files import PASS_HEADER, csv_cell
    from shared.csvfile import csv_text

    tz = ZoneInfo(school.timezone)

    def local(dt, fmt):
        return dt.astimezone(tz).strftime(fmt) if dt else ""

    rows = [[str(h) for h in PASS_HEADER]]
    for p in lines:
        rows.append(
            [local(p.started_at, "%Y-%m-%d"), local(p.started_at, "%H:%M:%S"),
             local(p.ended_at, "%H:%M:%S"), round(p.minutes, 1), p.time_limit_minutes,
             p.overdue, p.student, p.grade, p.destination, p.from_room, p.period_label,
             p.source, p.issued_by, p.ended_by, p.urgent, p.override_reason, p.status,
             p.substitute]
        )  # fmt: skip
    return csv_text(rows, csv_cell)


def test_the_csv_of_every_pass_is_written_as_before(db, year, monkeypatch):
    """The streamed rows (local times written by the database, keyset batches, cells
    without the per-cell dispatch) give the same file, byte for byte, as the pass lines
    written the old way: for the whole school, a teacher and every filter, with text a
    spreadsheet would run as a formula, passes crossing midnight and one still out."""
    from hallpass.reports import csv_files, lines

    monkeypatch.setattr(lines, "STREAM_BATCH", 7)  # many batches, ties of starts included
    school = year["school"]
    student = year["students"][2]
    student.last_name, student.grade = "=HYPERLINK(1)", "+9"
    year["places"][2].name = "@library"
    some = db.session.scalars(select(HallPass).order_by(HallPass.id).limit(3)).all()
    some[0].override_reason = "-the nurse called"
    some[1].started_at = some[2].started_at  # two passes started at the same instant
    db.session.commit()
    whole, teacher = Scope(school), Scope(school, teacher_id=year["teachers"][0].id)
    for scope in (whole, teacher):
        for flt in (
            ReportFilter(FIRST, TODAY),
            ReportFilter(TODAY - timedelta(days=6), TODAY),
            ReportFilter(FIRST, TODAY, destination_id=year["places"][2].id),
            ReportFilter(FIRST, TODAY, issuer_id=year["teachers"][1].id),
            ReportFilter(FIRST, TODAY, period="2"),
            ReportFilter(FIRST, TODAY, period="outside periods"),
            ReportFilter(FIRST, TODAY, student_id=student.id),
        ):
            new = "".join(csv_files.report_csv(scope, flt, "passes", NOW))
            old = old_passes_csv(school, lines.pass_lines(scope, flt, NOW))
            assert new == old, (scope, flt)
    everything = "".join(csv_files.report_csv(whole, ReportFilter(FIRST, TODAY), "passes", NOW))
    assert len(everything.splitlines()) == db.session.scalar(select(func.count(HallPass.id))) + 1
    assert "'=HYPERLINK(1)" in everything and "'-the nurse called" in everything


def test_the_csv_holds_no_connection_or_transaction_between_batches(db, year, monkeypatch):
    """Each batch is one statement on a connection borrowed for it alone: while the file
    downloads (a slow client: minutes), no connection is kept out of the pool and no
    transaction stays open."""
    from hallpass.reports import csv_files, lines

    monkeypatch.setattr(lines, "STREAM_BATCH", 10)
    monkeypatch.setattr(csv_files, "CHUNK_LINES", 10)
    db.session.commit()
    pool = db.engine.pool
    before = pool.checkedout()
    chunks = csv_files.report_csv(Scope(year["school"]), ReportFilter(FIRST, TODAY), "passes", NOW)
    db.session.commit()  # as the request's session does once the view has answered
    assert pool.checkedout() == before  # the first batch is read, its connection back
    read = [next(chunks), next(chunks), next(chunks)]  # the header, then two batches
    assert pool.checkedout() == before
    assert len("".join([*read, *chunks]).splitlines()) > 100


def test_the_csv_batches_are_plain_reads(db, year, monkeypatch):
    """SQLite: the batches read after the view has answered (outside its request, where a
    transaction takes the write lock) begin as plain reads, never `BEGIN IMMEDIATE`, so
    a long download never waits for, nor holds up, a writer."""
    from hallpass.reports import csv_files, lines
    from shared.database import _write_intent
    from tests.helpers import StatementCounter

    monkeypatch.setattr(lines, "STREAM_BATCH", 10)
    monkeypatch.setattr(csv_files, "CHUNK_LINES", 10)
    chunks = csv_files.report_csv(Scope(year["school"]), ReportFilter(FIRST, TODAY), "passes", NOW)
    db.session.commit()
    after_the_request = _write_intent.set(None)  # as `clear_request_write_intent` leaves it
    try:
        with StatementCounter(db.engine) as counter:
            assert len("".join(chunks).splitlines()) > 100
    finally:
        _write_intent.reset(after_the_request)
    assert [s for s in counter.statements if "hall_passes" in s]
    assert not [s for s in counter.statements if "IMMEDIATE" in s.upper()]


def test_a_figure_is_the_same_whichever_order_its_minutes_were_added_in():
    """917.15 minutes over one pass, summed two ways, one bit apart: shown as 917.1 and
    917.2 before (a PostgreSQL run of the page test above found it)."""
    from hallpass.reports.figures import Figures

    one_way, other_way = 917.15, math.nextafter(917.15, math.inf)
    assert round(one_way, 1) != round(other_way, 1)
    summed, by_day = Figures(passes=1, minutes=one_way), Figures(passes=1, minutes=other_way)
    assert summed == by_day and summed.average_minutes == by_day.average_minutes
    assert Figures(passes=0, minutes=None).minutes == 0.0

"""Hall pass reports: exact figures on a crafted history, scoping, the incident lookup,
charts and CSV exports."""

import csv
import io
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from hallpass.models import Destination, HallPass
from hallpass.reports.csv_files import csv_cell
from hallpass.reports.figures import NO_ISSUER, build_report, by_day, by_hour, by_period, totals
from hallpass.reports.lines import Window, parse_window, who_was_out
from hallpass.reports.scope import NO_PERIOD, ReportFilter, Scope, parse_filter, visible_student
from shared.errors import Forbidden, InvalidInput, NotFound
from shared.models import AuditEvent, BellPeriod, Enrollment, Room, SchoolClass, Student
from tests.helpers import audit_actions

CHICAGO = ZoneInfo("America/Chicago")
TUESDAY = date(2026, 11, 17)
WEDNESDAY = date(2026, 11, 18)
MONDAY = date(2026, 11, 16)
RANGE = {"from": "2026-11-17", "to": "2026-11-18"}


def at(day: date, hh: int, mm: int, ss: int = 0) -> datetime:
    """A local Chicago wall-clock time as UTC."""
    return datetime.combine(day, time(hh, mm, ss), tzinfo=CHICAGO).astimezone(UTC)


@pytest.fixture
def history(db, school, make_user, make_school):
    """Three students in two teachers' classes and a few passes with known numbers."""
    t1, t2 = make_user(school, "teacher", name="Tess One"), make_user(school, "teacher")
    room_a, room_b = Room(school_id=school.id, name="101"), Room(school_id=school.id, name="102")
    db.session.add_all([room_a, room_b])
    db.session.flush()
    a, b, c = (
        Student(school_id=school.id, student_number=f"10{n}", first_name=name, last_name="Doe")
        for n, name in enumerate(("Amy", "Ben", "Cal"))
    )
    restroom = Destination(school_id=school.id, name="Restroom", time_limit_minutes=5)
    nurse = Destination(school_id=school.id, name="Nurse", time_limit_minutes=15, is_nurse=True)
    db.session.add_all([a, b, c, restroom, nurse])
    db.session.flush()
    math = SchoolClass(school_id=school.id, name="Math 7", room_id=room_a.id, period="1")
    math.teachers.append(t1)
    art = SchoolClass(school_id=school.id, name="Art 7", room_id=room_b.id, period="1")
    art.teachers.append(t2)
    db.session.add_all([math, art])
    db.session.flush()
    db.session.add_all(
        [
            Enrollment(class_id=math.id, student_id=a.id),
            Enrollment(class_id=math.id, student_id=b.id),
            Enrollment(class_id=art.id, student_id=c.id),
        ]
    )
    for weekday in (0, 1, 4):
        db.session.add_all(
            [
                BellPeriod(school_id=school.id, name="1", weekday=weekday,
                           start_time=time(8), end_time=time(8, 50)),
                BellPeriod(school_id=school.id, name="2", weekday=weekday,
                           start_time=time(9), end_time=time(9, 50)),
            ]
        )  # fmt: skip

    def hall_pass(student, destination, start, end, issuer=None, room=room_a, **extra):
        p = HallPass(
            school_id=student.school_id,
            student_id=student.id,
            destination_id=destination.id,
            from_room_id=room.id if room else None,
            source="teacher" if issuer else "kiosk",
            issued_by_id=issuer.id if issuer else None,
            status="ended" if end else "active",
            started_at=start,
            ended_at=end,
            ended_by="staff" if end else None,
            time_limit_minutes=destination.time_limit_minutes,
            **extra,
        )
        db.session.add(p)
        return p

    passes = {
        1: hall_pass(a, restroom, at(TUESDAY, 8, 10), at(TUESDAY, 8, 14), t1),
        2: hall_pass(a, restroom, at(TUESDAY, 9, 5), at(TUESDAY, 9, 12), t1),  # overdue
        3: hall_pass(b, nurse, at(TUESDAY, 8, 12), at(TUESDAY, 8, 20)),
        4: hall_pass(c, restroom, at(TUESDAY, 8, 30), at(TUESDAY, 8, 35), t2, room_b),  # = limit
        5: hall_pass(c, restroom, at(WEDNESDAY, 7, 30), at(WEDNESDAY, 7, 33), t2, room_b),
        # Monday 23:30 in Chicago is Tuesday in UTC: outside the range
        "monday": hall_pass(a, nurse, at(MONDAY, 23, 30), at(MONDAY, 23, 40)),
    }  # fmt: skip
    other = make_school()
    stranger = Student(school_id=other.id, student_number="1", first_name="X", last_name="Y")
    elsewhere = Destination(school_id=other.id, name="Restroom", time_limit_minutes=1)
    db.session.add_all([stranger, elsewhere])
    db.session.flush()
    hall_pass(stranger, elsewhere, at(TUESDAY, 8, 0), at(TUESDAY, 8, 30), room=None)
    db.session.commit()
    return {
        "school": school,
        "t1": t1,
        "t2": t2,
        "students": (a, b, c),
        "stranger": stranger,
        "restroom": restroom,
        "nurse": nurse,
        "passes": passes,
        "room_a": room_a,
        "hall_pass": hall_pass,
    }


def flt(**kw) -> ReportFilter:
    return ReportFilter(first=TUESDAY, last=WEDNESDAY, **kw)


def figures(row) -> tuple:
    f = row.figures if hasattr(row, "figures") else row
    return (f.passes, round(f.minutes, 3), f.overdue)


NOW = at(WEDNESDAY, 12, 0)


# ----------------------------------------------------------------- the figures


def test_totals_and_tables_for_the_whole_school(history):
    scope = Scope(history["school"])
    report = build_report(scope, flt(), NOW)
    assert figures(report.totals) == (5, 27.0, 1) and report.totals.students == 3
    assert {r.label: figures(r) for r in report.by_destination} == {
        "Restroom": (4, 19.0, 1),
        "Nurse": (1, 8.0, 0),
    }
    assert {r.label: figures(r) for r in report.by_teacher} == {
        "Tess One": (2, 11.0, 1),
        history["t2"].name: (2, 8.0, 0),
        NO_ISSUER: (1, 8.0, 0),
    }
    assert [(r.label, figures(r)) for r in report.by_period] == [
        ("1", (3, 17.0, 0)),
        ("2", (1, 7.0, 1)),
        (NO_PERIOD, (1, 3.0, 0)),
    ]
    assert [(r.key, r.figures.passes) for r in report.by_day] == [(TUESDAY, 4), (WEDNESDAY, 1)]
    assert [(r.key, r.figures.passes) for r in report.by_hour if r.figures.passes] == [
        (7, 1),
        (8, 3),
        (9, 1),
    ]
    # most frequent: two passes each, more minutes first
    assert [r.label for r in report.by_student] == ["Doe, Amy", "Doe, Cal", "Doe, Ben"]


def test_filters_narrow_every_figure(history):
    scope = Scope(history["school"])
    a = history["students"][0]
    assert figures(totals(scope, flt(period="1"), NOW)) == (3, 17.0, 0)
    assert figures(totals(scope, flt(student_id=a.id), NOW)) == (2, 11.0, 1)
    assert figures(totals(scope, flt(destination_id=history["nurse"].id), NOW)) == (
        1,
        8.0,
        0,
    )
    assert figures(totals(scope, flt(issuer_id=history["t2"].id), NOW)) == (2, 8.0, 0)
    monday = ReportFilter(first=date(2026, 11, 16), last=date(2026, 11, 16))
    assert figures(totals(scope, monday, NOW)) == (1, 10.0, 0)  # the 23:30 pass


def test_an_active_pass_counts_to_now_and_is_overdue_past_its_limit(db, history):
    a = history["students"][1]
    history["hall_pass"](a, history["restroom"], at(WEDNESDAY, 9, 40), None)
    db.session.commit()
    scope = Scope(history["school"])
    now = at(WEDNESDAY, 9, 50)
    assert figures(totals(scope, flt(), now)) == (6, 37.0, 2)
    assert figures(totals(scope, flt(), at(WEDNESDAY, 9, 44))) == (6, 31.0, 1)


def test_a_teacher_sees_only_students_of_their_classes(history):
    scope = Scope(history["school"], teacher_id=history["t1"].id)
    assert figures(totals(scope, flt(), NOW)) == (3, 19.0, 1)
    a, _b, c = history["students"]
    assert visible_student(scope, a.id) == a
    with pytest.raises(Forbidden):
        visible_student(scope, c.id)
    with pytest.raises(NotFound):
        visible_student(scope, history["stranger"].id)
    with pytest.raises(Forbidden):
        parse_filter(scope, {"student": str(c.id)}, WEDNESDAY)


def test_local_days_hours_and_periods_across_a_daylight_saving_change(db, history):
    a = history["students"][0]
    friday, monday = date(2026, 3, 6), date(2026, 3, 9)  # CST, then CDT (from March 8)
    history["hall_pass"](a, history["restroom"], at(friday, 8, 10), at(friday, 8, 12))
    history["hall_pass"](a, history["restroom"], at(monday, 8, 10), at(monday, 8, 12))
    history["hall_pass"](a, history["restroom"], at(monday, 23, 50), at(monday, 23, 55))
    db.session.commit()
    scope = Scope(history["school"])
    march = ReportFilter(first=friday, last=monday)
    assert [(r.label, r.figures.passes) for r in by_period(scope, march, NOW)] == [
        ("1", 2),
        (NO_PERIOD, 1),
    ]
    hours = {r.key: r.figures.passes for r in by_hour(scope, march, NOW)}
    assert hours[8] == 2 and hours[23] == 1
    days = {r.key: r.figures.passes for r in by_day(scope, march, NOW)}
    assert days == {friday: 1, monday: 2}


def test_parse_filter_refuses_bad_input(history):
    scope = Scope(history["school"])
    for args in (
        {"from": "2026-13-01"},
        {"from": "2026-11-20", "to": "2026-11-01"},
        {"from": "2024-01-01", "to": "2026-01-01"},
        {"student": "abc"},
        {"period": "Lunch"},
        {"destination": "-1"},
    ):
        with pytest.raises(InvalidInput):
            parse_filter(scope, args, WEDNESDAY)
    with pytest.raises(NotFound):
        parse_filter(scope, {"student": str(history["stranger"].id)}, WEDNESDAY)
    parsed = parse_filter(scope, {}, WEDNESDAY)
    assert (parsed.first, parsed.last) == (WEDNESDAY - timedelta(days=29), WEDNESDAY)


# ------------------------------------------------------------- incident lookup


def window(history, day, start, end) -> Window:
    return parse_window(history["school"], {"day": day.isoformat(), "from": start, "to": end}, day)


def ids(overlaps, history) -> list:
    names = {id(p): n for n, p in history["passes"].items()}
    by_id = {p.id: names[id(p)] for p in history["passes"].values()}
    return [[by_id[line.pass_id] for line in o.others] for o in overlaps]


def test_who_was_out_respects_the_window_edges(history):
    scope = Scope(history["school"])
    # pass 1 ends at 08:14 exactly and pass 4 starts at 08:30 exactly: neither overlaps
    found = who_was_out(scope, window(history, TUESDAY, "08:14", "08:30"), now=NOW)
    assert ids(found, history) == [[3]]
    found = who_was_out(scope, window(history, TUESDAY, "08:13", "08:31"), now=NOW)
    assert ids(found, history) == [[1, 3, 4]]
    found = who_was_out(scope, window(history, TUESDAY, "08:21", "08:29"), now=NOW)
    assert ids(found, history) == [[]]


def test_who_was_out_with_a_student(history):
    scope = Scope(history["school"])
    a = history["students"][0]
    found = who_was_out(scope, window(history, TUESDAY, "08:00", "09:30"), student_id=a.id, now=NOW)
    assert [o.own.pass_id for o in found] == [history["passes"][1].id, history["passes"][2].id]
    assert ids(found, history) == [[3], []]  # pass 4 starts after Amy was back
    # a window cutting Amy's pass short only looks at that part of it
    found = who_was_out(scope, window(history, TUESDAY, "08:13", "08:14"), student_id=a.id, now=NOW)
    assert ids(found, history) == [[3]]


def test_who_was_out_includes_passes_still_active(db, history):
    b = history["students"][1]
    active = history["hall_pass"](b, history["nurse"], at(WEDNESDAY, 9, 40), None)
    db.session.commit()
    scope = Scope(history["school"])
    now = at(WEDNESDAY, 9, 50)
    found = who_was_out(scope, window(history, WEDNESDAY, "09:45", "10:00"), now=now)
    assert [line.pass_id for line in found[0].others] == [active.id]
    found = who_was_out(scope, window(history, WEDNESDAY, "09:51", "10:00"), now=now)
    assert found[0].others == []  # it has not been out then (yet)


def test_who_was_out_is_scoped_for_a_teacher(history):
    scope = Scope(history["school"], teacher_id=history["t2"].id)
    found = who_was_out(scope, window(history, TUESDAY, "08:00", "08:50"), now=NOW)
    assert ids(found, history) == [[4]]
    with pytest.raises(Forbidden):
        who_was_out(
            scope,
            window(history, TUESDAY, "08:00", "08:50"),
            student_id=history["students"][0].id,
            now=NOW,
        )


def test_bad_windows_are_refused(history):
    school = history["school"]
    for args in (
        {"day": "2026-11-17", "from": "10:00", "to": "09:00"},
        {"day": "2026-11-17", "from": "25:00"},
        {"day": "yesterday"},
    ):
        with pytest.raises(InvalidInput):
            parse_window(school, args, TUESDAY)
    whole_day = parse_window(school, {"day": "2026-11-17"}, TUESDAY)
    assert whole_day.end - whole_day.start == timedelta(hours=24)


# ------------------------------------------------------------- views and access


@pytest.mark.parametrize("role, status", [("admin", 200), ("office", 200), ("teacher", 200),
                                          ("staff", 403)])  # fmt: skip
def test_report_pages_by_role(client, login, history, make_user, role, status):
    login(make_user(history["school"], role))
    for path in ("/hallpass/reports", "/hallpass/reports/incident", "/hallpass/reports/export.csv"):
        assert client.get(path).status_code == status, path


def test_report_page_shows_the_figures_and_svg_charts(client, login, make_user, history):
    login(make_user(history["school"], "office"))
    page = client.get("/hallpass/reports", query_string=RANGE).get_data(as_text=True)
    assert "<svg" in page and 'class="chart-bar"' in page and "Passes per school day" in page
    assert "style=" not in page and "<script>" not in page
    assert "Doe, Amy" in page and "Restroom" in page and ">27<" in page


def test_teacher_report_leaves_out_other_students(client, login, history):
    login(history["t1"])
    page = client.get("/hallpass/reports", query_string=RANGE).get_data(as_text=True)
    assert "Doe, Amy" in page and "Doe, Cal" not in page
    c = history["students"][2]
    assert client.get(f"/hallpass/reports/students/{c.id}").status_code == 403
    assert client.get("/hallpass/reports", query_string={"student": c.id}).status_code == 403
    found = client.post("/hallpass/reports/students", data={"q": "Doe"}).get_data(as_text=True)
    assert "Doe, Amy" in found and "Doe, Cal" not in found


def test_student_history_is_audited_and_other_schools_are_404(
    db, client, login, make_user, history
):
    a = history["students"][0]
    login(make_user(history["school"], "office"))
    page = client.get(f"/hallpass/reports/students/{a.id}", query_string=RANGE)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Amy Doe" in text and "<svg" in text and "overdue" in text
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "hallpass.student_history_view")
    )
    assert event.target_type == "Student" and event.target_id == a.id
    assert event.detail == {"view": "history", "format": "html", **RANGE}
    stranger = history["stranger"]
    assert client.get(f"/hallpass/reports/students/{stranger.id}").status_code == 404
    assert client.get(f"/hallpass/reports/students/{stranger.id}/passes.csv").status_code == 404
    assert audit_actions(db).count("hallpass.student_history_view") == 1


@pytest.mark.parametrize(
    "query, status",
    [
        ({"from": "nope"}, 400),
        ({"from": "2026-11-20", "to": "2026-11-01"}, 400),
        ({"student": "x"}, 400),
        ({"period": "9"}, 400),
        ({"destination": "99999"}, 404),
        ({"kind": "secrets"}, 404),
    ],
)
def test_bad_report_queries_are_4xx(client, login, make_user, history, query, status):
    login(make_user(history["school"], "admin"))
    assert client.get("/hallpass/reports/export.csv", query_string=query).status_code == status


def test_bad_incident_queries_are_400(client, login, make_user, history):
    login(make_user(history["school"], "office"))
    for query in ({"day": "x"}, {"day": "2026-11-17", "from": "9", "to": "8"}):
        assert client.get("/hallpass/reports/incident", query_string=query).status_code == 400
    assert client.get("/hallpass/reports/incident.csv").status_code == 400


def read_csv(response) -> list[list[str]]:
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def test_the_csv_of_every_pass_is_written_a_chunk_at_a_time(db, history, monkeypatch):
    """A year of a big school is half a million passes: the lines are read and written a
    batch at a time, never all in memory, and the text is the same as in one piece."""
    from hallpass.reports import csv_files, lines

    monkeypatch.setattr(csv_files, "CHUNK_LINES", 2)
    monkeypatch.setattr(lines, "STREAM_BATCH", 2)
    scope = Scope(history["school"])
    chunks = list(csv_files.report_csv(scope, flt(), "passes", NOW))
    assert chunks[0].startswith("date,started,ended,minutes") and len(chunks) == 4
    expected = csv_files.passes_csv(history["school"], lines.pass_lines(scope, flt(), NOW))
    assert "".join(chunks) == expected and len(expected.splitlines()) == 6


def test_a_download_of_many_batches_arrives_whole(client, login, make_user, history, monkeypatch):
    """Batches are read while the file is sent, after the view has answered and the
    request's session has committed: the cursor lives on a connection of its own (on
    PostgreSQL a commit ends the cursor of its transaction: the file stopped after the
    first batch)."""
    from hallpass.reports import lines

    monkeypatch.setattr(lines, "STREAM_BATCH", 2)
    login(make_user(history["school"], "office"))
    response = client.get("/hallpass/reports/export.csv", query_string={**RANGE, "kind": "passes"})
    assert response.status_code == 200
    assert len(read_csv(response)) == 6  # the header and all 5 passes, over 3 batches


def test_the_export_reads_its_first_passes_before_the_download_starts(db, history):
    """The query runs when the export is asked for, not once the file has begun: a
    database that fails or times out is the usual clear 503, never a download cut short."""
    from hallpass.reports.csv_files import report_csv
    from tests.helpers import StatementCounter, statements

    with StatementCounter(db.engine) as counter:
        chunks = report_csv(Scope(history["school"]), flt(), "passes", NOW)
    assert [s for s in statements(counter) if "FROM hall_passes" in s]
    assert len("".join(chunks).splitlines()) == 6


def test_csv_exports(client, login, make_user, history):
    login(make_user(history["school"], "office"))
    response = client.get("/hallpass/reports/export.csv", query_string={**RANGE, "kind": "passes"})
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert "charset=utf-8" in response.headers["Content-Type"]
    rows = read_csv(response)
    assert rows[0][:4] == ["date", "started", "ended", "minutes"] and len(rows) == 6
    amy = [r for r in rows if r[6] == "Doe, Amy"]
    assert [(r[1], r[2], r[3], r[5], r[10]) for r in amy] == [
        ("09:05:00", "09:12:00", "7.0", "yes", "2"),
        ("08:10:00", "08:14:00", "4.0", "no", "1"),
    ]
    periods = read_csv(
        client.get("/hallpass/reports/export.csv", query_string={**RANGE, "kind": "periods"})
    )
    assert periods == [
        ["period", "passes", "minutes out of class", "overdue", "students"],
        ["1", "3", "17.0", "0", "3"],
        ["2", "1", "7.0", "1", "1"],
        [NO_PERIOD, "1", "3.0", "0", "1"],
    ]
    for kind in ("summary", "destinations", "teachers", "students", "days", "hours"):
        got = client.get("/hallpass/reports/export.csv", query_string={**RANGE, "kind": kind})
        assert got.status_code == 200 and len(read_csv(got)) >= 2, kind
    incident = client.get(
        "/hallpass/reports/incident.csv",
        query_string={"day": "2026-11-17", "from": "08:13", "to": "08:31"},
    )
    assert [r[0] for r in read_csv(incident)[1:]] == ["out in the window"] * 3


def test_csv_cells_cannot_become_formulas(db, client, login, make_user, history):
    evil = Student(
        school_id=history["school"].id,
        student_number="666",
        first_name="@SUM(A1)",
        last_name='=HYPERLINK("http://x")',
    )
    db.session.add(evil)
    db.session.flush()
    history["hall_pass"](evil, history["nurse"], at(TUESDAY, 9, 0), at(TUESDAY, 9, 5),
                         override_reason="+1 -1")  # fmt: skip
    history["nurse"].name = "-Nurse"
    db.session.commit()
    assert csv_cell("=1+1") == "'=1+1" and csv_cell("\t=x") == "'\t=x"
    assert csv_cell("plain") == "plain" and csv_cell(None) == ""
    login(make_user(history["school"], "office"))
    rows = read_csv(
        client.get("/hallpass/reports/export.csv", query_string={**RANGE, "kind": "passes"})
    )
    row = next(r for r in rows if "HYPERLINK" in r[6])
    assert row[6].startswith("'=HYPERLINK") and row[8] == "'-Nurse" and row[15] == "'+1 -1"
    students = read_csv(
        client.get("/hallpass/reports/export.csv", query_string={**RANGE, "kind": "students"})
    )
    assert all(not cell.startswith(("=", "+", "-", "@")) for r in students for cell in r)
    history_csv = client.get(f"/hallpass/reports/students/{evil.id}/passes.csv", query_string=RANGE)
    assert read_csv(history_csv)[1][6].startswith("'=")
    assert "hallpass.student_history_view" in audit_actions(db, target_id=evil.id)


def test_incident_page_with_a_student(db, client, login, make_user, history):
    a = history["students"][0]
    login(make_user(history["school"], "admin"))
    page = client.get(
        "/hallpass/reports/incident",
        query_string={"day": "2026-11-17", "from": "08:00", "to": "09:30", "student": a.id},
    ).get_data(as_text=True)
    assert "Amy Doe out 8:10 AM" in page and "Doe, Ben" in page and "Nurse" in page
    assert "Nobody else" in page  # Amy's second pass
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "hallpass.student_history_view")
    )
    assert event.detail["view"] == "incident"


# ---------------------------------------------------------------------- languages


def test_the_report_reads_in_the_viewers_language_with_its_times_and_counts(
    db, client, login, make_user, history
):
    office = make_user(history["school"], "office")
    login(office)
    page = client.get("/hallpass/reports", query_string=RANGE).get_data(as_text=True)
    assert "<strong>5</strong>passes" in page and "<strong>3</strong>students" in page
    assert "9:05 AM" in page and "09:05" not in page and "Tue, Nov 17, 2026" in page
    one = client.get(
        "/hallpass/reports", query_string={**RANGE, "student": history["students"][1].id}
    ).get_data(as_text=True)
    assert "<strong>1</strong>pass<" in one and "<strong>1</strong>student<" in one

    office.language = "es"
    db.session.commit()
    page = client.get("/hallpass/reports", query_string=RANGE).get_data(as_text=True)
    assert '<html lang="es">' in page and "Informes de pases" in page
    assert "<strong>5</strong>pases" in page and "Quienes más lo usan" in page
    assert "9:05 a." in page and "fuera de los periodos" in page and "quiosco" in page
    assert "<th>Salió</th><th>Regresó</th>" in page and "<th>Origen</th>" in page
    rows = read_csv(
        client.get("/hallpass/reports/export.csv", query_string={**RANGE, "kind": "passes"})
    )
    assert rows[0][:4] == ["fecha", "iniciado", "terminado", "minutos"]
    assert ("2026-11-17", "09:05:00") in [(r[0], r[1]) for r in rows[1:]]
    days = read_csv(
        client.get("/hallpass/reports/export.csv", query_string={**RANGE, "kind": "days"})
    )
    assert days[0][0] == "día" and [r[0] for r in days[1:]] == ["2026-11-17", "2026-11-18"]
    refused = client.get(
        "/hallpass/reports", query_string={"from": "2026-11-20", "to": "2026-11-01"}
    )
    assert refused.status_code == 400
    assert "La fecha de inicio es posterior a la fecha de fin." in refused.get_data(as_text=True)


def test_a_pass_gets_the_bell_period_its_start_falls_in(db, school, make_student):
    """The period of each pass, as the report's SQL reads it, against a reading in Python:
    starts on a period's first and last second, between periods, in two overlapping
    periods (the earliest starting wins) and on a day without periods."""
    from hallpass.reports.scope import matching_passes

    zone = ZoneInfo(school.timezone)
    monday = date(2026, 11, 23)
    schedule = [  # weekday, name, start, end
        (0, "1", time(8, 0), time(8, 50)),
        (0, "2", time(8, 50), time(9, 40)),
        (0, "Lunch", time(11, 30), time(12, 30)),
        (0, "Club", time(12, 0), time(13, 0)),  # overlaps Lunch
        (2, "1", time(9, 0), time(10, 0)),  # Wednesdays start later
    ]
    db.session.add_all(
        BellPeriod(school_id=school.id, weekday=w, name=n, start_time=s, end_time=e)
        for w, n, s, e in schedule
    )
    room = Room(school_id=school.id, name="101", kind="classroom")
    db.session.add(room)
    db.session.flush()
    place = Destination(school_id=school.id, name="Library", time_limit_minutes=10)
    db.session.add(place)
    db.session.flush()
    student = make_student(school)
    starts = [
        (0, time(7, 59, 59)),
        (0, time(8, 0)),
        (0, time(8, 49, 59)),
        (0, time(8, 50)),
        (0, time(9, 40)),
        (0, time(12, 15)),
        (0, time(12, 45)),
        (1, time(8, 30)),
        (2, time(8, 30)),
        (2, time(9, 0)),
        (2, time(9, 59, 59)),
    ]
    for weekday, clock in starts:
        local = datetime.combine(monday + timedelta(days=weekday), clock, zone)
        db.session.add(
            HallPass(
                school_id=school.id,
                student_id=student.id,
                destination_id=place.id,
                from_room_id=room.id,
                source="teacher",
                status="ended",
                started_at=local.astimezone(UTC),
                ended_at=local.astimezone(UTC) + timedelta(minutes=3),
                time_limit_minutes=10,
            )
        )
    db.session.commit()

    def expected(weekday: int, clock: time) -> str:
        found = sorted((s, n) for w, n, s, e in schedule if w == weekday and s <= clock < e)
        return found[0][1] if found else NO_PERIOD

    scope = Scope(school=school)
    flt = ReportFilter(monday, monday + timedelta(days=6))
    rows = matching_passes(scope, flt, NOW)
    periods = db.session.execute(
        select(rows.c.started_at, rows.c.period).order_by(rows.c.started_at)
    ).all()
    assert [p for _, p in periods] == [expected(w, c) for w, c in starts]
    assert [p for _, p in periods] == [
        "outside periods",
        "1",
        "1",
        "2",
        "outside periods",
        "Lunch",
        "Club",
        "outside periods",
        "outside periods",
        "1",
        "1",
    ]

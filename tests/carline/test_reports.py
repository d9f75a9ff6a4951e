"""Car line reports: exact timing numbers on crafted dismissals, history, CSV, the SVG chart."""

import csv
import io
import math
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from carline import reports
from carline.models import CalledStudent, Dismissal, QueueEntry
from shared.models import Family, Student
from tests.hallpass.test_views import pair

DAY = date(2026, 11, 23)
T0 = datetime(2026, 11, 23, 21, 0, tzinfo=UTC)  # 15:00 in Chicago


def craft(db, school, day=DAY, waits=(60, 120, 180, 240, 600), last_names=None, late=0):
    """A dismissal whose cars enter one a minute and are loaded after `waits` seconds."""
    dismissal = Dismissal(
        school_id=school.id,
        day=day,
        lanes=1,
        spots_per_lane=20,
        last_position=len(waits) + late,
        started_at=T0 - timedelta(minutes=1),
        ended_at=T0 + timedelta(hours=1),
    )
    db.session.add(dismissal)
    db.session.flush()
    for n in range(len(waits) + late):
        student = Student(
            school_id=school.id,
            student_number=f"{day.isoformat()}-{n}",
            first_name=f"Kid{n}",
            last_name=last_names[n] if last_names else "Crafted",
            grade="5",
        )
        family = Family(
            school_id=school.id,
            tag_number=int(day.strftime("%d")) * 100 + n + 1,
            students=[student],
        )
        db.session.add_all([student, family])
        db.session.flush()
        entered = T0 + timedelta(minutes=n)
        is_late = n >= len(waits)
        loaded = None if is_late else entered + timedelta(seconds=waits[n])
        entry = QueueEntry(
            dismissal_id=dismissal.id,
            family_id=family.id,
            position=n + 1,
            spot=n + 1,
            status="at_spot" if is_late else "loaded",
            entered_at=entered,
            at_spot_at=entered,
            loaded_at=loaded,
        )
        db.session.add(entry)
        db.session.flush()
        db.session.add(
            CalledStudent(
                dismissal_id=dismissal.id,
                queue_entry_id=entry.id,
                student_id=student.id,
                mode="car",
                status="called" if is_late else "loaded",
                called_at=entered,
                left_at=loaded,
            )
        )
    bus_kid = Student(
        school_id=school.id, student_number=f"{day}-bus", first_name="Bo", last_name="Bus"
    )
    db.session.add(bus_kid)
    db.session.flush()
    db.session.add(
        CalledStudent(
            dismissal_id=dismissal.id,
            student_id=bus_kid.id,
            mode="bus",
            bus_route="7",
            status="released",
            called_at=T0 + timedelta(minutes=2),
            left_at=T0 + timedelta(minutes=3),
        )
    )
    db.session.commit()
    return dismissal


def median(values: list[float]) -> float | None:
    """The reports' median as it was computed in Python before issue 25 (the reference)."""
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def percentile(values: list[float], p: float) -> float | None:
    """The nearest-rank p-th percentile as computed in Python before (the reference)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


def waits_in_python(db, dismissal_id: int) -> list[float]:
    """The waits the way the report read them before: every car's pair of times."""
    rows = db.session.execute(
        select(QueueEntry.entered_at, QueueEntry.loaded_at).where(
            QueueEntry.dismissal_id == dismissal_id, QueueEntry.loaded_at.is_not(None)
        )
    )
    return [max(0.0, (loaded - entered).total_seconds()) for entered, loaded in rows]


@pytest.mark.parametrize(
    "waits, middle, p90",
    [
        ((5, 1, 3), 3, 5),
        ((4, 1, 3, 2), 2.5, 4),
        (tuple(range(1, 11)), 5.5, 9),
        (tuple(range(1, 12)), 6, 10),
        ((7,), 7, 7),
        # Microseconds, and odd sums: the same floats as Python's, to the last digit.
        ((0.000001, 60.123457, 0.1, 0.2), (0.1 + 0.2) / 2, 60.123457),
    ],
)
def test_median_and_nearest_rank_percentile_in_sql(db, school, waits, middle, p90):
    dismissal = craft(db, school, waits=waits, late=1)
    stats = reports.dismissal_stats(school, dismissal)
    assert (stats.median_wait, stats.p90_wait) == (middle, p90)
    assert stats.median_wait == median(waits_in_python(db, dismissal.id))
    assert stats.p90_wait == percentile(waits_in_python(db, dismissal.id), 90)


def test_a_dismissal_with_no_car_loaded_has_no_waits(db, school):
    dismissal = craft(db, school, waits=(), late=2)
    stats = reports.dismissal_stats(school, dismissal)
    assert stats.median_wait is None and stats.p90_wait is None


def test_numbers_of_a_crafted_dismissal(db, school):
    dismissal = craft(db, school)
    stats = reports.dismissal_stats(school, dismissal)
    assert (stats.cars, stats.cars_loaded) == (5, 5)
    assert stats.median_wait == 180
    assert stats.p90_wait == 600  # ceil(0.9 * 5) = 5th shortest
    assert stats.first_call_at == T0
    # The last car entered at T0 + 4 min and waited 10 min.
    assert stats.last_loaded_at == T0 + timedelta(minutes=14)
    assert stats.duration_seconds == 14 * 60
    assert stats.cars_per_minute == pytest.approx(5 / 14)
    assert stats.called_by_mode == {"car": 5, "bus": 1, "walker": 0}
    assert stats.not_picked_up == 0


def test_even_count_and_late_pickups(db, school):
    dismissal = craft(db, school, waits=(60, 120, 180, 240), late=2)
    stats = reports.dismissal_stats(school, dismissal)
    assert (stats.cars, stats.cars_loaded) == (6, 4)
    assert stats.median_wait == 150 and stats.p90_wait == 240
    assert stats.duration_seconds == 7 * 60  # last loaded: T0 + 3 min + 4 min
    assert stats.cars_per_minute == pytest.approx(4 / 7)
    assert stats.not_picked_up == 2


def test_history_over_a_range_and_its_csv(db, school):
    craft(db, school, day=DAY)
    craft(db, school, day=DAY - timedelta(days=1), waits=(30, 90))
    craft(db, school, day=DAY - timedelta(days=40), waits=(30,))
    rows = reports.history(school, DAY - timedelta(days=29), DAY)
    assert [r.dismissal.day for r in rows] == [DAY, DAY - timedelta(days=1)]
    assert rows[1].median_wait == 60 and rows[1].p90_wait == 90
    table = list(csv.reader(io.StringIO(reports.history_csv(school, rows))))
    assert table[0][0] == "date" and len(table) == 3
    assert table[1][0] == "2026-11-23" and table[1][3] == "15:00:00"  # local time
    assert table[1][8] == "180.00" and table[1][9] == "600.00" and table[1][10] == "0.36"


def test_history_view_csv_download_and_bad_ranges(db, client, login, school, make_user):
    craft(db, school)
    login(make_user(school, "office"))
    page = client.get("/carline/reports?from=2026-11-01&to=2026-11-30").get_data(as_text=True)
    assert "2026-11-23" in page and "3:00" in page and "10:00" in page  # median, p90
    response = client.get("/carline/reports/history.csv?from=2026-11-01&to=2026-11-30")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    text = response.data.decode("utf-8")
    assert text.startswith("\ufeffdate,")
    assert client.get("/carline/reports?from=2026-12-01&to=2026-11-01").status_code == 400
    assert client.get("/carline/reports?from=yesterday").status_code == 400
    assert client.get("/carline/reports?from=2020-01-01&to=2026-01-01").status_code == 400


def test_csv_cells_never_start_a_formula():
    for bad in ("=HYPERLINK(1)", "+1", "-2+3", "@SUM(A1)", "\tx"):
        assert reports.csv_cell(bad) == "'" + bad
    assert reports.csv_cell("Ana") == "Ana" and reports.csv_cell(None) == ""
    assert reports.csv_cell(3) == "3" and reports.csv_cell(2.5) == "2.50"


def test_dismissal_page_csv_injection_guard_and_chart(db, client, login, school, make_user):
    dismissal = craft(db, school, last_names=["=cmd()", "+Plus", "-Minus", "@At", "Zoë"])
    login(make_user(school, "office"))
    page = client.get(f"/carline/reports/{dismissal.id}").get_data(as_text=True)
    assert '<svg class="chart"' in page and page.count("<polyline") == 2
    assert "style=" not in page.split('<svg class="chart"')[1].split("</svg>")[0]
    assert "Late pickups" in page
    response = client.get(f"/carline/reports/{dismissal.id}.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="dismissal-2026-11-23.csv"'
    )
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8").lstrip("\ufeff"))))
    assert rows[0][:3] == ["student", "grade", "mode"]
    names = sorted(row[0] for row in rows[1:])
    assert names == sorted(
        ["'=cmd(), Kid0", "'+Plus, Kid1", "'-Minus, Kid2", "'@At, Kid3", "Zoë, Kid4", "Bus, Bo"]
    )
    car_rows = [row for row in rows[1:] if row[2] == "car"]
    assert {row[11] for row in car_rows} == {"60.00", "120.00", "180.00", "240.00", "600.00"}


def test_timeline_counts_cumulative_calls_and_loads(db, school):
    dismissal = craft(db, school, waits=(60, 120, 180))
    data = reports.timeline(school, dismissal)
    # Cars enter at minutes 0, 1, 2 and are loaded at minutes 1, 3, 5.
    assert data.minutes == 5
    assert data.called == [1, 2, 3, 3, 3, 3]
    assert data.loaded == [0, 1, 1, 2, 2, 3]
    svg = str(reports.timeline_svg(data))
    assert svg.startswith("<svg") and "Cars called" in svg and "Cars loaded" in svg
    assert str(reports.timeline_svg(reports.Timeline(0, [], []))) == ""


def test_reports_are_for_office_and_admin_of_the_school(
    app, db, client, login, school, make_school, make_user
):
    theirs = craft(db, make_school())
    ours = craft(db, school, day=DAY - timedelta(days=1))
    login(make_user(school, "admin"))
    assert client.get(f"/carline/reports/{ours.id}").status_code == 200
    assert client.get(f"/carline/reports/{theirs.id}").status_code == 404
    assert client.get(f"/carline/reports/{theirs.id}.csv").status_code == 404
    for role in ("teacher", "staff"):
        login(make_user(school, role))
        for path in (
            "/carline/reports",
            f"/carline/reports/{ours.id}",
            "/carline/reports/history.csv",
        ):
            assert client.get(path).status_code == 403, (role, path)
    display = pair(
        app, db, school, make_user(school, "admin"), "display", room_id=None, purpose="dismissal"
    )
    assert display.get("/carline/reports").status_code == 403


def test_a_dismissal_report_reads_times_and_days_as_people_write_them(
    db, client, login, school, make_user
):
    dismissal = craft(db, school)
    login(make_user(school, "office"))
    page = client.get(f"/carline/reports/{dismissal.id}").get_data(as_text=True)
    assert "Dismissal Mon, Nov 23, 2026" in page
    assert "Started 2:59 PM, ended 4:00 PM;" in page and "1 lane of 20 spots." in page
    assert "3:00 PM to 3:14 PM" in page and "15:00" not in page
    history = client.get("/carline/reports?from=2026-11-01&to=2026-11-30").get_data(as_text=True)
    assert '<time datetime="2026-11-23">Mon, Nov 23, 2026</time>' in history


def test_the_reports_and_their_csv_headers_speak_spanish(db, client, login, school, make_user):
    dismissal = craft(db, school, late=1)
    user = make_user(school, "office")
    user.language = "es"
    db.session.commit()
    login(user)
    page = client.get(f"/carline/reports/{dismissal.id}").get_data(as_text=True)
    assert "Salida del lun, 23 de nov de 2026" in page and "Recogidas tardías" in page
    assert "Empezó a las 2:59" in page and "Espera mediana" in page
    assert "Llamado (tarjeta 2306), no lo recogieron" in page and "5 de 6" in page
    history = client.get("/carline/reports?from=2026-11-01&to=2026-11-30").get_data(as_text=True)
    assert "Informes de salida" in history and "El 90% esperó menos de" in history
    assert client.get("/carline/reports?from=2026-12-01&to=2026-11-01").status_code == 400
    refused = client.get("/carline/reports?from=2026-12-01&to=2026-11-01").get_data(as_text=True)
    assert "La fecha de inicio es posterior a la fecha de fin." in refused
    rows = list(
        csv.reader(
            io.StringIO(
                client.get(f"/carline/reports/{dismissal.id}.csv")
                .data.decode("utf-8")
                .lstrip("\ufeff")
            )
        )
    )
    assert rows[0][:3] == ["estudiante", "grado", "forma de salida"]
    assert rows[0][7] == "llamado" and rows[1][2] == "car"  # the cells keep their values
    history_csv = client.get("/carline/reports/history.csv?from=2026-11-01&to=2026-11-30")
    header = history_csv.data.decode("utf-8").lstrip("\ufeff").splitlines()[0]
    assert header.startswith("fecha,iniciado,terminado,primer llamado")
    assert "2026-11-23," in history_csv.data.decode("utf-8")

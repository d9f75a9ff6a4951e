"""`flask demo` car line history: plans, tags and weeks of past dismissals that keep every rule."""

from collections import Counter
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, func, select

from carline import reports
from carline.demo_history import SCHOOL_DAYS_OF_HISTORY, SETTINGS
from carline.dismissal import late_pickups
from carline.families import families_without_tag, tags_to_print
from carline.models import (
    Absence,
    CalledStudent,
    DailyChange,
    Dismissal,
    DismissalDefault,
    QueueEntry,
    Tag,
)
from carline.plan_lists import day_overview
from shared.demo import SCHOOL_CODE
from shared.models import Family, School, Student
from shared.schedule import school_today


@pytest.fixture
def demo(app, db):
    result = app.test_cli_runner().invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    return db.session.scalar(select(School).where(School.code == SCHOOL_CODE))


def signature(db, school):
    return db.session.execute(
        select(Dismissal.day, QueueEntry.position, Family.tag_number, QueueEntry.spot)
        .join(QueueEntry, QueueEntry.dismissal_id == Dismissal.id)
        .join(Family, Family.id == QueueEntry.family_id)
        .where(Dismissal.school_id == school.id)
        .order_by(Dismissal.day, QueueEntry.position)
    ).all()


def test_demo_has_weeks_of_ended_dismissals_that_keep_every_rule(demo, db):
    school = demo
    tz = ZoneInfo(school.timezone)
    today = datetime.now(tz).date()
    dismissals = db.session.scalars(
        select(Dismissal).where(Dismissal.school_id == school.id).order_by(Dismissal.day)
    ).all()
    assert len(dismissals) == SCHOOL_DAYS_OF_HISTORY
    assert all(d.day < today and d.day.weekday() < 5 and d.ended_at for d in dismissals)
    assert school.settings["carline"] == SETTINGS
    late_total = 0
    for d in dismissals:
        entries = db.session.scalars(
            select(QueueEntry).where(QueueEntry.dismissal_id == d.id).order_by(QueueEntry.position)
        ).all()
        assert 250 <= len(entries) <= 420
        assert [e.position for e in entries] == list(range(1, len(entries) + 1))
        assert d.last_position == len(entries)
        assert len({e.family_id for e in entries}) == len(entries)
        assert all(1 <= e.spot <= d.spot_count for e in entries)
        held = [e.spot for e in entries if e.status == "at_spot"]
        assert len(held) == len(set(held))
        for e in entries:
            assert d.started_at <= e.entered_at <= d.ended_at
            if e.status == "loaded":
                assert e.entered_at <= e.at_spot_at <= e.loaded_at <= d.ended_at
        # Cars arrive over about 25 minutes; they fill spots in arrival order.
        arrivals = [e.entered_at for e in entries if e.status == "loaded"]
        assert (arrivals[-1] - arrivals[0]).total_seconds() <= 26 * 60
        spot_times = [e.at_spot_at for e in entries if e.status == "loaded"]
        assert spot_times == sorted(spot_times)
        calls = db.session.scalars(
            select(CalledStudent).where(CalledStudent.dismissal_id == d.id)
        ).all()
        modes = Counter(c.mode for c in calls)
        assert modes["car"] > 300 and modes["bus"] > 20 and modes["walker"] > 10
        absent = set(db.session.scalars(select(Absence.student_id).where(Absence.day == d.day)))
        assert absent and not absent & {c.student_id for c in calls}
        by_entry = {e.id: e for e in entries}
        for c in calls:
            if c.mode == "car":
                assert c.queue_entry_id in by_entry
                assert (c.status == "loaded") == (by_entry[c.queue_entry_id].status == "loaded")
            else:
                assert c.status == "released" and c.queue_entry_id is None
        stats = reports.dismissal_stats(school, d)
        assert 10 <= stats.duration_seconds / 60 <= 45
        assert 30 <= stats.median_wait <= stats.p90_wait <= 20 * 60
        late_total += stats.not_picked_up
        if d == dismissals[-1]:
            late = late_pickups(d)
            assert {p.reason for p in late} <= {"called"}
            assert len(late) == stats.not_picked_up
    assert late_total > 0


def test_demo_students_have_plans_and_families_have_tags(demo, db):
    school = demo
    students = db.session.scalar(
        select(func.count(Student.id)).where(Student.school_id == school.id)
    )
    assert db.session.scalar(select(func.count(DismissalDefault.id))) == students * 5
    modes = Counter(db.session.scalars(select(DismissalDefault.mode)))
    assert set(modes) == {"car", "bus", "walker", "aftercare"}
    families = db.session.scalar(select(func.count(Family.id)))
    assert families_without_tag(school) == 0
    assert db.session.scalar(select(func.count(Tag.id))) == families
    assert len(tags_to_print(school)) == families
    today = school_today(school)
    if today.weekday() < 5:
        assert len(day_overview(school, today).changes) == 4
        assert db.session.scalar(select(func.count(DailyChange.id))) == 4


def test_demo_history_is_the_same_every_time(demo, app, db):
    school = demo
    first = signature(db, school)
    db.session.execute(delete(School).where(School.id == school.id))
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    again = db.session.scalar(select(School).where(School.code == SCHOOL_CODE))
    assert signature(db, again) == first


def test_the_history_figures_from_sql_equal_the_old_python_ones(demo, db):
    """Every dismissal of the demo's weeks of history: the median and 90th percentile the
    report computes in SQL are the very floats the old per-car pairs gave in Python."""
    from tests.carline.test_reports import median, percentile, waits_in_python

    first = db.session.scalar(select(func.min(Dismissal.day)))
    rows = reports.history(demo, first, school_today(demo))
    assert len(rows) >= 10
    for row in rows:
        waits = waits_in_python(db, row.dismissal.id)
        assert row.median_wait == median(waits)
        assert row.p90_wait == percentile(waits, 90)

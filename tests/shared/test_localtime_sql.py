"""Local time of UTC timestamps in SQL: the same local day, hour and weekday on both databases."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import literal, select

from shared.localtime_sql import LocalClock, as_date, offset_changes, seconds_between
from shared.timeutil import UTCDateTime

CHICAGO = ZoneInfo("America/Chicago")


def test_offset_changes_find_the_daylight_saving_minutes():
    start, end = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 11, 30, tzinfo=UTC)
    assert offset_changes(CHICAGO, start, end) == [
        (start, -360),
        (datetime(2026, 3, 8, 8, 0, tzinfo=UTC), -300),
        (datetime(2026, 11, 1, 7, 0, tzinfo=UTC), -360),
    ]


def test_local_clock_reads_local_day_hour_weekday_either_side_of_a_change(db):
    clock = LocalClock(
        "America/Chicago", datetime(2026, 3, 7, tzinfo=UTC), datetime(2026, 3, 10, tzinfo=UTC)
    )
    # 05:30 UTC on Sunday 8 March is still Saturday 23:30 in Chicago (UTC-6);
    # 14:30 UTC the same day is 09:30 (UTC-5 since 08:00 UTC).
    for instant, (day, hour, weekday, clock_time) in {
        datetime(2026, 3, 8, 5, 30, tzinfo=UTC): (date(2026, 3, 7), 23, 5, "23:30:00"),
        datetime(2026, 3, 8, 14, 30, tzinfo=UTC): (date(2026, 3, 8), 9, 6, "09:30:00"),
    }.items():
        column = literal(instant, UTCDateTime)
        row = db.session.execute(
            select(
                clock.day(column),
                clock.hour(column),
                clock.weekday(column),
                clock.time_of_day(column),
            )
        ).one()
        assert (as_date(row[0]), row[1], row[2], str(row[3])[:8]) == (
            day,
            hour,
            weekday,
            clock_time,
        )


def test_seconds_between_two_timestamps(db):
    start = literal(datetime(2026, 3, 8, 7, 59, tzinfo=UTC), UTCDateTime)
    end = literal(datetime(2026, 3, 8, 8, 4, 30, tzinfo=UTC), UTCDateTime)
    assert round(float(db.session.scalar(select(seconds_between(start, end))))) == 330

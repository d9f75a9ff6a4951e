"""School time: the school's wall clock, its calendar day and a day's bounds in UTC."""

from datetime import UTC, date, datetime, timedelta

from shared.schedule import school_day_bounds, school_now, school_today


def test_school_now_and_today_are_the_schools_local_clock(make_school):
    chicago = make_school(timezone="America/Chicago")
    tokyo = make_school(timezone="Asia/Tokyo")
    instant = datetime(2026, 3, 2, 3, 30, tzinfo=UTC)  # 21:30 the day before in Chicago
    assert school_now(chicago, instant).hour == 21
    assert school_now(chicago, instant).utcoffset() == timedelta(hours=-6)
    assert school_today(chicago, instant) == date(2026, 3, 1)
    assert school_today(tokyo, instant) == date(2026, 3, 2)
    # Without a time given: now, in the school's zone.
    assert school_now(tokyo).tzinfo is not None
    assert abs(school_now(tokyo) - datetime.now(UTC)) < timedelta(minutes=1)


def test_day_bounds_are_local_midnights_in_utc(make_school):
    chicago = make_school(timezone="America/Chicago")
    start, end = school_day_bounds(chicago, date(2026, 3, 2))
    assert start == datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
    assert end == datetime(2026, 3, 3, 6, 0, tzinfo=UTC)
    assert start.tzinfo == UTC and end.tzinfo == UTC


def test_day_bounds_of_an_instant_are_those_of_its_local_day(make_school):
    chicago = make_school(timezone="America/Chicago")
    late_evening = datetime(2026, 3, 3, 4, 0, tzinfo=UTC)  # 22:00 on 2 March in Chicago
    assert school_day_bounds(chicago, late_evening) == school_day_bounds(chicago, date(2026, 3, 2))


def test_day_bounds_follow_daylight_saving(make_school):
    chicago = make_school(timezone="America/Chicago")
    spring_start, spring_end = school_day_bounds(chicago, date(2026, 3, 8))
    assert spring_end - spring_start == timedelta(hours=23)
    fall_start, fall_end = school_day_bounds(chicago, date(2026, 11, 1))
    assert fall_end - fall_start == timedelta(hours=25)
    # Consecutive days meet exactly: no instant belongs to two days or to none.
    assert school_day_bounds(chicago, date(2026, 3, 9))[0] == spring_end

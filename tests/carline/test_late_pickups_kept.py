"""The late pickups of a day are counted by the one definition (`late_pickups`) when the
dismissal ends and kept on it: the reports show the day as it ended, whatever the roster
or the plans say later; a reopen forgets the count until the next end (issue 17)."""

import pytest

from carline import reports
from carline.dismissal import end_dismissal, reopen_dismissal, start_dismissal
from shared.audit import SYSTEM, Actor
from shared.schedule import school_today
from tests.carline.test_dismissal import MONDAY, enter


@pytest.fixture
def office(school, make_user):
    return make_user(school, "office")


@pytest.fixture
def dismissal(db, school, office):
    started = start_dismissal(school, Actor(user=office), 1, 2, MONDAY)
    db.session.commit()
    return started


def test_the_day_keeps_its_late_pickups_when_it_ends(
    db,
    school,
    office,
    dismissal,
    make_family,
    make_student,
):
    waiting, never = make_student(school, "Waiting"), make_student(school, "Never")
    make_family(school, 1, waiting)
    make_family(school, 2, never)
    enter(db, school, dismissal, tag_number=1)
    late = end_dismissal(school, dismissal, actor=Actor(user=office))
    db.session.commit()
    assert len(late) == 2
    assert dismissal.late_pickups == 2
    assert dismissal.late_by_reason == {"called": 1, "not_called": 1, "no_plan": 0}

    # The next week a roster import deactivates one of them: the day still says 2.
    never.active = False
    db.session.commit()
    (row,) = reports.history(school, MONDAY, MONDAY)
    assert row.not_picked_up == 2 == reports.dismissal_stats(school, dismissal).not_picked_up


def test_a_reopened_day_forgets_its_count_until_it_ends_again(
    db,
    school,
    office,
    make_family,
    make_student,
):
    make_family(school, 1, make_student(school, "Late"))
    today = start_dismissal(school, Actor(user=office), 1, 2, school_today(school))
    end_dismissal(school, today, actor=Actor(user=office))
    db.session.commit()
    assert today.late_pickups == 1
    reopen_dismissal(school, today, actor=SYSTEM)
    db.session.commit()
    assert today.late_pickups is None and today.late_by_reason is None
    assert reports.dismissal_stats(school, today).not_picked_up == 1  # counted while open
    end_dismissal(school, today, actor=SYSTEM)
    db.session.commit()
    assert today.late_pickups == 1

"""Loading a record of the caller's school, and the one rule for which rooms a caller watches."""

import pytest

from shared.access import Principal, may_watch_room, school_record, watched_room
from shared.errors import Forbidden, InvalidInput, NotFound
from shared.extensions import db
from shared.models import Device, Room, SchoolClass, Student, User, class_teachers


def test_school_record_returns_the_schools_row(school, make_student):
    kid = make_student(school)
    assert school_record(Student, kid.id, school.id) is kid
    assert school_record(Student, str(kid.id), school.id) is kid


@pytest.mark.parametrize("bad", [None, "", "abc", "-1", "0", "1.0", " ", True, 0, -5, 1.0])
def test_school_record_bad_ids_are_404(school, bad):
    with pytest.raises(NotFound) as caught:
        school_record(Student, bad, school.id)
    assert caught.value.status_code == 404


@pytest.mark.parametrize("huge", ["9" * 40, "9" * 5000, 2**31, 2**63])
def test_school_record_ids_beyond_the_column_are_400(school, huge):
    with pytest.raises(InvalidInput, match="out of range") as caught:
        school_record(Student, huge, school.id)
    assert caught.value.status_code == 400


def test_school_record_of_another_school_is_404_with_the_message(school, make_school, make_student):
    theirs = make_student(make_school())
    with pytest.raises(NotFound, match="No such student at this school"):
        school_record(Student, theirs.id, school.id, "No such student at this school.")


def test_school_record_refuses_a_model_without_a_school():
    with pytest.raises(TypeError):
        school_record(User, 1, 1)


@pytest.fixture
def rooms(school, make_school, make_room, make_user):
    taught, other = make_room(school, "101"), make_room(school, "102")
    elsewhere = make_room(make_school(), "101")
    teacher = make_user(school, "teacher")
    section = SchoolClass(school_id=school.id, name="Math 7", room_id=taught.id, period="1")
    db.session.add(section)
    db.session.flush()
    db.session.execute(class_teachers.insert().values(class_id=section.id, user_id=teacher.id))
    db.session.commit()
    return {"taught": taught, "other": other, "elsewhere": elsewhere, "teacher": teacher}


def _staff(school, user, *roles) -> Principal:
    return Principal(school=school, user=user, roles=frozenset(roles))


def _device(school, room: Room | None, kind="classroom-display") -> Principal:
    device = Device(
        school_id=school.id,
        kind=kind,
        label="Display",
        room_id=room.id if room else None,
        secret_hash=f"{kind}{room.id if room else 0}".ljust(64, "x"),
    )
    db.session.add(device)
    db.session.commit()
    return Principal(school=school, device=device)


def _watchable(principal, rooms) -> dict[str, bool]:
    return {name: may_watch_room(rooms[name], principal) for name in ("taught", "other")}


def test_office_and_admin_watch_every_room_of_their_school(school, rooms, make_user):
    for role in ("office", "admin"):
        principal = _staff(school, make_user(school, role), role)
        assert _watchable(principal, rooms) == {"taught": True, "other": True}
        assert not may_watch_room(rooms["elsewhere"], principal)
        assert watched_room(rooms["other"].id, principal) == rooms["other"]


def test_teachers_watch_only_the_rooms_they_teach_in(school, rooms):
    principal = _staff(school, rooms["teacher"], "teacher")
    assert _watchable(principal, rooms) == {"taught": True, "other": False}
    assert watched_room(str(rooms["taught"].id), principal) == rooms["taught"]
    with pytest.raises(Forbidden):
        watched_room(rooms["other"].id, principal)


def test_a_device_watches_only_its_own_room(school, rooms):
    display = _device(school, rooms["other"])
    assert _watchable(display, rooms) == {"taught": False, "other": True}
    with pytest.raises(Forbidden):
        watched_room(rooms["taught"].id, display)
    unbound = _device(school, None, kind="display")
    assert _watchable(unbound, rooms) == {"taught": False, "other": False}


def test_another_schools_room_and_bad_ids_are_404_for_everyone(school, rooms, make_user):
    office = _staff(school, make_user(school, "office"), "office")
    for bad in (rooms["elsewhere"].id, None, "x", 0):
        with pytest.raises(NotFound):
            watched_room(bad, office)

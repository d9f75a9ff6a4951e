"""One actor convention: services are told who acts; the audit log records just that."""

from flask import g
from sqlalchemy import select

from shared import audit
from shared.access import Principal
from shared.audit import SYSTEM, Actor, current_actor
from shared.extensions import db
from shared.models import AuditEvent, Device


def _device(school) -> Device:
    device = Device(school_id=school.id, kind="kiosk", label="Room 101", secret_hash="k" * 64)
    db.session.add(device)
    db.session.commit()
    return device


def test_labels(school, make_user):
    user = make_user(school, "teacher", email="t@example.org")
    device = _device(school)
    assert Actor(user=user).audit_label == "t@example.org"
    assert Actor(user=user, device=device).audit_label == "t@example.org"
    assert Actor(device=device).audit_label == "device: Room 101"
    assert Actor().audit_label == "anonymous"
    assert SYSTEM.audit_label == "system"


def test_outside_a_request_the_actor_is_the_system(app, school):
    assert current_actor() == SYSTEM
    event = audit.record("x.job", school_id=school.id)
    assert (event.actor_label, event.actor_user_id, event.actor_device_id) == ("system", None, None)


def test_in_a_request_the_actor_is_the_principal(app, school, make_user):
    user = make_user(school, "office")
    device = _device(school)
    with app.test_request_context("/"):
        assert current_actor() == Actor()  # nobody signed in: an anonymous student's phone
        g.principal = Principal(school=school, device=device)
        assert current_actor() == Actor(device=device)
        event = audit.record("x.kiosk")
        assert event.school_id == school.id and event.actor_device_id == device.id
        g.principal = Principal(school=school, user=user, roles=frozenset({"office"}))
        assert current_actor() == Actor(user=user)


def test_an_explicit_actor_wins_over_the_request(app, school, make_user):
    teacher, office = make_user(school, "teacher"), make_user(school, "office")
    with app.test_request_context("/"):
        g.principal = Principal(school=school, user=office, roles=frozenset({"office"}))
        audit.record("x.told", actor=Actor(user=teacher))
        audit.record("x.job", actor=SYSTEM)
        db.session.commit()
    rows = db.session.execute(
        select(AuditEvent.action, AuditEvent.actor_user_id, AuditEvent.actor_label).order_by(
            AuditEvent.id
        )
    ).all()
    assert [tuple(r) for r in rows] == [
        ("x.told", teacher.id, teacher.email),
        ("x.job", None, "system"),
    ]

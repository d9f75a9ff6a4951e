"""The audit log is append-only, enforced by the database."""

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import DatabaseError

from shared import audit
from shared.models import AuditEvent


def test_audit_events_cannot_be_changed(db, school):
    audit.record("test.event", school_id=school.id, detail={"n": 1})
    db.session.commit()
    with pytest.raises(DatabaseError, match="append-only"):
        db.session.execute(update(AuditEvent).values(action="test.rewritten"))
        db.session.flush()
    db.session.rollback()
    assert db.session.scalar(select(AuditEvent.action)) == "test.event"


def test_secrets_never_reach_the_detail(db, school):
    event = audit.record(
        "test.event",
        school_id=school.id,
        detail={"password": "hunter2hunter2", "token": "abc", "code": "X", "kept": 1},
    )
    assert event.detail == {"kept": 1}
    assert event.actor_label == "system"


def test_a_read_request_that_audits_and_then_queries_still_commits(app, db, school):
    """GET requests skip the empty COMMIT, but an audit event flushed by a later query counts."""
    from shared.database import has_writes

    db.session.commit()
    assert not has_writes(db.session())
    db.session.scalars(select(AuditEvent)).all()
    assert not has_writes(db.session()), "a read alone is not a write"
    audit.record("student.history_view", school_id=school.id, actor_label="t")
    db.session.scalars(select(AuditEvent)).all()  # autoflush: the event is no longer "new"
    assert not db.session.new
    assert has_writes(db.session())
    db.session.commit()
    assert not has_writes(db.session())

"""Retention: how long each school keeps its history (hall passes, dismissals...) and audit log.

The blueprints contribute their periods and what each deletes (`RetentionPeriod`,
`RetentionRule` in shared/contributions.py); the audit log's period and the emergency
events' (their roll goes with them) are the core's own.
Each school sets its periods (in days) on the Privacy page; `flask purge` (safe to run
from cron, daily) deletes what is older, school by school, and records a
`retention.purge` audit event per school with the counts. The page shows the policy and
that event, so "when did it last run" is answered from the audit log itself.

It deletes in batches (`BATCH_ROWS` rows by primary key per statement, each batch its own
short transaction), the rows the database would delete with them (ON DELETE CASCADE)
first, so no statement holds its locks, or a core, for long: one DELETE of a district's
month took minutes (docs/performance.md, issue 25). A purge stopped halfway has deleted
only rows that were due; the next run deletes the rest. A dry run counts the same rows
with one statement per kind and writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Delete,
    Table,
    any_,
    delete,
    func,
    literal,
    select,
    text,
)

from shared import audit
from shared.contributions import Cutoff, RetentionPeriod, RetentionRule, contributions
from shared.emergency_models import EmergencyEvent
from shared.errors import InvalidInput
from shared.extensions import db
from shared.models import (
    AccountLink,
    AuditEvent,
    FamilyCode,
    GuardianSession,
    OutboxMail,
    School,
    Student,
    SubstituteAssignment,
    UserSession,
)
from shared.timeutil import local, utcnow

AUDIT_PERIOD = RetentionPeriod("audit_days", lazy_gettext("Audit log"), 3 * 365)
#: Emergency events and drills, with their roll (the core's, like the audit log).
EMERGENCY_PERIOD = RetentionPeriod(
    "emergency_days", lazy_gettext("Emergency events and drills"), 3 * 365
)
MIN_DAYS, MAX_DAYS = 30, 10 * 365
#: Ended (or long expired) sign-in sessions are kept this long, for investigations.
SESSION_DAYS = 30
PURGE_ACTION = "retention.purge"
#: Rows one statement of the purge deletes (by primary key), each batch committed alone.
BATCH_ROWS = 5000


def periods() -> list[RetentionPeriod]:
    """The periods a school chooses: the blueprints' (in their order), then the audit log's."""
    return [*contributions().retention_periods, EMERGENCY_PERIOD, AUDIT_PERIOD]


def _rules() -> list[RetentionRule]:
    audit_rule = RetentionRule(
        "audit_events",
        AUDIT_PERIOD.key,
        lambda school, cutoff: delete(AuditEvent).where(
            AuditEvent.school_id == school.id, AuditEvent.at < cutoff.at
        ),
    )
    emergency_rule = RetentionRule(
        "emergency_events",
        EMERGENCY_PERIOD.key,
        lambda school, cutoff: delete(EmergencyEvent).where(
            EmergencyEvent.school_id == school.id, EmergencyEvent.ended_at < cutoff.at
        ),
    )
    # A substitute's day names who acted in the audit log: it is kept as long as the log.
    substitute_rule = RetentionRule(
        "substitute_assignments",
        AUDIT_PERIOD.key,
        lambda school, cutoff: delete(SubstituteAssignment).where(
            SubstituteAssignment.school_id == school.id, SubstituteAssignment.expires_at < cutoff.at
        ),
    )
    return [*contributions().retention_rules, emergency_rule, substitute_rule, audit_rule]


def policy(school: School) -> dict[str, int]:
    """The school's retention periods in days (defaults where it set none)."""
    chosen = (school.settings or {}).get("retention", {})
    return {p.key: int(chosen.get(p.key, p.default_days)) for p in periods()}


def set_policy(school: School, form: dict[str, str]) -> dict[str, int]:
    """Validate and save the school's retention periods (audited with before and after)."""
    new = {}
    for period in periods():
        raw = (form.get(period.key) or "").strip()
        if not (raw.isascii() and raw.isdigit()) or not MIN_DAYS <= int(raw) <= MAX_DAYS:
            raise InvalidInput(
                _(
                    "%(period)s: a number of days from %(min)d to %(max)d.",
                    period=period.label,
                    min=MIN_DAYS,
                    max=MAX_DAYS,
                ),
                field=period.key,
            )
        new[period.key] = int(raw)
    before = policy(school)
    school.settings = {**(school.settings or {}), "retention": new}
    audit.record("retention.update", target=school, detail={"before": before, "after": new})
    return new


def last_purge(school: School) -> AuditEvent | None:
    """The newest purge of this school, from the audit log."""
    return db.session.scalar(
        select(AuditEvent)
        .where(AuditEvent.school_id == school.id, AuditEvent.action == PURGE_ACTION)
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .limit(1)
    )


def student_ids(school: School):
    """The ids of the school's students, for rules on tables without a school column."""
    return select(Student.id).where(Student.school_id == school.id)


def _cascading_children(table: Table) -> list[tuple[Table, ColumnElement]]:
    """The tables whose rows the database deletes with a row of `table` (a one-column
    foreign key ON DELETE CASCADE), each with its referencing column."""
    children = []
    for other in db.metadata.sorted_tables:
        for constraint in other.foreign_key_constraints:
            if (
                other is not table
                and constraint.referred_table is table
                and (constraint.ondelete or "").upper() == "CASCADE"
                and len(constraint.elements) == 1
            ):
                children.append((other, constraint.elements[0].parent))
    return children


def _delete_in_batches(table: Table, where: ColumnElement, batch: int) -> int:
    """Delete the rows of `table` matching `where`, `batch` rows by primary key per
    statement, each batch committed; the rows that would cascade from a batch go first,
    in batches too, so no statement deletes more than `batch` rows. Returns how many rows
    of `table` itself were deleted."""
    table = db.metadata.tables[table.name]  # not an ORM statement's annotated copy
    key = list(table.primary_key.columns)
    if len(key) != 1:  # none of the purge's tables today: one statement
        deleted = db.session.execute(delete(table).where(where)).rowcount
        db.session.commit()
        return deleted
    (pk,) = key
    children = _cascading_children(table)
    deleted = 0
    while True:
        keys = db.session.scalars(select(pk).where(where).limit(batch)).all()
        if keys:
            for child, column in children:
                # A batch's children are found by their foreign key's index from the keys
                # themselves: a subquery of a subquery with a LIMIT was planned as a scan
                # of the whole child table (0.5 s a batch on the district's calls).
                _delete_in_batches(child, _one_of(column, keys), batch)
            _commit_without_waiting_for_disk()
            statement = delete(table).where(_one_of(pk, keys))
            deleted += db.session.execute(
                statement.execution_options(synchronize_session=False)
            ).rowcount
        db.session.commit()
        if len(keys) < batch:
            return deleted


def _commit_without_waiting_for_disk() -> None:
    """PostgreSQL: this transaction's commit does not wait for its flush to disk. A purge
    batch lost in a crash is deleted again by the next run, and a flush per batch was
    a large part of the district's purge (53 s to 35 s in process)."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("SET LOCAL synchronous_commit = off"))


def _one_of(column: ColumnElement, keys: list[int]) -> ColumnElement:
    """`column` is one of `keys`: on PostgreSQL `= ANY(array)`, one parameter (as 5,000
    parameters the statement took longer to plan than to run); on SQLite `IN (...)`."""
    if db.engine.dialect.name == "postgresql":
        return column == any_(literal(keys, ARRAY(column.type)))
    return column.in_(keys)


def _delete_or_count(statement: Delete, dry_run: bool, batch: int | None = None) -> int:
    """Run a purge's DELETE in batches (each committed), or for a dry run count the rows
    it would delete (no writes)."""
    if dry_run:
        count = select(func.count()).select_from(statement.table).where(statement.whereclause)
        return db.session.scalar(count)
    return _delete_in_batches(statement.table, statement.whereclause, batch or BATCH_ROWS)


def purge_school(
    school: School,
    now: datetime | None = None,
    *,
    dry_run: bool = False,
    batch: int | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> dict[str, int]:
    """Delete this school's records older than its retention periods, in batches of
    `batch` rows (default BATCH_ROWS), each committed; returns the counts, after telling
    `progress` each kind's count as it is done. The audit event with the counts comes
    last (the caller commits it).

    A dry run counts the same rows and writes nothing (not even the audit event).
    """
    now = now or utcnow()
    days = policy(school)
    today = local(now, school.timezone).date()
    cutoffs = {
        key: Cutoff(at=now - timedelta(days=n), day=today - timedelta(days=n))
        for key, n in days.items()
    }
    school_id = school.id  # each batch's commit expires `school`
    counts = {}
    for rule in _rules():
        statement = rule.delete(school, cutoffs[rule.period])
        counts[rule.name] = _delete_or_count(statement, dry_run, batch)
        if progress is not None:
            progress(rule.name, counts[rule.name])
    if dry_run:
        return counts
    audit.record(
        PURGE_ACTION,
        school_id=school_id,
        target=school,
        detail={"deleted": counts, "policy_days": days},
        actor_label="system",
    )
    return counts


def purge_sessions(
    now: datetime | None = None, *, dry_run: bool = False, batch: int | None = None
) -> int:
    """Delete sign-in sessions that ended (or began) more than SESSION_DAYS ago, and
    guardians' family-page sessions that ended that long ago (open ones last months),
    and family codes revoked that long ago."""
    cutoff = (now or utcnow()) - timedelta(days=SESSION_DAYS)
    statements = (
        delete(UserSession).where(
            (UserSession.ended_at < cutoff) | (UserSession.created_at < cutoff)
        ),
        delete(GuardianSession).where(
            (GuardianSession.ended_at < cutoff)
            | (GuardianSession.created_at < cutoff - timedelta(days=_family_session_days()))
        ),
        # Family codes of letters home: a revoked one signs nobody in any more.
        delete(FamilyCode).where(FamilyCode.revoked_at < cutoff),
    )
    return sum(_delete_or_count(statement, dry_run, batch) for statement in statements)


def _family_session_days() -> int:
    return int(current_app.config.get("FAMILY_SESSION_DAYS", 180))


def purge_account_mail(
    now: datetime | None = None, *, dry_run: bool = False, batch: int | None = None
) -> int:
    """Delete mails sent or given up, and links used or expired, SESSION_DAYS ago or more."""
    cutoff = (now or utcnow()) - timedelta(days=SESSION_DAYS)
    statements = (
        delete(OutboxMail).where((OutboxMail.sent_at < cutoff) | (OutboxMail.failed_at < cutoff)),
        delete(AccountLink).where(
            (AccountLink.used_at < cutoff) | (AccountLink.expires_at < cutoff)
        ),
    )
    return sum(_delete_or_count(statement, dry_run, batch) for statement in statements)

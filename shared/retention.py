"""Retention: how long each school keeps its history (hall passes, dismissals...) and audit log.

The blueprints contribute their periods and what each deletes (`RetentionPeriod`,
`RetentionRule` in shared/contributions.py); the audit log's period and the emergency
events' (their roll goes with them) are the core's own.
Each school sets its periods (in days) on the Privacy page; `flask purge` (safe to run
from cron, daily) deletes what is older, school by school, in one transaction each, and
records a `retention.purge` audit event with the counts. The page shows the policy and
that event, so "when did it last run" is answered from the audit log itself.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import Delete, delete, func, select

from shared import audit
from shared.contributions import Cutoff, RetentionPeriod, RetentionRule, contributions
from shared.emergency_models import EmergencyEvent
from shared.errors import InvalidInput
from shared.extensions import db
from shared.models import (
    AccountLink,
    AuditEvent,
    GuardianSession,
    OutboxMail,
    School,
    Student,
    UserSession,
)
from shared.timeutil import local, utcnow

AUDIT_PERIOD = RetentionPeriod("audit_days", "Audit log", 3 * 365)
#: Emergency events and drills, with their roll (the core's, like the audit log).
EMERGENCY_PERIOD = RetentionPeriod("emergency_days", "Emergency events and drills", 3 * 365)
MIN_DAYS, MAX_DAYS = 30, 10 * 365
#: Ended (or long expired) sign-in sessions are kept this long, for investigations.
SESSION_DAYS = 30
PURGE_ACTION = "retention.purge"


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
    return [*contributions().retention_rules, emergency_rule, audit_rule]


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
                f"{period.label}: a number of days from {MIN_DAYS} to {MAX_DAYS}.", field=period.key
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


def _delete_or_count(statement: Delete, dry_run: bool) -> int:
    """Run a purge's DELETE, or for a dry run count the rows it would delete (no writes)."""
    if dry_run:
        count = select(func.count()).select_from(statement.table).where(statement.whereclause)
        return db.session.scalar(count)
    return db.session.execute(statement.execution_options(synchronize_session=False)).rowcount


def purge_school(
    school: School, now: datetime | None = None, *, dry_run: bool = False
) -> dict[str, int]:
    """Delete this school's records older than its retention periods; returns the counts.

    A dry run counts the same rows and writes nothing (not even the audit event).
    """
    now = now or utcnow()
    days = policy(school)
    today = local(now, school.timezone).date()
    cutoffs = {
        key: Cutoff(at=now - timedelta(days=n), day=today - timedelta(days=n))
        for key, n in days.items()
    }
    statements = {rule.name: rule.delete(school, cutoffs[rule.period]) for rule in _rules()}
    counts = {name: _delete_or_count(statement, dry_run) for name, statement in statements.items()}
    if dry_run:
        return counts
    audit.record(
        PURGE_ACTION,
        school_id=school.id,
        target=school,
        detail={"deleted": counts, "policy_days": days},
        actor_label="system",
    )
    return counts


def purge_sessions(now: datetime | None = None, *, dry_run: bool = False) -> int:
    """Delete sign-in sessions that ended (or began) more than SESSION_DAYS ago, and
    guardians' family-page sessions that ended that long ago (open ones last months)."""
    cutoff = (now or utcnow()) - timedelta(days=SESSION_DAYS)
    statements = (
        delete(UserSession).where(
            (UserSession.ended_at < cutoff) | (UserSession.created_at < cutoff)
        ),
        delete(GuardianSession).where(
            (GuardianSession.ended_at < cutoff)
            | (GuardianSession.created_at < cutoff - timedelta(days=_family_session_days()))
        ),
    )
    return sum(_delete_or_count(statement, dry_run) for statement in statements)


def _family_session_days() -> int:
    return int(current_app.config.get("FAMILY_SESSION_DAYS", 180))


def purge_account_mail(now: datetime | None = None, *, dry_run: bool = False) -> int:
    """Delete mails sent or given up, and links used or expired, SESSION_DAYS ago or more."""
    cutoff = (now or utcnow()) - timedelta(days=SESSION_DAYS)
    statements = (
        delete(OutboxMail).where((OutboxMail.sent_at < cutoff) | (OutboxMail.failed_at < cutoff)),
        delete(AccountLink).where(
            (AccountLink.used_at < cutoff) | (AccountLink.expires_at < cutoff)
        ),
    )
    return sum(_delete_or_count(statement, dry_run) for statement in statements)

"""Hall pass housekeeping: end overrun passes and expire stale requests.

Run by cron (`flask hallpass end-overrun`) and the housekeeping thread, as "system".
Both are idempotent and safe from several processes at once. Each takes the lock of
every school it will touch first, in ascending school id (the lock order in `rules`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select, update

from hallpass import passes, rules, wait_line
from hallpass.models import (
    HallPass,
    HallpassPolicy,
    PassRequest,
)
from shared import audit
from shared.extensions import db
from shared.models import BellPeriod, School
from shared.timeutil import utcnow


def expire_requests(now: datetime | None = None, *, school_id: int | None = None) -> int:
    """Housekeeping: held places nobody used go on; unanswered requests expire.

    Also hands free places to wait lines that did not move (a capacity raised, the
    building cap freed elsewhere). Idempotent; safe from several processes at once.
    """
    now = now or utcnow()
    query = select(PassRequest).where(
        or_(
            and_(
                PassRequest.status == "ready",
                PassRequest.ready_at < now - timedelta(minutes=wait_line.READY_HOLD_MINUTES),
            ),
            and_(
                PassRequest.status.in_(("pending", "waiting")),
                PassRequest.created_at < now - timedelta(minutes=wait_line.REQUEST_OPEN_MINUTES),
            ),
        )
    )
    if school_id is not None:
        query = query.where(PassRequest.school_id == school_id)
    changed = 0
    schools: dict[int, School] = {}

    def school_of(sid: int) -> School:
        if sid not in schools:
            schools[sid] = db.session.get(School, sid)
        return schools[sid]

    open_in = select(PassRequest.school_id).where(PassRequest.status.in_(rules.OPEN))
    if school_id is not None:
        open_in = open_in.where(PassRequest.school_id == school_id)
    for sid in sorted(db.session.scalars(open_in.distinct())):
        rules.lock_school(school_of(sid))  # every school's lock first, in ascending id
    for pass_request in db.session.scalars(query.order_by(PassRequest.id)).all():
        school = school_of(pass_request.school_id)
        if wait_line.close_request(school, pass_request, "expired", now=now):
            changed += 1
            audit.record(
                "hallpass.request_expire",
                school_id=school.id,
                target=pass_request,
                actor_label="system",
            )
    lines = select(PassRequest.school_id, PassRequest.destination_id).where(
        PassRequest.status == "waiting"
    )
    if school_id is not None:
        lines = lines.where(PassRequest.school_id == school_id)
    for line_school_id, destination_id in db.session.execute(lines.distinct()).all():
        changed += wait_line.advance_wait_line(school_of(line_school_id), destination_id, now)
    return changed


# ------------------------------------------------------------------- automatic end


def _period_end(school: School, periods: list[BellPeriod], started_at: datetime) -> datetime | None:
    """End (UTC-aware) of the bell period a pass started in, if it started in one."""
    tz = ZoneInfo(school.timezone)
    started = started_at.astimezone(tz)
    wall = started.time().replace(tzinfo=None)
    for period in periods:
        if period.weekday == started.weekday() and period.start_time <= wall < period.end_time:
            return datetime.combine(started.date(), period.end_time, tzinfo=tz)
    return None


def overrun_reason(
    school: School,
    policy: HallpassPolicy | None,
    periods: list[BellPeriod],
    hall_pass: HallPass,
    now: datetime,
) -> str | None:
    """Why the system should end this pass now: "period_end", "max_duration", "day_end"."""
    period_end = _period_end(school, periods, hall_pass.started_at)
    if period_end is not None and now >= period_end:
        return "period_end"
    limit = policy.max_pass_minutes if policy is not None else None
    if limit and now - hall_pass.started_at >= timedelta(minutes=limit):
        return "max_duration"
    tz = ZoneInfo(school.timezone)
    if hall_pass.started_at.astimezone(tz).date() < now.astimezone(tz).date():
        return "day_end"
    return None


def end_overrun_passes(now: datetime | None = None, *, school_id: int | None = None) -> int:
    """End active passes past their period's end or the maximum duration, as "system".

    Places are released exactly as `passes.end_pass` does, wait lines move on, each end is
    audited (actor "system") and the live topics bumped. The passes are claimed by one
    conditional UPDATE (`status = 'active'`), so runs from several processes at once end
    each pass once. A pass that started on an earlier school day always ends. Returns
    how many passes this call ended.
    """
    now = now or utcnow()
    query = select(HallPass).where(HallPass.status == "active")
    if school_id is not None:
        query = query.where(HallPass.school_id == school_id)
    reasons: dict[int, str] = {}
    to_end: list[HallPass] = []
    schools: dict[int, tuple[School, HallpassPolicy | None, list[BellPeriod]]] = {}
    for hall_pass in db.session.scalars(query.order_by(HallPass.id)).all():
        if hall_pass.school_id not in schools:
            school = db.session.get(School, hall_pass.school_id)
            periods = list(
                db.session.scalars(select(BellPeriod).where(BellPeriod.school_id == school.id))
            )
            schools[school.id] = (school, db.session.get(HallpassPolicy, school.id), periods)
        school, policy, periods = schools[hall_pass.school_id]
        reason = overrun_reason(school, policy, periods, hall_pass, now)
        if reason is not None:
            reasons[hall_pass.id] = reason
            to_end.append(hall_pass)
    if not reasons:
        return 0
    for sid in sorted({p.school_id for p in to_end}):
        rules.lock_school(schools[sid][0])  # before the passes' rows, in ascending id
    ended_ids = (
        db.session.execute(
            update(HallPass)
            .where(HallPass.id.in_(sorted(reasons)), HallPass.status == "active")
            .values(status="ended", ended_at=now, ended_by="system")
            .returning(HallPass.id)
            .execution_options(synchronize_session=False)
        )
        .scalars()
        .all()
    )
    for pass_id in sorted(ended_ids):
        hall_pass = db.session.get(HallPass, pass_id)
        db.session.refresh(hall_pass)
        school = schools[hall_pass.school_id][0]
        passes.after_end(school, hall_pass, now)
        audit.record(
            "hallpass.end",
            school_id=school.id,
            target=hall_pass,
            detail={"ended_by": "system", "reason": reasons[pass_id]},
            actor_label="system",
        )
    return len(ended_ids)

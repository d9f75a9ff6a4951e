"""Throttling of failed sign-ins, per account and per client address, across processes.

After `LOGIN_FAILURES_PER_ACCOUNT` failures for one email address (or
`LOGIN_FAILURES_PER_ADDRESS` from one client address, higher because a whole school
may share one address) within `LOGIN_THROTTLE_MINUTES`, sign-in is refused with 429
until the window ends. The counts live in Redis when `REDIS_URL` is set, else in the
database (`login_throttles`), so every worker and server sees the same numbers. Keys
are hashes: no email address is stored by the limiter.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import case, delete, literal, select

from shared.database import upsert_insert
from shared.extensions import db
from shared.models import LoginThrottle
from shared.timeutil import utcnow


@dataclass(frozen=True)
class Limit:
    key: str
    max_failures: int


def login_limits(email: str, address: str | None) -> list[Limit]:
    """The limits a sign-in attempt counts against."""
    config = current_app.config
    account = hashlib.sha256(email.strip().lower().encode()).hexdigest()
    limits = [Limit(f"account:{account}", config["LOGIN_FAILURES_PER_ACCOUNT"])]
    if address:
        client = hashlib.sha256(address.encode()).hexdigest()
        limits.append(Limit(f"address:{client}", config["LOGIN_FAILURES_PER_ADDRESS"]))
    return limits


def _window() -> timedelta:
    return timedelta(minutes=current_app.config["LOGIN_THROTTLE_MINUTES"])


class DatabaseLimiter:
    """Counters in the `login_throttles` table: one atomic upsert per failure."""

    def retry_after(self, limits: list[Limit], now: datetime) -> int | None:
        rows = db.session.execute(
            select(LoginThrottle).where(LoginThrottle.key.in_([lim.key for lim in limits]))
        ).scalars()
        by_key = {row.key: row for row in rows}
        waits = []
        for limit in limits:
            row = by_key.get(limit.key)
            if row is None or row.failures < limit.max_failures:
                continue
            left = row.window_started_at + _window() - now
            if left.total_seconds() > 0:
                waits.append(math.ceil(left.total_seconds()))
        return max(waits) if waits else None

    def fail(self, limits: list[Limit], now: datetime) -> None:
        insert = upsert_insert(db.session.get_bind().dialect.name)
        stale = LoginThrottle.window_started_at <= now - _window()
        for limit in limits:
            statement = insert(LoginThrottle).values(
                key=limit.key, window_started_at=now, failures=1
            )
            statement = statement.on_conflict_do_update(
                index_elements=[LoginThrottle.key],
                set_={
                    "failures": case((stale, 1), else_=LoginThrottle.failures + 1),
                    "window_started_at": case(
                        (stale, literal(now, LoginThrottle.window_started_at.type)),
                        else_=LoginThrottle.window_started_at,
                    ),
                },
            )
            db.session.execute(statement)

    def clear(self, limits: list[Limit]) -> None:
        db.session.execute(
            delete(LoginThrottle).where(LoginThrottle.key.in_([lim.key for lim in limits]))
        )


class RedisLimiter:
    """Counters in Redis: INCR with an expiry set by the first failure of a window."""

    PREFIX = "passline:login:"

    def __init__(self, url: str):
        import redis

        self.redis = redis.Redis.from_url(url, socket_timeout=2)

    def retry_after(self, limits: list[Limit], now: datetime) -> int | None:
        pipe = self.redis.pipeline()
        for limit in limits:
            pipe.get(self.PREFIX + limit.key)
            pipe.ttl(self.PREFIX + limit.key)
        answers = pipe.execute()
        waits = [
            max(int(ttl), 1)
            for limit, count, ttl in zip(limits, answers[::2], answers[1::2], strict=True)
            if count is not None and int(count) >= limit.max_failures
        ]
        return max(waits) if waits else None

    def fail(self, limits: list[Limit], now: datetime) -> None:
        seconds = int(_window().total_seconds())
        pipe = self.redis.pipeline()
        for limit in limits:
            pipe.incr(self.PREFIX + limit.key)
            pipe.expire(self.PREFIX + limit.key, seconds, nx=True)
        pipe.execute()

    def clear(self, limits: list[Limit]) -> None:
        self.redis.delete(*(self.PREFIX + limit.key for limit in limits))


def limiter() -> DatabaseLimiter | RedisLimiter:
    """Redis when configured, else the database (one limiter per app)."""
    app = current_app._get_current_object()
    existing = app.extensions.get("passline_limiter")
    if existing is None:
        url = app.config.get("REDIS_URL")
        existing = RedisLimiter(url) if url else DatabaseLimiter()
        app.extensions["passline_limiter"] = existing
    return existing


def sign_in_retry_after(email: str, address: str | None) -> int | None:
    """Seconds until this sign-in may be tried again, or None if it may be tried now."""
    return limiter().retry_after(login_limits(email, address), utcnow())


def record_failed_sign_in(email: str, address: str | None) -> None:
    """Count a failed sign-in against the account and the client address."""
    limiter().fail(login_limits(email, address), utcnow())


def clear_account(email: str) -> None:
    """A successful sign-in clears the account's count (not the address's)."""
    limiter().clear(login_limits(email, None))

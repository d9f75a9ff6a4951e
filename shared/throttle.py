"""Throttling of failed sign-ins, per account and per client address, across processes.

After `LOGIN_FAILURES_PER_ACCOUNT` failures for one email address (or
`LOGIN_FAILURES_PER_ADDRESS` from one client address, higher because a whole school
may share one address) within `LOGIN_THROTTLE_MINUTES`, sign-in is refused with 429
until the window ends. The counts live in Redis when `REDIS_URL` is set, else in the
database (`login_throttles`), so every worker and server sees the same numbers. Keys
are hashes: no email address is stored by the limiter.

A limit of N failures means at most N password checks, however many attempts arrive
at once: each attempt takes one of the N places in a single atomic step *before* its
password is checked (a conditional upsert in the database, a Lua script in Redis), and
a refused attempt takes none. A successful sign-in clears the account's count and
gives its place in the address's count back, so only failures use them up, as before.

Password reset requests (shared/account_links.py) are counted the same way, under keys
of their own: every request counts, up to `RESET_REQUESTS_PER_ACCOUNT` for one address
typed and `RESET_REQUESTS_PER_ADDRESS` from one client address in the window.

Guardians' sign-in link requests (shared/family_sign_in.py) count like resets, per
address typed and per client address, and the links mailed count per family too.

Family codes typed by guardians (shared/family_codes.py) count like passwords, per
client address (a wrong code has no account to count against).

Substitutes' one-time codes (shared/substitutes.py) count like passwords, per client
address: a code is never tried more than `LOGIN_FAILURES_PER_ADDRESS` times from one
address in the window.

Two-factor codes (shared/totp.py) count like passwords, per account under a key of
their own and in the address's count.

Redis is an optimisation, never a dependency: when it does not answer within
`REDIS_TIMEOUT_SECONDS`, the attempt is counted in the database instead, Redis is left
alone for `REDIS_RETRY_SECONDS`, and then tried again. Counts made during an outage
stay in the database until their window ends.

It stays one module: the database and Redis stores are two halves of one limiter and
must keep the same atomic contract, side by side.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import case, delete, literal, select, update

from shared.database import upsert_insert
from shared.extensions import db
from shared.models import LoginThrottle
from shared.timeutil import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limit:
    key: str
    max_failures: int


@dataclass(frozen=True)
class Attempt:
    """A sign-in attempt, counted before its password is checked.

    `retry_after` is set (seconds) when the attempt was refused and counted nowhere;
    `limiter` is the one that counted it, so the same one gives the place back.
    """

    limits: tuple[Limit, ...]
    retry_after: int | None
    limiter: DatabaseLimiter | RedisLimiter


def login_limits(email: str, address: str | None) -> list[Limit]:
    """The limits a sign-in attempt counts against: the account first, then the address."""
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
    """Counters in the `login_throttles` table, one conditional upsert per limit.

    The upsert takes a place only while the count is under its limit (or the window
    has passed) and says whether it did (`RETURNING`); PostgreSQL's row lock and
    SQLite's write lock make it one step. The caller commits right after, so the row
    is not held locked while the password is checked.
    """

    def count(self, limits: list[Limit], now: datetime) -> Attempt:
        """Take a place in every limit, or in none when one is full."""
        taken: list[Limit] = []
        for limit in limits:  # always the same order, so two attempts never deadlock
            if not self._take(limit, now):
                for earlier in taken:
                    self._give_back(earlier)
                return Attempt(tuple(limits), self._seconds_left(limit, now), self)
            taken.append(limit)
        return Attempt(tuple(limits), None, self)

    def _take(self, limit: Limit, now: datetime) -> bool:
        insert = upsert_insert(db.session.get_bind().dialect.name)
        stale = LoginThrottle.window_started_at <= now - _window()
        statement = (
            insert(LoginThrottle)
            .values(key=limit.key, window_started_at=now, failures=1)
            .on_conflict_do_update(
                index_elements=[LoginThrottle.key],
                set_={
                    "failures": case((stale, 1), else_=LoginThrottle.failures + 1),
                    "window_started_at": case(
                        (stale, literal(now, LoginThrottle.window_started_at.type)),
                        else_=LoginThrottle.window_started_at,
                    ),
                },
                where=stale | (LoginThrottle.failures < limit.max_failures),
            )
            .returning(LoginThrottle.failures)
        )
        return db.session.execute(statement).first() is not None

    def _seconds_left(self, limit: Limit, now: datetime) -> int:
        started = db.session.scalar(
            select(LoginThrottle.window_started_at).where(LoginThrottle.key == limit.key)
        )
        if started is None:  # cleared in the meantime: a short wait, then a fresh window
            return 1
        return max(1, math.ceil((started + _window() - now).total_seconds()))

    def _give_back(self, limit: Limit) -> None:
        db.session.execute(
            update(LoginThrottle)
            .where(LoginThrottle.key == limit.key, LoginThrottle.failures > 0)
            .values(failures=LoginThrottle.failures - 1)
        )

    def succeeded(self, limits: list[Limit]) -> None:
        account, *others = limits
        db.session.execute(delete(LoginThrottle).where(LoginThrottle.key == account.key))
        for limit in others:
            self._give_back(limit)

    def give_back(self, limits: list[Limit]) -> None:
        for limit in limits:
            self._give_back(limit)

    def locked_for(self, limit: Limit, now: datetime) -> int | None:
        """Seconds until this limit takes attempts again; None when it takes them now."""
        row = db.session.scalar(select(LoginThrottle).where(LoginThrottle.key == limit.key))
        if row is None or row.failures < limit.max_failures:
            return None
        left = math.ceil((row.window_started_at + _window() - now).total_seconds())
        return left if left > 0 else None

    def clear(self, limit: Limit) -> bool:
        """Forget the limit's count; whether there was one."""
        deleted = db.session.execute(delete(LoginThrottle).where(LoginThrottle.key == limit.key))
        return deleted.rowcount > 0


# Checks every limit, then counts in every one, in one atomic step: all or nothing.
# KEYS: the counters; ARGV[1]: the window in seconds; ARGV[2...]: each key's limit.
# Returns 0 when counted, else the seconds until the fullest window ends.
_RESERVE = """
local wait = 0
for i, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') >= tonumber(ARGV[i + 1]) then
    local ttl = redis.call('TTL', key)
    if ttl < 0 then
      redis.call('EXPIRE', key, ARGV[1])
      ttl = tonumber(ARGV[1])
    end
    if ttl > wait then wait = ttl end
  end
end
if wait > 0 then return wait end
for _, key in ipairs(KEYS) do
  redis.call('INCR', key)
  if redis.call('TTL', key) < 0 then redis.call('EXPIRE', key, ARGV[1]) end
end
return 0
"""

# A successful sign-in: KEYS[1] (the account) is cleared, the others get a place back.
_SUCCEEDED = """
redis.call('DEL', KEYS[1])
for i = 2, #KEYS do
  if tonumber(redis.call('GET', KEYS[i]) or '0') > 0 then redis.call('DECR', KEYS[i]) end
end
return 0
"""


# An attempt that did not fail: every counter KEYS[...] gets its place back.
_GIVE_BACK = """
for i = 1, #KEYS do
  if tonumber(redis.call('GET', KEYS[i]) or '0') > 0 then redis.call('DECR', KEYS[i]) end
end
return 0
"""


class RedisUnavailable(Exception):
    """Redis did not answer (or is left alone after it recently did not)."""


class RedisLimiter:
    """Counters in Redis, with the database limiter for when Redis does not answer."""

    PREFIX = "passline:login:"

    def __init__(self, url: str, timeout: float, retry_seconds: float):
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # One try, short timeouts: a sign-in never waits long on a Redis that is away.
        self.redis = redis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )
        self.errors = (redis.exceptions.RedisError, OSError)
        self.retry_seconds = retry_seconds
        self.fallback = DatabaseLimiter()
        self._down_until = 0.0  # time.monotonic() before which Redis is not tried
        self._lock = threading.Lock()
        self._reserve = self.redis.register_script(_RESERVE)
        self._succeeded = self.redis.register_script(_SUCCEEDED)
        self._give_back_script = self.redis.register_script(_GIVE_BACK)

    def _call(self, action):
        if time.monotonic() < self._down_until:
            raise RedisUnavailable
        try:
            answer = action()
        except self.errors as error:
            with self._lock:
                was_up = self._down_until == 0.0
                self._down_until = time.monotonic() + self.retry_seconds
            if was_up:
                log.warning("Redis does not answer (%s); sign-in throttles use the database", error)
            raise RedisUnavailable from error
        if self._down_until:
            with self._lock:
                self._down_until = 0.0
            log.warning("Redis answers again; sign-in throttles use Redis")
        return answer

    def available(self) -> bool:
        try:
            return bool(self._call(self.redis.ping))
        except RedisUnavailable:
            return False

    def count(self, limits: list[Limit], now: datetime) -> Attempt:
        """Count in Redis, or in the database when Redis does not answer."""
        seconds = int(_window().total_seconds())
        keys = [self.PREFIX + limit.key for limit in limits]
        try:
            wait = self._call(
                lambda: self._reserve(
                    keys=keys, args=[seconds, *(limit.max_failures for limit in limits)]
                )
            )
        except RedisUnavailable:
            return self.fallback.count(limits, now)
        return Attempt(tuple(limits), int(wait) or None, self)

    def succeeded(self, limits: list[Limit]) -> None:
        keys = [self.PREFIX + limit.key for limit in limits]
        # When Redis is away, the account's count ends with its window; sign-in goes on.
        with contextlib.suppress(RedisUnavailable):
            self._call(lambda: self._succeeded(keys=keys))

    def give_back(self, limits: list[Limit]) -> None:
        keys = [self.PREFIX + limit.key for limit in limits]
        with contextlib.suppress(RedisUnavailable):
            self._call(lambda: self._give_back_script(keys=keys))

    def locked_for(self, limit: Limit, now: datetime) -> int | None:
        """As the database limiter's; the database's count too (made while Redis was away)."""
        from_database = self.fallback.locked_for(limit, now)
        key = self.PREFIX + limit.key
        try:
            count, ttl = self._call(lambda: self.redis.pipeline().get(key).ttl(key).execute())
        except RedisUnavailable:
            return from_database
        full = count is not None and int(count) >= limit.max_failures
        in_redis = ttl if full and ttl > 0 else None
        return max(filter(None, (from_database, in_redis)), default=None)

    def clear(self, limit: Limit) -> bool:
        """Forget the limit's count in Redis and in the database; whether there was one.

        Raises RedisUnavailable when Redis does not answer: an unlock must not say it
        worked while Redis still holds the lock.
        """
        in_database = self.fallback.clear(limit)
        in_redis = self._call(lambda: self.redis.delete(self.PREFIX + limit.key))
        return in_database or bool(in_redis)


def limiter() -> DatabaseLimiter | RedisLimiter:
    """Redis when configured, else the database (one limiter per app)."""
    app = current_app._get_current_object()
    existing = app.extensions.get("passline_limiter")
    if existing is None:
        url = app.config.get("REDIS_URL")
        if url:
            existing = RedisLimiter(
                url,
                timeout=float(app.config.get("REDIS_TIMEOUT_SECONDS", 0.5)),
                retry_seconds=float(app.config.get("REDIS_RETRY_SECONDS", 5)),
            )
        else:
            existing = DatabaseLimiter()
        app.extensions["passline_limiter"] = existing
    return existing


def begin_sign_in(email: str, address: str | None) -> Attempt:
    """Count a sign-in attempt before its password is checked (commit right after).

    A refused attempt (`retry_after` set) must not check the password at all.
    """
    return limiter().count(login_limits(email, address), utcnow())


#: Wrong student numbers typed on a phone for one student, and from one client address,
#: within the window (the room QR's "it is me" step, `hallpass.student_check`).
CHECK_FAILURES_PER_STUDENT = 5
CHECK_FAILURES_PER_ADDRESS = 30


def begin_student_check(student_id: int, address: str | None) -> Attempt:
    """Count a student's "it is me" check before the typed number is compared, as a
    sign-in is counted before its password is checked (commit right after)."""
    student = hashlib.sha256(f"student:{student_id}".encode()).hexdigest()
    limits = [Limit(f"student:{student}", CHECK_FAILURES_PER_STUDENT)]
    if address:
        client = hashlib.sha256(address.encode()).hexdigest()
        limits.append(Limit(f"student-address:{client}", CHECK_FAILURES_PER_ADDRESS))
    return limiter().count(limits, utcnow())


def sign_in_succeeded(attempt: Attempt) -> None:
    """The password was right: clear the account's count, give the address its place back."""
    attempt.limiter.succeeded(list(attempt.limits))


def begin_sso_callback(address: str | None) -> Attempt:
    """Count a single sign-on callback against its client address, before its code is
    exchanged (commit right after): a flood of forged callbacks is refused with 429.

    The limit is the address limit of password sign-ins; a callback that signs someone
    in gives its place back (`attempt_did_not_fail`), so a school behind one address is
    never held up by its own teachers.
    """
    client = hashlib.sha256((address or "unknown").encode()).hexdigest()
    limit = Limit(f"sso:{client}", current_app.config["LOGIN_FAILURES_PER_ADDRESS"])
    return limiter().count([limit], utcnow())


def attempt_did_not_fail(attempt: Attempt) -> None:
    """Give the attempt's place back in every limit it was counted in."""
    attempt.limiter.give_back(list(attempt.limits))


def account_locked_for(email: str) -> int | None:
    """Seconds until the account's sign-in is taken again after too many failures, or None.

    Only the account's own limit: a school's shared address is not the account's lock.
    """
    account = login_limits(email, None)[0]
    return limiter().locked_for(account, utcnow())


def unlock_account(email: str) -> bool:
    """Let the account sign in again at once (an admin checked who is asking); whether it
    had failures counted. The per-address limit is left alone."""
    account = login_limits(email, None)[0]
    return limiter().clear(account)


def redis_available() -> bool | None:
    """For /healthz: None without `REDIS_URL`, else whether Redis answers a PING now.

    Cheap: one PING bounded by `REDIS_TIMEOUT_SECONDS`, and no network at all while
    Redis is left alone after a recent failure.
    """
    chosen = limiter()
    return chosen.available() if isinstance(chosen, RedisLimiter) else None


def reset_limits(email: str, address: str | None) -> list[Limit]:
    """The limits a password reset request counts against: the address typed (whether an
    account has it or not), then the client address."""
    config = current_app.config
    account = hashlib.sha256(email.strip().lower().encode()).hexdigest()
    limits = [Limit(f"reset-account:{account}", config["RESET_REQUESTS_PER_ACCOUNT"])]
    if address:
        client = hashlib.sha256(address.encode()).hexdigest()
        limits.append(Limit(f"reset-address:{client}", config["RESET_REQUESTS_PER_ADDRESS"]))
    return limits


def count_reset_request(email: str, address: str | None) -> Attempt:
    """Count a password reset request (every one counts, within LOGIN_THROTTLE_MINUTES);
    `retry_after` is set when it is refused."""
    return limiter().count(reset_limits(email, address), utcnow())


def begin_second_factor(user_id: int, address: str | None) -> Attempt:
    """Count a two-factor code attempt before it is checked (commit right after), like a
    password: `LOGIN_FAILURES_PER_ACCOUNT` wrong codes for one account (and the address's
    limit) in the window, then 429. A right code clears it (`sign_in_succeeded`)."""
    config = current_app.config
    limits = [Limit(f"totp:{user_id}", config["LOGIN_FAILURES_PER_ACCOUNT"])]
    if address:
        client = hashlib.sha256(address.encode()).hexdigest()
        limits.append(Limit(f"address:{client}", config["LOGIN_FAILURES_PER_ADDRESS"]))
    return limiter().count(limits, utcnow())


def family_link_limits(email: str, address: str | None) -> list[Limit]:
    """The limits a guardian's sign-in link request counts against: the address typed
    (whether a guardian has it or not), then the client address."""
    config = current_app.config
    typed = hashlib.sha256(email.strip().lower().encode()).hexdigest()
    limits = [Limit(f"family-email:{typed}", config["FAMILY_LINKS_PER_EMAIL"])]
    if address:
        client = hashlib.sha256(address.encode()).hexdigest()
        limits.append(Limit(f"family-address:{client}", config["FAMILY_LINKS_PER_ADDRESS"]))
    return limits


def count_family_link_request(email: str, address: str | None) -> Attempt:
    """Count a request for a family sign-in link (every one counts, within
    LOGIN_THROTTLE_MINUTES); `retry_after` is set when it is refused."""
    return limiter().count(family_link_limits(email, address), utcnow())


def count_family_link_sent(family_id: int) -> Attempt:
    """Count a sign-in link mailed to a family's guardians: at most
    FAMILY_LINKS_PER_FAMILY in the window, however many addresses ask."""
    limit = Limit(f"family:{family_id}", current_app.config["FAMILY_LINKS_PER_FAMILY"])
    return limiter().count([limit], utcnow())


def begin_family_code(address: str | None) -> Attempt:
    """Count a family code typed at the family sign-in page before it is looked up
    (commit right after), like a password: FAMILY_CODE_FAILURES_PER_ADDRESS wrong codes
    from one client address in the window, then 429. A code that works gives its place
    back (`attempt_did_not_fail`)."""
    client = hashlib.sha256((address or "unknown").encode()).hexdigest()
    limit = Limit(f"family-code:{client}", current_app.config["FAMILY_CODE_FAILURES_PER_ADDRESS"])
    return limiter().count([limit], utcnow())


def begin_substitute_code(address: str | None) -> Attempt:
    """Count a substitute's sign-in code attempt before it is checked (commit right after),
    against its client address, like a password; a right code gives the place back
    (`sign_in_succeeded`)."""
    client = hashlib.sha256((address or "unknown").encode()).hexdigest()
    limit = Limit(f"substitute:{client}", current_app.config["LOGIN_FAILURES_PER_ADDRESS"])
    return limiter().count([limit], utcnow())

"""Concurrent writers: no "database is locked", no 5xx, nothing lost (SQLite and PostgreSQL)."""

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from shared.models import AuditEvent, LoginThrottle, School

WRITERS = 8
WRITES_EACH = 10


def test_concurrent_writing_requests_all_succeed(app, db, school, make_user, login, monkeypatch):
    """Eight clients save school settings and fail sign-ins at once: every write lands.

    The failed sign-ins all come from one address, so they also race on one throttle
    counter (its limit is raised here so that none is refused).
    """
    monkeypatch.setitem(app.config, "LOGIN_FAILURES_PER_ADDRESS", 10_000)
    admins = [make_user(school, "admin") for _ in range(WRITERS)]
    clients = [login(admin, on=app.test_client()) for admin in admins]

    def work(index: int) -> list[int]:
        client = clients[index]
        statuses = []
        for n in range(WRITES_EACH):
            statuses.append(
                client.post(
                    "/admin/school",
                    data={"name": f"Lincoln {index}-{n}", "timezone": "America/Chicago"},
                ).status_code
            )
            statuses.append(
                app.test_client()
                .post(
                    "/login",
                    data={"email": f"nobody{index}-{n}@example.org", "password": "wrong"},
                )
                .status_code
            )
        return statuses

    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        results = [status for statuses in pool.map(work, range(WRITERS)) for status in statuses]
    assert results.count(302) == WRITERS * WRITES_EACH
    assert results.count(401) == WRITERS * WRITES_EACH
    db.session.rollback()
    updates = db.session.scalar(
        select(func.count(AuditEvent.id)).where(AuditEvent.action == "school.update")
    )
    failures = db.session.scalar(
        select(func.count(AuditEvent.id)).where(AuditEvent.action == "auth.login_failed")
    )
    assert updates == failures == WRITERS * WRITES_EACH
    assert db.session.get(School, school.id).name.startswith("Lincoln ")
    address_failures = db.session.scalar(
        select(LoginThrottle.failures).where(LoginThrottle.key.like("address:%"))
    )
    assert address_failures == WRITERS * WRITES_EACH  # no increment lost

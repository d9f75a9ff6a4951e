"""Server-side sessions (sign-out, deactivation, idle and absolute timeouts); sign-in throttling."""

from datetime import timedelta

from sqlalchemy import select, update

from shared.models import LoginThrottle, UserSession
from shared.timeutil import utcnow
from tests.gunicorn_server import Browser, running_gunicorn
from tests.helpers import PASSWORD
from tests.redis_server import needs_redis_server, own_redis

SESSION_COOKIE = "passline_session"


def session_cookie(client) -> str:
    return client.get_cookie(SESSION_COOKIE, domain="passline.test").value


def copy_of(app, client):
    """A second browser holding a copy of `client`'s session cookie."""
    thief = app.test_client()
    thief.set_cookie(SESSION_COOKIE, session_cookie(client), domain="passline.test")
    return thief


def only_session(db) -> UserSession:
    db.session.rollback()
    return db.session.scalars(select(UserSession)).one()


def test_sign_in_rotates_the_session_and_opens_a_server_session(
    app, db, school, make_user, login, client
):
    client.get("/login")  # an anonymous session may exist before sign-in
    before = client.get_cookie(SESSION_COOKIE, domain="passline.test")
    login(make_user(school, "teacher"))
    assert before is None or before.value != session_cookie(client)
    row = only_session(db)
    assert row.ended_at is None and len(row.token_hash) == 64


def test_a_copied_cookie_stops_working_after_sign_out(app, db, school, make_user, login, client):
    login(make_user(school, "teacher"))
    thief = copy_of(app, client)
    assert thief.get("/dashboard").status_code == 200
    client.post("/logout")
    assert thief.get("/dashboard").status_code == 302
    assert only_session(db).end_reason == "signout"


def test_deactivation_ends_the_session_on_the_server(app, db, school, make_user, login, client):
    admin = make_user(school, "admin")
    teacher = make_user(school, "teacher")
    teacher_browser = login(teacher, on=app.test_client())
    login(admin)
    response = client.post(f"/admin/staff/{teacher.id}", data={"action": "deactivate"})
    assert response.status_code == 302
    assert teacher_browser.get("/dashboard").status_code == 302
    db.session.rollback()
    ended = db.session.scalar(
        select(UserSession.end_reason).where(UserSession.user_id == teacher.id)
    )
    assert ended == "deactivated"


def test_idle_session_times_out_and_polls_do_not_keep_it_alive(
    app, db, school, make_user, login, client
):
    login(make_user(school, "office"))
    two_minutes_ago = utcnow() - timedelta(minutes=2)
    db.session.execute(update(UserSession).values(last_seen_at=two_minutes_ago))
    db.session.commit()
    client.get("/hallpass/hallway/list?v=999")  # a live poll: not activity
    assert only_session(db).last_seen_at == two_minutes_ago
    client.get("/dashboard")  # a real page: activity
    assert only_session(db).last_seen_at > two_minutes_ago

    db.session.execute(update(UserSession).values(last_seen_at=utcnow() - timedelta(minutes=61)))
    db.session.commit()
    response = client.get("/dashboard")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert only_session(db).end_reason == "idle"
    assert "without activity" in client.get(response.headers["Location"]).get_data(as_text=True)


def test_absolute_timeout_ends_even_an_active_session(app, db, school, make_user, login, client):
    login(make_user(school, "office"))
    db.session.execute(update(UserSession).values(created_at=utcnow() - timedelta(hours=13)))
    db.session.commit()
    assert client.get("/dashboard").status_code == 302
    assert only_session(db).end_reason == "expired"


def test_password_change_ends_other_sessions_but_keeps_this_one(
    app, db, school, make_user, login, client
):
    user = make_user(school, "teacher")
    other = login(user, on=app.test_client())
    login(user)
    response = client.post(
        "/account/password",
        data={
            "current_password": PASSWORD,
            "new_password": "a brand new passphrase",
            "confirm_password": "a brand new passphrase",
        },
    )
    assert response.status_code == 302
    assert client.get("/dashboard").status_code == 200
    assert other.get("/dashboard").status_code == 302


def fail_sign_in(client, email: str, address: str = "203.0.113.7"):
    return client.post(
        "/login",
        data={"email": email, "password": "wrong password"},
        environ_base={"REMOTE_ADDR": address},
    )


def test_five_failures_lock_the_account_for_a_while(app, db, school, make_user, client):
    user = make_user(school, "teacher")
    for _ in range(5):
        assert fail_sign_in(client, user.email).status_code == 401
    locked = client.post(
        "/login",
        data={"email": user.email, "password": PASSWORD},
        environ_base={"REMOTE_ADDR": "203.0.113.7"},
    )
    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.get_data(as_text=True)
    assert 0 < int(locked.headers["Retry-After"]) <= 15 * 60
    # Another account from the same address is not locked.
    other = make_user(school, "teacher")
    ok = client.post("/login", data={"email": other.email, "password": PASSWORD})
    assert ok.status_code == 302
    # When the window has passed, the account may try again.
    db.session.execute(
        update(LoginThrottle).values(window_started_at=utcnow() - timedelta(minutes=16))
    )
    db.session.commit()
    fresh = app.test_client()
    assert fresh.post("/login", data={"email": user.email, "password": PASSWORD}).status_code == 302


def test_a_successful_sign_in_clears_the_account_count(app, db, school, make_user, client):
    user = make_user(school, "teacher")
    for _ in range(4):
        fail_sign_in(client, user.email)
    assert (
        app.test_client()
        .post("/login", data={"email": user.email, "password": PASSWORD})
        .status_code
        == 302
    )
    for _ in range(4):
        assert fail_sign_in(client, user.email).status_code == 401


def test_an_address_spraying_many_accounts_is_throttled(app, db, school, monkeypatch, client):
    monkeypatch.setitem(app.config, "LOGIN_FAILURES_PER_ADDRESS", 3)
    for n in range(3):
        assert fail_sign_in(client, f"guess{n}@example.org").status_code == 401
    assert fail_sign_in(client, "guess9@example.org").status_code == 429
    assert fail_sign_in(client, "guess9@example.org", address="198.51.100.1").status_code == 401


@needs_redis_server
def test_the_redis_limiter_locks_the_account_too(
    app, db, school, make_user, client, monkeypatch, tmp_path
):
    import redis

    with own_redis(tmp_path) as own:
        server = redis.Redis.from_url(own.url)
        monkeypatch.setitem(app.config, "REDIS_URL", own.url)
        monkeypatch.setitem(app.extensions, "passline_limiter", None)
        user = make_user(school, "teacher")
        try:
            for _ in range(5):
                assert fail_sign_in(client, user.email).status_code == 401
            assert fail_sign_in(client, user.email).status_code == 429
            keys = [key.decode() for key in server.keys("passline:login:*")]
            assert keys and not any(user.email in key for key in keys)
            assert db.session.scalar(select(LoginThrottle.key)) is None  # nothing in the database
        finally:
            app.extensions.pop("passline_limiter", None)


def test_the_limit_holds_across_gunicorn_workers(app, db, school, make_user, tmp_path):
    """Failed sign-ins spread over three worker processes still count as one."""
    user = make_user(school, "teacher")
    with running_gunicorn(app.config["SQLALCHEMY_DATABASE_URI"], tmp_path, workers=3) as server:
        statuses = []
        for _ in range(6):
            browser = Browser(server.url)  # a new connection each time: any worker answers
            token = browser.csrf_token("/login")
            status, _headers, _body = browser.post(
                "/login", {"email": user.email, "password": "wrong", "csrf_token": token}
            )
            statuses.append(status)
    assert statuses == [401] * 5 + [429]


def test_a_remembered_session_cookie_gives_each_request_its_own_copy(app):
    """The session interface remembers a checked cookie's contents; no request may change
    what the next request with the same cookie gets (flashes are lists)."""
    interface = app.session_interface
    cookie = interface.get_signing_serializer(app).dumps({"_flashes": [["info", "Saved."]]})
    name = interface.get_cookie_name(app)
    headers = {"Cookie": f"{name}={cookie}"}
    with app.test_request_context("/", headers=headers) as context:
        first = interface.open_session(app, context.request)
        first["_flashes"].append(["info", "Another."])
        first["school_id"] = 99
    with app.test_request_context("/", headers=headers) as context:
        second = interface.open_session(app, context.request)
    assert second == {"_flashes": [["info", "Saved."]]}
    assert not second.modified


def test_a_forged_session_cookie_is_never_remembered_or_accepted(app):
    interface = app.session_interface
    name = interface.get_cookie_name(app)
    cookie = interface.get_signing_serializer(app).dumps({"school_id": 1})
    forged = cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB")
    for _attempt in range(2):
        with app.test_request_context("/", headers={"Cookie": f"{name}={forged}"}) as context:
            assert dict(interface.open_session(app, context.request)) == {}

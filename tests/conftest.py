"""Test fixtures: one app and schema per run, emptied after every test.

The suite runs on a SQLite file by default and on PostgreSQL when
`TEST_DATABASE_URL` is set (see `.ci/run`). Data is committed for real, so tests
with several threads or processes see each other's writes; every table is emptied
after each test.
"""

import contextvars
import os

import pytest
from flask import has_app_context
from flask.testing import FlaskClient

from shared import create_app, live, poll_shortcut
from shared.database import _write_intent
from shared.extensions import db as _db
from shared.models import Family, Membership, Room, School, Student, User
from tests.helpers import PASSWORD, PASSWORD_HASH


def database_url(tmp_path_factory) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"


class IsolatedClient(FlaskClient):
    """A test client whose requests never share the test's app context.

    Flask reuses an already pushed app context for a request, so `g`, the database
    session and flask-login's cached user would leak from one request to the next.
    Each request here runs in a fresh context, as it does under a real server. The
    test's own transaction is committed before and after, so the request sees what
    the test set up and the test then sees what the request wrote. A streamed response
    (a large CSV) is read to the end inside the request's context, as a server would.
    """

    def open(self, *args, **kwargs):
        kwargs.setdefault("buffered", True)
        if has_app_context():
            _db.session.commit()
        response = contextvars.Context().run(super().open, *args, **kwargs)
        if has_app_context():
            _db.session.commit()
        return response


@pytest.fixture(scope="session")
def app(tmp_path_factory):
    instance = tmp_path_factory.mktemp("instance")
    os.environ["PASSLINE_INSTANCE_PATH"] = str(instance)
    application = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret-key",
            "SQLALCHEMY_DATABASE_URI": database_url(tmp_path_factory),
            "WTF_CSRF_ENABLED": False,
            "SERVER_NAME": "passline.test",
            # The concurrency tests race many threads on a machine shared with other
            # work: they check invariants, not waits, so they get generous lock and
            # statement timeouts; tests/shared/test_outages.py checks the defaults.
            "DATABASE_LOCK_TIMEOUT": 30.0,
            "DATABASE_STATEMENT_TIMEOUT": 30.0,
        }
    )
    application.test_client_class = IsolatedClient
    with application.app_context():
        _db.drop_all()
        _db.create_all()
    yield application
    with application.app_context():
        _db.session.remove()
        _db.drop_all()
        _db.engine.dispose()


@pytest.fixture(autouse=True)
def db(app):
    """The database, emptied after the test.

    The test body reads in deferred transactions, as a GET request does, so its
    reads never hold SQLite's write lock against the requests it makes.
    """
    read_only = _write_intent.set(False)
    with app.app_context():
        yield _db
        _db.session.rollback()
        _db.session.remove()
        with _db.engine.begin() as connection:
            for table in reversed(_db.metadata.sorted_tables):
                connection.execute(table.delete())
    live.clear_shared()  # ids and versions start again in the next test
    poll_shortcut.clear()
    _write_intent.reset(read_only)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make_school(db):
    counter = iter(range(1, 10_000))

    def make(
        name: str | None = None, code: str | None = None, timezone="America/Chicago", **fields
    ) -> School:
        n = next(counter)
        school = School(
            name=name or f"School {n}",
            code=code or f"S{n}",
            timezone=timezone,
            settings={},
            **fields,
        )
        db.session.add(school)
        db.session.commit()
        return school

    return make


@pytest.fixture
def school(make_school) -> School:
    return make_school(name="Lincoln Middle School", code="LMS")


@pytest.fixture
def make_user(db):
    counter = iter(range(1, 10_000))

    def make(
        school: School | None = None,
        *roles: str,
        email: str | None = None,
        name: str | None = None,
        active: bool = True,
        district: bool = False,
    ) -> User:
        n = next(counter)
        user = User(
            email=email or f"user{n}@example.org",
            name=name or f"User {n}",
            password_hash=PASSWORD_HASH,
            active=active,
            is_district_admin=district,
        )
        db.session.add(user)
        db.session.flush()
        for role in roles:
            db.session.add(Membership(user_id=user.id, school_id=school.id, role=role))
        db.session.commit()
        return user

    return make


@pytest.fixture
def make_room(db):
    def make(school: School, name: str = "101", kind: str = "classroom") -> Room:
        room = Room(school_id=school.id, name=name, kind=kind)
        db.session.add(room)
        db.session.commit()
        return room

    return make


@pytest.fixture
def make_student(db):
    counter = iter(range(1, 100_000))

    def make(
        school: School,
        first: str | None = None,
        last: str | None = None,
        grade: str = "3",
        **fields,
    ) -> Student:
        n = next(counter)
        student = Student(
            school_id=school.id,
            student_number=f"N{n}",
            first_name=first or f"Kid{n}",
            last_name=last or f"Last{n:05d}",
            grade=grade,
            **fields,
        )
        db.session.add(student)
        db.session.commit()
        return student

    return make


@pytest.fixture
def make_family(db):
    def make(school: School, tag_number: int, *students: Student, active: bool = True) -> Family:
        family = Family(
            school_id=school.id, tag_number=tag_number, students=list(students), active=active
        )
        db.session.add(family)
        db.session.commit()
        return family

    return make


@pytest.fixture
def office_user(school, make_user) -> User:
    return make_user(school, "office")


@pytest.fixture
def login(client):
    """Sign a test client in as `user` (through the real sign-in form)."""

    def sign_in(user: User, password: str = PASSWORD, on=None):
        target = on or client
        response = target.post("/login", data={"email": user.email, "password": password})
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return target

    return sign_in


@pytest.fixture
def csrf_app(app):
    """The same app and database with CSRF protection switched on."""
    app.config["WTF_CSRF_ENABLED"] = True
    yield app
    app.config["WTF_CSRF_ENABLED"] = False

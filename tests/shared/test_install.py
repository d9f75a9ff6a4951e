"""Installing and running passline as district IT does: the wheel, production mode's
instance folder, one server per port, housekeeping whatever serves the app, the licence.

The whole path (the wheel installed in a fresh virtual environment outside the repo,
migrating a fresh PostgreSQL database, loading the demo and serving) is .ci/wheel_install;
these tests check each piece of it where it can fail.
"""

import os
import signal
import subprocess
import sys
import time
import tomllib
import zipfile
from pathlib import Path

import pytest

from shared import create_app, housekeeping
from shared.config import ConfigurationError, is_production
from tests.gunicorn_server import ROOT, free_port, http_get, running_gunicorn


def _packages_on_disk() -> set[str]:
    found = set()
    for top in ("shared", "hallpass", "carline"):
        for init in (ROOT / top).rglob("__init__.py"):
            found.add(".".join(init.parent.relative_to(ROOT).parts))
    return found


def test_the_package_list_names_every_package_and_maps_the_migrations():
    setup = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(setup["tool"]["setuptools"]["packages"])
    assert listed == _packages_on_disk() | {"shared.migrations", "shared.migrations.versions"}
    assert setup["tool"]["setuptools"]["package-dir"] == {"shared.migrations": "migrations"}
    assert setup["project"]["scripts"]["passline"] == "shared.cli:main"
    assert setup["project"]["license"] == "AGPL-3.0-or-later"  # SPDX, not the table form


@pytest.mark.slow
def test_the_wheel_carries_everything_the_app_needs(tmp_path):
    """Before: the wheel held no migration, so an installed passline could not set up a
    database ('Path doesn't exist: .../site-packages/shared/../migrations')."""
    # From a copy of the repo's files: a working copy's build/ folder keeps files of
    # earlier builds, which would go into the wheel too.
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],  # noqa: S607
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    source = tmp_path / "src"
    for name in filter(None, files):
        path = ROOT / name.decode()
        if path.is_file():
            (source / name.decode()).parent.mkdir(parents=True, exist_ok=True)
            (source / name.decode()).write_bytes(path.read_bytes())
    subprocess.run(  # noqa: S603 (our own interpreter and files)
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(source), "-w", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("passline-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    migrations = sorted(p.name for p in (ROOT / "migrations" / "versions").glob("*.py"))
    packaged = {n.rsplit("/", 1)[1] for n in names if n.startswith("shared/migrations/versions/")}
    assert migrations and packaged == set(migrations)  # each one, and nothing else
    assert {"shared/migrations/env.py", "shared/migrations/alembic.ini"} <= names
    assert {"shared/migrations/script.py.mako", "shared/gunicorn_conf.py"} <= names
    # The compiled catalogs (shared/i18n.py finds the languages by them).
    assert "shared/translations/es/LC_MESSAGES/messages.mo" in names
    for top in ("shared", "hallpass", "carline"):
        for path in (ROOT / top).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                assert path.relative_to(ROOT).as_posix() in names
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(wheel).read(metadata).decode()
    assert "License-Expression: AGPL-3.0-or-later" in text
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "passline = shared.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_production_mode_needs_a_lasting_place_for_the_secret_key(monkeypatch, tmp_path):
    """Before: from a wheel, the key and the SQLite file went to <venv>/var/shared-instance."""
    for name in ("PASSLINE_INSTANCE_PATH", "SECRET_KEY", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    assert not is_production()  # a source checkout: a trial
    monkeypatch.setenv("PASSLINE_ENV", "production")
    with pytest.raises(ConfigurationError, match="PASSLINE_INSTANCE_PATH") as refused:
        create_app()
    assert "SECRET_KEY and DATABASE_URL" in str(refused.value)
    monkeypatch.setenv("SECRET_KEY", "a key kept elsewhere")
    with pytest.raises(ConfigurationError, match="or set DATABASE_URL"):
        create_app()
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'kept.sqlite3'}")
    assert create_app().config["SECRET_KEY"] == "a key kept elsewhere"
    monkeypatch.delenv("SECRET_KEY")
    monkeypatch.delenv("DATABASE_URL")
    monkeypatch.setenv("PASSLINE_INSTANCE_PATH", str(tmp_path / "instance"))
    assert create_app().instance_path == str(tmp_path / "instance")
    assert (tmp_path / "instance" / "secret_key").is_file()
    monkeypatch.delenv("PASSLINE_INSTANCE_PATH")
    monkeypatch.setenv("PASSLINE_ENV", "staging")
    with pytest.raises(ConfigurationError, match="production or development"):
        create_app()


def test_the_passline_command_refuses_production_without_an_instance_folder(tmp_path):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PASSLINE_INSTANCE_PATH", "SECRET_KEY", "DATABASE_URL")
    }
    env["PASSLINE_ENV"] = "production"
    result = subprocess.run(
        [sys.executable, "-c", "from shared.cli import main; main()", "db", "current"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "Error: passline runs in production mode" in result.stderr
    assert "Traceback" not in result.stderr


def _gunicorn(bind: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "wsgi:app"],
            cwd=ROOT,
            env={**env, "PASSLINE_BIND": bind},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


@pytest.mark.slow
def test_a_second_server_on_a_taken_port_fails_loudly(app, tmp_path):
    """Before: with SO_REUSEPORT on by default, a second passline on the same port joined
    the first without a word and took about half of its requests."""
    home, runtime = tmp_path / "home", tmp_path / "runtime"
    home.mkdir()
    runtime.mkdir()
    database_url = app.config["SQLALCHEMY_DATABASE_URI"]
    with running_gunicorn(
        database_url, tmp_path, workers=1, HOME=str(home), XDG_RUNTIME_DIR=str(runtime)
    ) as first:
        bind = first.env["PASSLINE_BIND"]
        for reuse_port in ("", "on"):  # the default, and the measured option
            log = tmp_path / f"second{reuse_port}.log"
            env = {**first.env, "PASSLINE_REUSE_PORT": reuse_port}
            second = _gunicorn(bind, env, log)
            try:
                assert second.wait(timeout=30) != 0
            finally:
                if second.poll() is None:
                    os.killpg(second.pid, signal.SIGKILL)
                    second.wait()
            assert f"{bind} is already in use by another server" in log.read_text()
        assert all(http_get(first.url + "/healthz")[0] == 200 for _ in range(20))
        # No control socket at the per-user default path, which every instance would share.
        assert not list(home.rglob("*.ctl")) and not list(runtime.rglob("*.ctl"))
    # A port nobody holds still starts with the option on (and its socket is its own).
    with running_gunicorn(
        database_url,
        tmp_path,
        workers=2,
        PASSLINE_REUSE_PORT="on",
        PASSLINE_CONTROL_SOCKET=str(runtime / "passline.ctl"),
    ) as server:
        assert http_get(server.url + "/healthz")[0] == 200
        deadline = time.monotonic() + 10
        while not (runtime / "passline.ctl").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert (runtime / "passline.ctl").exists()


def test_housekeeping_runs_in_the_app_whatever_serves_it(app):
    """Before: only gunicorn reading gunicorn.conf.py from its folder started it; any
    other server ran none, and /healthz said "off" for ever."""
    served = create_app(
        {
            "TESTING": True,
            "HOUSEKEEPING": True,
            "SECRET_KEY": "test-secret-key",
            "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
        }
    )
    try:
        client = served.test_client()
        assert client.get("/login").status_code == 200  # any first request starts it
        assert client.get("/healthz").get_json()["housekeeping"] == "ok"
        state = served.extensions["passline_housekeeping"]
        names = {job.name for job in housekeeping.jobs_of(served)}
        deadline = time.monotonic() + 10
        while set(state.last_run) != names and time.monotonic() < deadline:
            time.sleep(0.1)
        assert set(state.last_run) == names and all(state.last_ok.values())
        thread = state.thread
        assert client.get("/login").status_code == 200
        assert state.thread is thread  # one thread per process, not one per request
        # A job that has not run for three of its intervals is reported.
        for name in state.last_run:
            state.last_run[name] -= 1000
        assert client.get("/healthz").get_json()["housekeeping"] == "degraded"
    finally:
        housekeeping.stop(served)
        with served.app_context():
            from shared.extensions import db

            db.engine.dispose()


def test_housekeeping_off_is_said_at_start(monkeypatch, caplog, app):
    monkeypatch.setenv("PASSLINE_HOUSEKEEPING", "off")
    create_app(
        {"SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"]}
    )
    assert "PASSLINE_HOUSEKEEPING is off" in caplog.text


def test_the_licence_and_the_source_link(app, client, monkeypatch):
    """Before: no LICENSE, the README never named it, nothing offered the source."""
    licence = (ROOT / "LICENSE").read_text()
    assert licence.startswith("GNU AFFERO GENERAL PUBLIC LICENSE\nVersion 3, 19 November 2007")
    assert "13. Remote Network Interaction" in licence
    assert "GNU AGPL-3.0-or-later" in (ROOT / "README.md").read_text()
    page = client.get("/login").get_data(as_text=True)
    assert '<a href="/source">Source</a>' in page
    answer = client.get("/source")
    assert answer.status_code == 200 and answer.mimetype == "application/zip"
    import io

    names = zipfile.ZipFile(io.BytesIO(answer.data)).namelist()
    top = names[0].split("/", 1)[0]
    assert {f"{top}/LICENSE", f"{top}/shared/__init__.py", f"{top}/migrations/env.py"} <= set(names)
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    monkeypatch.setitem(app.config, "SOURCE_URL", "https://git.district.example/passline")
    page = client.get("/login").get_data(as_text=True)
    assert '<a href="https://git.district.example/passline">Source</a>' in page


def test_a_free_port_is_free(tmp_path, monkeypatch):
    """The port check itself: a port nobody holds is not "taken"."""
    # Importing the config names a metrics folder in os.environ unless one is named; name
    # one that goes away with this test, or every server the later tests start would
    # inherit (and share) the folder.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    from shared.gunicorn_conf import _port_taken

    assert not _port_taken(("127.0.0.1", free_port()))

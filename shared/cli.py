"""District IT commands: `create-admin`, `school ...`, `user unlock`, `demo`, `roster import`,
`housekeeping`, `purge`; and `passline`, the installed command that runs them all.

`passline` (a console script, pyproject.toml) is Flask's command group bound to the app
factory, so an installed passline needs no `--app` and no source folder: `passline db
upgrade`, `passline demo`, `passline create-admin ...`, and `passline serve`, which runs
gunicorn with the settings shipped in the package (shared/gunicorn_conf.py).
"""

from pathlib import Path

import click
from flask import Flask
from flask.cli import with_appcontext
from sqlalchemy import func, select

from shared import schools
from shared.audit import SYSTEM
from shared.demo import demo_command
from shared.errors import DomainError, NotFound
from shared.extensions import db
from shared.models import School
from shared.passwords import password_problem
from shared.roster_views import roster_cli
from shared.staff import create_admin, find_user_by_email, unlock


def register(app: Flask) -> None:
    app.cli.add_command(create_admin_command)
    app.cli.add_command(school_cli)
    app.cli.add_command(user_cli)
    app.cli.add_command(demo_command)
    app.cli.add_command(roster_cli)
    app.cli.add_command(housekeeping_command)
    app.cli.add_command(purge_command)
    app.cli.add_command(static_root_command)
    app.cli.add_command(backup_command)


def _refusal(error: DomainError) -> click.ClickException:
    """A service's refusal as the command's error (exit code 1, the message as it is)."""
    db.session.rollback()
    return click.ClickException(error.message)


@click.command("create-admin")
@click.option("--email", required=True, help="Sign-in email of the admin.")
@click.option("--name", default="", help="Display name.")
@click.option("--school", "school_code", help="Code of the school to administer.")
@click.option("--school-name", help="Create the school with this name if it does not exist.")
@click.option(
    "--timezone",
    default="America/New_York",
    show_default=True,
    help="Time zone of a newly created school.",
)
@click.option("--district", is_flag=True, help="Make the account a district admin (all schools).")
@click.option(
    "--reset-password",
    is_flag=True,
    help="The account exists: give it this password (its sessions end) and the admin role.",
)
@click.password_option(
    envvar="PASSLINE_ADMIN_PASSWORD",
    help="Password (prompted if not given; or set PASSLINE_ADMIN_PASSWORD).",
)
@with_appcontext
def create_admin_command(
    email, name, school_code, school_name, timezone, district, reset_password, password
):
    """Create an admin account (and, on a new install, the first school)."""
    problem = password_problem(password)
    if problem:
        raise click.BadParameter(problem, param_hint="password")
    if not school_code and not district:
        raise click.UsageError("Give --school CODE, or --district for a district admin.")
    try:
        school = None
        if school_code:
            try:
                school = schools.active_school_by_code(school_code)
            except NotFound:
                if not school_name:
                    raise click.UsageError(
                        f"No school with code {school_code!r}; add --school-name to create it "
                        "(or create it first with `flask school create`)."
                    ) from None
                school = schools.create_school(
                    actor=SYSTEM, name=school_name, code=school_code, timezone=timezone
                )
        user = create_admin(
            email=email,
            name=name,
            password=password,
            school_id=school.id if school else None,
            district=district,
            reset_password=reset_password,
        )
    except DomainError as error:
        raise _refusal(error) from error
    db.session.commit()
    where = f"at {school.name}" if school else "for the district"
    click.echo(f"Admin {user.email} is ready {where}.")


@click.group("school")
def school_cli():
    """The district's schools: list, create, rename, archive, restore."""


@school_cli.command("list")
@with_appcontext
def school_list_command():
    """Every school: code, time zone, status and name."""
    rows = schools.all_schools()
    if not rows:
        click.echo("No school yet: `flask school create --code LMS --name ... --timezone ...`.")
    for school in rows:
        status = "archived" if school.is_archived else "active"
        click.echo(f"{school.code}\t{school.timezone}\t{status}\t{school.name}")


def _timezone_option(required: bool):
    return click.option(
        "--timezone",
        required=required,
        help="IANA time zone, e.g. America/Chicago (`flask school timezones` lists them).",
    )


@school_cli.command("create")
@click.option("--code", required=True, help="Short code, e.g. LMS (letters, digits, - or _).")
@click.option("--name", required=True, help="The school's name.")
@_timezone_option(required=True)
@with_appcontext
def school_create_command(code, name, timezone):
    """Add a school."""
    try:
        school = schools.create_school(actor=SYSTEM, name=name, code=code, timezone=timezone)
    except DomainError as error:
        raise _refusal(error) from error
    db.session.commit()
    click.echo(f"School {school.code} ({school.name}, {school.timezone}) is created.")


@school_cli.command("update")
@click.argument("code")
@click.option("--name", help="New name.")
@click.option("--new-code", help="New short code.")
@_timezone_option(required=False)
@with_appcontext
def school_update_command(code, name, new_code, timezone):
    """Rename a school, or change its code or time zone."""
    try:
        school = _school_by_code(code)
        schools.update_school(
            school,
            actor=SYSTEM,
            name=name if name is not None else school.name,
            code=new_code if new_code is not None else school.code,
            timezone=timezone if timezone is not None else school.timezone,
        )
    except DomainError as error:
        raise _refusal(error) from error
    db.session.commit()
    click.echo(f"School {school.code} ({school.name}, {school.timezone}) is saved.")


@school_cli.command("archive")
@click.argument("code")
@with_appcontext
def school_archive_command(code):
    """Archive a school: hidden everywhere, nobody works there; its records are kept."""
    _set_archived(code, True)


@school_cli.command("restore")
@click.argument("code")
@with_appcontext
def school_restore_command(code):
    """Restore an archived school."""
    _set_archived(code, False)


@school_cli.command("import-orgs")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@_timezone_option(required=True)
@click.option("--dry-run", is_flag=True, help="Show what would be created; write nothing.")
@with_appcontext
def school_import_orgs_command(path, timezone, dry_run):
    """Create the schools of a OneRoster export's orgs.csv (then import each one's roster
    with `roster import PATH --school CODE`)."""
    from shared.roster.files import read_path

    try:
        done = schools.schools_from_orgs(read_path(path), timezone=timezone, actor=SYSTEM)
    except DomainError as error:
        raise _refusal(error) from error
    for action, school in done:
        click.echo(
            f"{'would be ' if dry_run and action != 'exists' else ''}{action}: "
            f"{school.code}\t{school.name}"
        )
    if not done:
        click.echo("orgs.csv lists no school.")
    if dry_run:
        db.session.rollback()
    else:
        db.session.commit()


@school_cli.command("timezones")
def school_timezones_command():
    """The time zones a school may have."""
    for _area, zones in schools.timezone_choices():
        for zone in zones:
            click.echo(zone)


def _school_by_code(code: str) -> School:
    """Any school, archived or not, by its code (for the commands that change it)."""
    school = db.session.scalar(
        select(School).where(func.upper(School.code) == code.strip().upper())
    )
    if school is None:
        raise NotFound(f"No school with code {code!r} (`flask school list` shows them).")
    return school


def _set_archived(code: str, archived: bool) -> None:
    try:
        school = _school_by_code(code)
        changed = schools.set_archived(school, archived, actor=SYSTEM)
    except DomainError as error:
        raise _refusal(error) from error
    db.session.commit()
    state = "archived" if archived else "active"
    click.echo(f"School {school.code} is {state}{'' if changed else ' already'}.")


@click.group("user")
def user_cli():
    """Staff accounts: unlock after failed sign-ins."""


@user_cli.command("unlock")
@click.argument("email")
@with_appcontext
def user_unlock_command(email):
    """Let an account locked by failed sign-ins sign in again now (audited)."""
    user = find_user_by_email(email)
    if user is None:
        raise click.ClickException(f"No account with the email {email}.")
    try:
        was_locked = unlock(user, actor=SYSTEM)
    except DomainError as error:
        raise _refusal(error) from error
    db.session.commit()
    click.echo(f"{user.email} is unlocked." if was_locked else f"{user.email} was not locked.")


@click.command("housekeeping")
@with_appcontext
def housekeeping_command():
    """Run the housekeeping jobs once (e.g. end overrun passes); safe to run from cron."""
    from flask import current_app

    from shared.housekeeping import run_jobs

    for name, changed in run_jobs(current_app._get_current_object()).items():
        click.echo(f"{name}: {changed}")


@click.command("purge")
@click.option("--dry-run", is_flag=True, help="Count what would be deleted; delete nothing.")
@with_appcontext
def purge_command(dry_run):
    """Delete records older than each school's retention periods (run it daily from cron)."""
    from shared.retention import purge_account_mail, purge_school, purge_sessions

    verb = "would delete" if dry_run else "deleted"
    for school in db.session.scalars(select(School).order_by(School.id)).all():
        code = school.code  # the batches' commits expire `school`

        def progress(name: str, count: int, code: str = code) -> None:
            click.echo(f"  {code} {name}: {verb} {count}")

        counts = purge_school(school, dry_run=dry_run, progress=progress)
        if not dry_run:
            db.session.commit()
        summary = ", ".join(f"{name} {count}" for name, count in counts.items())
        click.echo(f"{code}: {verb} {summary}")
    sessions = purge_sessions(dry_run=dry_run)
    links = purge_account_mail(dry_run=dry_run)
    if not dry_run:
        db.session.commit()
    click.echo(f"sign-in sessions: {verb} {sessions}")
    click.echo(f"sent mail and used links: {verb} {links}")


@click.command("backup")
@click.option(
    "--to", "target", required=True, type=click.Path(dir_okay=False), help="The backup file."
)
@with_appcontext
def backup_command(target):
    """Copy a SQLite database to a file, safely while passline runs (SQLite's online
    backup). PostgreSQL is backed up with its own tools: pg_dump (README, Backups)."""
    import os
    import sqlite3

    engine = db.engine
    if engine.dialect.name != "sqlite":
        raise click.ClickException(
            "This database is PostgreSQL: back it up with pg_dump --format=custom "
            '--file=passline.dump "$DATABASE_URL" (README, Backups).'
        )
    if os.path.exists(target):
        raise click.ClickException(f"{target} exists already: give a new file.")
    source = sqlite3.connect(engine.url.database)
    try:
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)  # page by page; writers wait only moments
        finally:
            copy.close()
    finally:
        source.close()
    os.chmod(target, 0o600)  # it holds the school's students and staff
    click.echo(f"backed up to {target}")


@click.command("static-root")
def static_root_command():
    """Print the folder the packages are installed in, for the reverse proxy to serve
    their static files from (`<it>/shared/static/`...: deploy/nginx/passline.conf)."""
    import os

    import shared

    click.echo(os.path.dirname(os.path.dirname(os.path.abspath(shared.__file__))))


# ------------------------------------------------------------------ the `passline` command


@click.command("serve", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("gunicorn_args", nargs=-1, type=click.UNPROCESSED)
def serve_command(gunicorn_args):
    """Serve passline with gunicorn and its packaged settings (shared/gunicorn_conf.py).

    Settings come from the environment (PASSLINE_BIND, WEB_CONCURRENCY, ...); any other
    arguments go to gunicorn as they are. The app is built once first, so a wrong setting
    is told here, before gunicorn starts any worker.
    """
    import os
    import sys

    from shared import create_app

    create_app()  # fails now, with its message, rather than in every worker
    command = [sys.executable, "-m", "gunicorn", "-c", "python:shared.gunicorn_conf"]
    os.execv(sys.executable, [*command, *gunicorn_args, "shared:create_app()"])  # noqa: S606


def _passline_app():
    from shared import create_app

    return create_app()


def main() -> None:
    """`passline ...`: the Flask commands of the app (no --app needed) and `serve`."""
    import os
    import sys

    from flask.cli import FlaskGroup

    from shared.config import ConfigurationError, require_persistent_instance

    # Said before any command runs: Flask would show a traceback, or "No such command".
    instance = Flask("shared", instance_path=os.environ.get("PASSLINE_INSTANCE_PATH") or None)
    try:
        require_persistent_instance(instance.instance_path)
    except ConfigurationError as error:
        click.echo(f"Error: {error}", err=True)
        sys.exit(2)
    group = FlaskGroup(
        name="passline",
        create_app=_passline_app,
        help="passline: hall passes and car line dismissal (commands for district IT).",
    )
    group.add_command(serve_command)
    group.main(prog_name="passline")

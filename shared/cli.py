"""District IT commands: `flask create-admin`, `demo`, `roster import`, `housekeeping`, `purge`."""

import click
from flask import Flask
from flask.cli import with_appcontext
from sqlalchemy import select

from shared.demo import demo_command
from shared.extensions import db
from shared.models import School
from shared.passwords import password_problem
from shared.roster_views import roster_cli
from shared.staff import create_admin
from shared.timeutil import is_valid_timezone


def register(app: Flask) -> None:
    app.cli.add_command(create_admin_command)
    app.cli.add_command(demo_command)
    app.cli.add_command(roster_cli)
    app.cli.add_command(housekeeping_command)
    app.cli.add_command(purge_command)


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
@click.password_option(
    envvar="PASSLINE_ADMIN_PASSWORD",
    help="Password (prompted if not given; or set PASSLINE_ADMIN_PASSWORD).",
)
def create_admin_command(email, name, school_code, school_name, timezone, district, password):
    """Create an admin account (and, on a new install, the first school)."""
    problem = password_problem(password)
    if problem:
        raise click.BadParameter(problem, param_hint="password")
    if not school_code and not district:
        raise click.UsageError("Give --school CODE, or --district for a district admin.")
    school = None
    if school_code:
        school = db.session.scalar(select(School).where(School.code == school_code))
        if school is None:
            if not school_name:
                raise click.UsageError(
                    f"No school with code {school_code!r}; add --school-name to create it."
                )
            if not is_valid_timezone(timezone):
                raise click.BadParameter(f"unknown time zone {timezone!r}", param_hint="timezone")
            school = School(name=school_name, code=school_code, timezone=timezone, settings={})
            db.session.add(school)
            db.session.flush()
    try:
        user = create_admin(
            email=email,
            name=name,
            password=password,
            school_id=school.id if school else None,
            district=district,
        )
    except Exception:
        db.session.rollback()
        raise
    db.session.commit()
    where = f"at {school.name}" if school else "for the district"
    click.echo(f"Admin {user.email} is ready {where}.")


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

    for school in db.session.scalars(select(School).order_by(School.id)).all():
        counts = purge_school(school)
        if dry_run:
            db.session.rollback()
        else:
            db.session.commit()
        summary = ", ".join(f"{name} {count}" for name, count in counts.items())
        click.echo(f"{school.code}: {'would delete' if dry_run else 'deleted'} {summary}")
    sessions = purge_sessions()
    links = purge_account_mail()
    if dry_run:
        db.session.rollback()
    else:
        db.session.commit()
    click.echo(f"sign-in sessions: {'would delete' if dry_run else 'deleted'} {sessions}")
    click.echo(f"sent mail and used links: {'would delete' if dry_run else 'deleted'} {links}")

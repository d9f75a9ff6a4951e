"""Hall pass commands for cron: `flask hallpass end-overrun`, `flask hallpass summarize`."""

import click
from sqlalchemy import select

from hallpass import bp, housekeeping
from hallpass.reports import summary
from shared.extensions import db
from shared.models import School


@bp.cli.command("end-overrun")
@click.option(
    "--school", "school_code", help="Only this school (its code); all schools if left out."
)
def end_overrun_command(school_code):
    """End passes past their period's end or the maximum duration; expire stale requests."""
    school_id = None
    if school_code:
        school_id = db.session.scalar(select(School.id).where(School.code == school_code))
        if school_id is None:
            raise click.BadParameter(f"no school with code {school_code!r}", param_hint="school")
    try:
        ended = housekeeping.end_overrun_passes(school_id=school_id)
        expired = housekeeping.expire_requests(school_id=school_id)
    except Exception:
        db.session.rollback()
        raise
    db.session.commit()
    click.echo(f"Ended {ended} overrun passes; {expired} requests expired or moved on.")


@bp.cli.command("summarize")
@click.option(
    "--school", "school_code", help="Only this school (its code); all schools if left out."
)
def summarize_command(school_code):
    """Summarize every closed day the reports' daily summary lacks (housekeeping does a
    few each run; this does them all, e.g. after loading a year of history)."""
    school_id = None
    if school_code:
        school_id = db.session.scalar(select(School.id).where(School.code == school_code))
        if school_id is None:
            raise click.BadParameter(f"no school with code {school_code!r}", param_hint="school")
    try:
        done = summary.summarize_closed_days(school_id=school_id, budget_seconds=None)
    except Exception:
        db.session.rollback()
        raise
    db.session.commit()
    click.echo(f"Summarized {done} closed days.")

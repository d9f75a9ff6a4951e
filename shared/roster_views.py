"""Roster import from the admin pages (upload, preview, apply) and `flask roster import`.

An upload is kept under the instance folder as `imports/<random token>.<csv|zip>`
(mode 0600, never under its own name) with a JSON sidecar naming its school, so a
token of another school finds nothing. Preview and apply both read and check the file
again: the data may have changed in between. The work itself is in `shared.roster`.
A file that cannot be read shows the upload form again with the reason next to the
field; an apply that would deactivate `CONFIRM_DEACTIVATIONS` students or more needs
the admin to confirm that number (the preview asks, saying how many).
"""

import io
from pathlib import Path

import click
from flask import (
    Blueprint,
    after_this_request,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext
from werkzeug.exceptions import RequestEntityTooLarge

from shared import roster
from shared.access import access
from shared.database import ROSTER_TABLES, refresh_statistics
from shared.errorpages import render_error
from shared.errors import DomainError, InvalidInput, rerender
from shared.extensions import db
from shared.models import School

bp = Blueprint("roster", __name__, url_prefix="/admin/roster")

#: Changes listed per kind and action on the preview page (the counts are always complete).
PREVIEW_LIMIT = 200
#: Row errors (and row warnings) listed on the preview page.
ERROR_LIMIT = 500
#: An apply that deactivates this many students or more asks to confirm the number.
CONFIRM_DEACTIVATIONS = 10


def _imports_folder() -> Path:
    return Path(current_app.instance_path) / "imports"


def _plan(bundle) -> roster.Plan:
    """A school admin's import invites accounts of elsewhere; a district admin's adds them."""
    return roster.plan_import(
        g.principal.school, bundle, attach_accounts=g.principal.user.is_district_admin
    )


def _confirm_count(plan: roster.Plan) -> int | None:
    """How many deactivated students the admin must confirm, or None (too few to ask)."""
    count = plan.students_deactivated()
    return count if count >= CONFIRM_DEACTIVATIONS else None


def _render_preview(plan: roster.Plan, token: str, status: int = 200, confirm_error=None):
    return render_template(
        "admin/roster_preview.html",
        plan=plan,
        token=token,
        kind_labels=roster.KIND_LABELS,
        kind_actions=roster.KIND_ACTIONS,
        preview_limit=PREVIEW_LIMIT,
        error_limit=ERROR_LIMIT,
        confirm_count=_confirm_count(plan),
        confirm_error=confirm_error,
    ), status


@bp.route("/")
@access("admin")
def index():
    """The upload form, with the file formats and sample files."""
    return render_template("admin/roster.html", **_form())


@bp.route("/upload", methods=["POST"])
@access("admin")
def upload():
    """Keep an uploaded roster file and go to its preview."""
    file = request.files.get("file")
    try:
        if file is None or not file.filename:
            raise InvalidInput(_("Choose a .csv or .zip file to upload."), field="file")
        token = roster.store_upload(
            _imports_folder(),
            file.read(),
            file.filename,
            school_id=g.principal.school_id,
            user_id=g.principal.user.id,
        )
    except DomainError as error:
        return rerender("admin/roster.html", error, **_form())
    return redirect(url_for("roster.preview", token=token))


def _form() -> dict:
    """What the upload form shows: the kinds of CSV file and the largest upload."""
    return {"kinds": roster.CSV_KINDS, "max_mb": _upload_mb()}


def _upload_mb() -> int:
    """The largest upload (MAX_UPLOAD_MB), in whole MB."""
    return -(-current_app.config["MAX_CONTENT_LENGTH"] // 2**20)


@bp.errorhandler(RequestEntityTooLarge)
def too_large(_error):
    """An upload over MAX_UPLOAD_MB (refused while the request is read, before the view):
    say how large a file may be, and where a district's export goes instead."""
    return render_error(
        413,
        _(
            "The file is larger than %(num)d MB, the most this server takes in an upload "
            "(district IT can raise MAX_UPLOAD_MB). A district's export of every school is "
            "imported by district IT with flask roster import --district.",
            num=_upload_mb(),
        ),
    )


@bp.route("/preview/<token>")
@access("admin")
def preview(token: str):
    """The dry run of a stored upload: changes, row errors and warnings."""
    _upload, bundle = roster.load_upload(_imports_folder(), token, school_id=g.principal.school_id)
    return _render_preview(_plan(bundle), token)


@bp.route("/apply/<token>", methods=["POST"])
@access("admin")
def apply(token: str):
    """Check the stored upload again and import it; the file is deleted once it is in."""
    folder, school_id = _imports_folder(), g.principal.school_id
    _upload, bundle = roster.load_upload(folder, token, school_id=school_id)
    plan = _plan(bundle)
    if not plan.ok:
        flash(
            _("The file has errors, so nothing was imported. Fix them and upload again."), "error"
        )
        return _render_preview(plan, token, 400)
    wanted = _confirm_count(plan)
    if wanted is not None and request.form.get("confirm_deactivations") != str(wanted):
        db.session.rollback()
        return _render_preview(
            plan,
            token,
            400,
            confirm_error=ngettext(
                "Nothing was imported: confirm that %(num)d student is deactivated, "
                "or fix the file.",
                "Nothing was imported: confirm that %(num)d students are deactivated, "
                "or fix the file.",
                wanted,
            ),
        )
    roster.apply_import(plan, source="upload")
    linked = plan.link_line(done=True)

    @after_this_request
    def _discard(response):
        if response.status_code < 400:
            roster.discard_upload(folder, token, school_id=school_id)
        return response

    flash(_("Roster imported. %(summary)s.", summary="; ".join(plan.summary_lines())), "success")
    if linked:
        flash(linked, "info")
    return redirect(url_for("admin.index"))


@bp.route("/discard/<token>", methods=["POST"])
@access("admin")
def discard(token: str):
    """Delete a stored upload without importing it."""
    roster.discard_upload(_imports_folder(), token, school_id=g.principal.school_id)
    flash(_("The upload was deleted; nothing was imported."), "info")
    return redirect(url_for("roster.index"))


@bp.route("/sample/<name>.zip")
@access("admin")
def sample(name: str):
    """Download a sample set ("oneroster", "oneroster-1.2", "csv"...) as a zip file."""
    return send_file(
        io.BytesIO(roster.sample_zip(name)),
        mimetype="application/zip",
        as_attachment=True,
        download_name=f"passline-sample-{name}.zip",
    )


# --------------------------------------------------------------------------- command line

#: Changes listed per kind and action by `flask roster import --dry-run`.
CLI_LIST_LIMIT = 50


@click.group("roster")
def roster_cli() -> None:
    """Roster import from passline CSV files or a OneRoster export (one school, or a district)."""


@roster_cli.command("import")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--school", "school_code", help="Code of the school (optional with one school).")
@click.option(
    "--org",
    "org_sourced_id",
    help="OneRoster sourcedId of the school's org, when the export holds several schools.",
)
@click.option(
    "--district",
    is_flag=True,
    help="Import every school org of orgs.csv into its own school (matched by the org's "
    "sourcedId), each in a transaction of its own.",
)
@click.option(
    "--create-schools",
    is_flag=True,
    help="With --district: create the school of an org that has none (name and code from "
    "orgs.csv; give --timezone).",
)
@click.option("--timezone", help="With --create-schools: the time zone of the new schools.")
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
def import_command(
    path: Path,
    school_code: str | None,
    org_sourced_id: str | None,
    district: bool,
    create_schools: bool,
    timezone: str | None,
    dry_run,
):
    """Import PATH (a .zip, a .csv file or a directory of CSV files) into one school, or
    (--district) a district's OneRoster export into each of its schools."""
    if district:
        _import_district(path, school_code, org_sourced_id, create_schools, timezone, dry_run)
        return
    if create_schools:
        raise click.UsageError("--create-schools goes with --district.")
    school = _cli_school(school_code)
    try:
        bundle = roster.read_path(path)
    except roster.RosterFileError as error:
        raise click.ClickException(error.message) from None
    plan = roster.plan_import(school, bundle, org_sourced_id=org_sourced_id)
    click.echo(f"{school.name} ({school.code}), {plan.format} import:")
    for line in plan.summary_lines():
        click.echo(f"  {line}")
    for warning in plan.warnings:
        click.echo(f"Warning: {warning}")
    for warning in plan.row_warnings:
        click.echo(f"Warning: {warning} (not imported)")
    if dry_run and plan.link_line(done=False):
        click.echo(plan.link_line(done=False))
    if dry_run and plan.ok:
        _echo_changes(plan)
    if not plan.ok:
        db.session.rollback()
        for error in plan.errors:
            click.echo(f"Error: {error}", err=True)
        noun = "error" if len(plan.errors) == 1 else "errors"
        click.echo(f"{len(plan.errors)} {noun}: nothing was imported.", err=True)
        raise click.exceptions.Exit(1)
    if dry_run:
        db.session.rollback()
        click.echo("Dry run: nothing was written.")
        return
    roster.apply_import(plan, source="cli")
    db.session.commit()
    refresh_statistics(db.session, ROSTER_TABLES)
    click.echo("Imported.")
    if plan.link_line(done=True):
        click.echo(plan.link_line(done=True))


#: Row errors printed per school by a district import (their count is always given).
CLI_ERROR_LIMIT = 20
_DISTRICT_STATUS = {
    "imported": "imported",
    "checked": "would be imported (dry run)",
    "errors": "NOT imported, the file has errors for it",
    "refused": "NOT imported",
}


def _import_district(path, school_code, org_sourced_id, create_schools, timezone, dry_run):
    from shared.audit import SYSTEM
    from shared.roster.district import import_district

    if school_code or org_sourced_id:
        raise click.UsageError("--district imports every school org: leave out --school and --org.")
    if create_schools and not timezone:
        raise click.UsageError("--create-schools needs --timezone (orgs.csv has none).")
    try:
        bundle = roster.read_path(path)
        outcomes = import_district(
            bundle,
            actor=SYSTEM,
            dry_run=dry_run,
            create_schools=create_schools,
            timezone=timezone or "America/New_York",
            on_school=_echo_outcome,
        )
    except DomainError as error:
        db.session.rollback()
        raise click.ClickException(error.message) from None
    done = sum(o.status in ("imported", "checked") for o in outcomes)
    failed = len(outcomes) - done
    verb = "would be imported" if dry_run else "imported"
    click.echo(f"{len(outcomes)} school orgs: {done} {verb}, {failed} not imported.")
    if dry_run:
        click.echo("Dry run: nothing was written.")
    elif done:
        refresh_statistics(db.session, ROSTER_TABLES)
    if failed:
        raise click.exceptions.Exit(1)


def _echo_outcome(outcome) -> None:
    org = outcome.org
    school = f"{outcome.school[1]} ({outcome.school[0]})" if outcome.school else org.name
    made = {"created": ", school created", "linked": ", school linked to the org"}
    note = made.get(outcome.school_action or "", "")
    click.echo(f"{school}, org {org.sourced_id}: {_DISTRICT_STATUS[outcome.status]}{note}")
    if outcome.message:
        click.echo(f"  Error: {outcome.message}", err=True)
    for line in outcome.summary:
        click.echo(f"  {line}")
    for warning in outcome.warnings:
        click.echo(f"  Warning: {warning}")
    for error in outcome.errors[:CLI_ERROR_LIMIT]:
        click.echo(f"  Error: {error}", err=True)
    if len(outcome.errors) > CLI_ERROR_LIMIT:
        click.echo(f"  ... and {len(outcome.errors) - CLI_ERROR_LIMIT} more errors", err=True)


def _cli_school(code: str | None) -> School:
    """The school `--school CODE` names (archived ones refused), or the only one."""
    from shared.errors import DomainError
    from shared.schools import active_school_by_code, all_schools

    if code:
        try:
            return active_school_by_code(code)
        except DomainError as error:
            raise click.UsageError(error.message) from error
    schools = all_schools(include_archived=False)
    if len(schools) != 1:
        raise click.UsageError(
            "Give --school CODE: the database does not hold exactly one school "
            "(`flask school list` shows them, `flask school create` adds one)."
        )
    return schools[0]


def _echo_changes(plan: roster.Plan) -> None:
    for kind, changes in plan.kinds.items():
        for action in roster.KIND_ACTIONS[kind]:
            listed = getattr(changes, action)
            for change in listed[:CLI_LIST_LIMIT]:
                detail = f" ({change.detail})" if change.detail else ""
                click.echo(f"  {action} {roster.KIND_LABELS[kind].lower()}: {change.label}{detail}")
            if len(listed) > CLI_LIST_LIMIT:
                click.echo(f"  ... and {len(listed) - CLI_LIST_LIMIT} more {action}")

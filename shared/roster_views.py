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

from shared import roster
from shared.access import access
from shared.database import ROSTER_TABLES, refresh_statistics
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
    return render_template("admin/roster.html", kinds=roster.CSV_KINDS)


@bp.route("/upload", methods=["POST"])
@access("admin")
def upload():
    """Keep an uploaded roster file and go to its preview."""
    file = request.files.get("file")
    try:
        if file is None or not file.filename:
            raise InvalidInput("Choose a .csv or .zip file to upload.", field="file")
        token = roster.store_upload(
            _imports_folder(),
            file.read(),
            file.filename,
            school_id=g.principal.school_id,
            user_id=g.principal.user.id,
        )
    except DomainError as error:
        return rerender("admin/roster.html", error, kinds=roster.CSV_KINDS)
    return redirect(url_for("roster.preview", token=token))


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
        flash("The file has errors, so nothing was imported. Fix them and upload again.", "error")
        return _render_preview(plan, token, 400)
    wanted = _confirm_count(plan)
    if wanted is not None and request.form.get("confirm_deactivations") != str(wanted):
        db.session.rollback()
        return _render_preview(
            plan,
            token,
            400,
            confirm_error=f"Nothing was imported: confirm that {wanted} students are "
            "deactivated, or fix the file.",
        )
    roster.apply_import(plan, source="upload")
    linked = plan.link_line(done=True)

    @after_this_request
    def _discard(response):
        if response.status_code < 400:
            roster.discard_upload(folder, token, school_id=school_id)
        return response

    flash("Roster imported. " + "; ".join(plan.summary_lines()) + ".", "success")
    if linked:
        flash(linked, "info")
    return redirect(url_for("admin.index"))


@bp.route("/discard/<token>", methods=["POST"])
@access("admin")
def discard(token: str):
    """Delete a stored upload without importing it."""
    roster.discard_upload(_imports_folder(), token, school_id=g.principal.school_id)
    flash("The upload was deleted; nothing was imported.", "info")
    return redirect(url_for("roster.index"))


@bp.route("/sample/<name>.zip")
@access("admin")
def sample(name: str):
    """Download a sample set ("oneroster" or "csv") as a zip file."""
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
    """Roster import from passline CSV files or a OneRoster v1.1 export."""


@roster_cli.command("import")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--school", "school_code", help="Code of the school (optional with one school).")
@click.option(
    "--org",
    "org_sourced_id",
    help="OneRoster sourcedId of the school's org, when the export holds several schools.",
)
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
def import_command(path: Path, school_code: str | None, org_sourced_id: str | None, dry_run):
    """Import PATH (a .zip, a .csv file or a directory of CSV files) into one school."""
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

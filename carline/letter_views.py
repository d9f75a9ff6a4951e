"""Office views of family codes: print a letter home, print many, revoke a code.

Thin views over `carline.letters` and `shared.family_codes`. A letter is a POST that
issues the code and answers with the PDF itself (the code exists only in that
answer), sent `no-store` so no cache keeps it.
"""

from __future__ import annotations

from flask import Response, flash, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from carline import bp
from carline.family_views import families_context, render_family
from carline.guardians import family_guardian
from carline.letters import letter_for, letters_without_email
from carline.settings import carline_settings
from shared.access import access, school_record
from shared.audit import current_actor
from shared.errors import DomainError, rerender
from shared.extensions import db
from shared.family_codes import revoke_code
from shared.forms import parse_int_list
from shared.models import Family
from shared.schedule import school_today

OFFICE = ("admin", "office")


def _pdf(letters, filename: str) -> Response:
    # fpdf2 takes half a second to import: a process loads it when it makes its first PDF.
    from carline.letter_pdf import letters_pdf

    school = g.principal.school
    body = letters_pdf(
        school.name, carline_settings(school).office_phone, letters, school_today(school)
    )
    return Response(
        body,
        mimetype="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


def _guardian(family_id: int, guardian_id: int):
    school = g.principal.school
    family = school_record(Family, family_id, school.id, _("No such family."))
    return family_guardian(school, family, guardian_id)


@bp.route("/families/<int:family_id>/guardians/<int:guardian_id>/letter.pdf", methods=["POST"])
@access(*OFFICE)
def guardian_letter(family_id: int, guardian_id: int):
    """A letter home with a new family code for this guardian (the old code stops working)."""
    guardian = _guardian(family_id, guardian_id)
    try:
        letter = letter_for(g.principal.school, current_actor(), guardian)
    except DomainError as error:
        db.session.rollback()
        return render_family(guardian.family, error=error), error.status_code
    return _pdf([letter], f"family-code-{letter.tag_number}.pdf")


@bp.route("/families/<int:family_id>/guardians/<int:guardian_id>/code/revoke", methods=["POST"])
@access(*OFFICE)
def guardian_code_revoke(family_id: int, guardian_id: int):
    """Revoke the guardian's family code: it stops working, its phones are signed out."""
    guardian = _guardian(family_id, guardian_id)
    ended = revoke_code(g.principal.school, current_actor(), guardian)
    flash(
        ngettext(
            "%(name)s's family code no longer works; %(num)d phone signed out.",
            "%(name)s's family code no longer works; %(num)d phones signed out.",
            ended,
            name=guardian.name,
        ),
        "success",
    )
    return redirect(url_for("carline.family", family_id=family_id))


@bp.route("/families/letters.pdf", methods=["POST"])
@access(*OFFICE)
def family_letters():
    """Letters home for every guardian without email or code, of the selected families
    (all the school's when none is selected)."""
    try:
        selection = parse_int_list(
            request.form.getlist("family"), field="family", label=_("Families")
        )
        letters = letters_without_email(g.principal.school, current_actor(), selection or None)
    except DomainError as error:
        return rerender("carline/families/list.html", error, reload=families_context)
    return _pdf(letters, "family-code-letters.pdf")

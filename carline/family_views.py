"""Car line office views: families, the students on their tags, and printing hang tags.

Thin views: they parse the form, check who is asking and call `carline.families`.
Searches for students and families are POST forms, so names never reach a URL.

Why one module: these are the routes of one office screen, the family screen (its
students, tag, guardians, phones and carpools) and the hang tag pages it links to; each
view is a few lines. The tag printing routes (`tags_*`) are the ones to move out first if
it grows; the letters home already have `carline.letter_views`.
"""

from __future__ import annotations

from flask import Response, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from carline import bp, carpools, letters
from carline.families import (
    BLOCK_REASON_LENGTH,
    SEARCH_LIMIT,
    TAGS_PER_PAGE,
    add_family_student,
    block_tag_number,
    blocked_numbers,
    create_family,
    families_without_tag,
    issue_missing_tags,
    issue_tag,
    list_families,
    live_tag,
    next_tag_number,
    remove_family_student,
    replace_lost_tag,
    search_families,
    set_family_active,
    tags_to_print,
    unblock_tag_number,
    update_family,
)
from carline.guardians import add_guardian, family_guardian, remove_guardian, update_guardian
from carline.pickup import pickup_list
from shared import mail
from shared.access import access, school_record
from shared.audit import current_actor
from shared.errors import DomainError, InvalidInput, rerender
from shared.extensions import db
from shared.family_codes import live_codes
from shared.family_sessions import end_session, family_session, open_sessions
from shared.forms import parse_int, parse_int_list
from shared.guardians import GuardianFields, clean_fields, guardians_of
from shared.models import GUARDIAN_LANGUAGE_LABELS, Family, Student
from shared.qr import qr_svg
from shared.students import search_students

OFFICE = ("admin", "office")


def _school():
    return g.principal.school


def _family(family_id: object) -> Family:
    """A family of the caller's school (404 for any other id)."""
    return school_record(Family, family_id, _school().id, _("No such family."))


def _student(student_id: object) -> Student:
    """A student of the caller's school (404 for any other id)."""
    return school_record(Student, student_id, _school().id, _("No such student."))


def _tag_number() -> int:
    return parse_int(request.form.get("tag_number"), field="tag_number", label=_("Tag number"))


@bp.route("/families", methods=["GET", "POST"])
@access(*OFFICE)
def families():
    """The school's families by tag number; POST searches by name, adult or number."""
    search = request.form.get("q", "").strip()[:100] if request.method == "POST" else ""
    return render_template("carline/families/list.html", **families_context(search))


def families_context(search: str = "") -> dict:
    """What the families page shows: the list (or a search's answer) and the new-family form."""
    school = _school()
    include_inactive = request.values.get("inactive") == "1"
    page = max(request.args.get("page", 1, type=int), 1)
    if search:
        rows, has_more = search_families(school, search), False
    else:
        rows, has_more = list_families(school, include_inactive=include_inactive, page=page)
    return {
        "rows": rows,
        "search": search,
        "page": page,
        "has_more": has_more,
        "include_inactive": include_inactive,
        "next_tag": next_tag_number(school),
        "without_tag": families_without_tag(school),
        "letters_needed": letters.count_needing_letters(school),
        "max_letters": letters.MAX_LETTERS,
    }


@bp.route("/families/new", methods=["POST"])
@access(*OFFICE)
def family_new():
    """Create a family with a tag number unique in the school (a refusal shows the form again)."""
    form = {k: request.form.get(k, "") for k in ("tag_number", "pickup_adults")}
    try:
        family = create_family(
            _school(),
            current_actor(),
            tag_number=_tag_number(),
            pickup_adults=form["pickup_adults"],
        )
    except DomainError as error:
        return rerender("carline/families/list.html", error, reload=families_context, new_form=form)
    flash(
        _("Family with tag %(number)s created. Add its students.", number=family.tag_number),
        "success",
    )
    return redirect(url_for("carline.family", family_id=family.id))


def render_family(
    family: Family,
    *,
    found=None,
    search: str = "",
    error: DomainError | None = None,
    form: dict | None = None,
    guardian_form=None,
    carpool_form=None,
):
    guardians = guardians_of(family)
    return render_template(
        "carline/families/family.html",
        family=family,
        carpools=carpools.agreements_of(family),
        carpool_form=carpool_form,
        tag=live_tag(family),
        guardians=guardians,
        # -- the last mail to each guardian, and how it went (shared/mail.py)
        mails={
            guardian_id: mail.status_of(sent)
            for guardian_id, sent in mail.latest_by_guardian([x.id for x in guardians]).items()
        },
        phones=open_sessions(family),
        codes=live_codes(family),
        pickup=pickup_list(family),
        languages=GUARDIAN_LANGUAGE_LABELS,
        found=found,
        search=search,
        error=error.message if error else None,
        error_field=error.field if error else None,
        edit_form=form,
        form=guardian_form,
    )


@bp.route("/families/<int:family_id>")
@access(*OFFICE)
def family(family_id: int):
    """A family: its students, authorized adults, tag number and hang tag."""
    return render_family(_family(family_id))


@bp.route("/families/<int:family_id>/find-students", methods=["POST"])
@access(*OFFICE)
def family_find_students(family_id: int):
    """Search students of this school to add to the family (names stay in the POST body)."""
    school = _school()
    found_family = _family(family_id)
    search = request.form.get("q", "").strip()[:100]
    found = search_students(school, search, limit=SEARCH_LIMIT)
    return render_family(found_family, found=found, search=search)


@bp.route("/families/<int:family_id>/edit", methods=["POST"])
@access(*OFFICE)
def family_edit(family_id: int):
    """Change the family's tag number or authorized pickup adults."""
    school = _school()
    found_family = _family(family_id)
    form = {k: request.form.get(k, "") for k in ("tag_number", "pickup_adults")}
    form["release_note"] = request.form.get("release_note")  # None: the note stays
    try:
        update_family(
            school,
            current_actor(),
            found_family,
            tag_number=_tag_number(),
            pickup_adults=form["pickup_adults"],
            release_note=form["release_note"],
        )
    except DomainError as error:
        db.session.rollback()
        found_family = _family(family_id)
        return render_family(found_family, error=error, form=form), error.status_code
    flash(_("Family saved."), "success")
    return redirect(url_for("carline.family", family_id=family_id))


@bp.route("/families/<int:family_id>/active", methods=["POST"])
@access(*OFFICE)
def family_active(family_id: int):
    """Deactivate the family (its tag stops working) or bring it back."""
    school = _school()
    active = request.form.get("active")
    if active not in ("0", "1"):
        raise InvalidInput(_("Choose to deactivate or reactivate."))
    found_family = set_family_active(school, current_actor(), _family(family_id), active == "1")
    number = found_family.tag_number
    if found_family.active:
        flash(_("Family with tag %(number)s is active again.", number=number), "success")
    else:
        flash(
            _("Family with tag %(number)s is deactivated: its tag no longer works.", number=number),
            "success",
        )
    return redirect(url_for("carline.family", family_id=family_id))


@bp.route("/families/<int:family_id>/students", methods=["POST"])
@access(*OFFICE)
def family_student_add(family_id: int):
    """Put a student on the family's tag."""
    school = _school()
    found_family = _family(family_id)
    student = _student(request.form.get("student_id"))
    add_family_student(school, current_actor(), found_family, student)
    flash(_("Student added to this tag."), "success")
    return redirect(url_for("carline.family", family_id=family_id))


@bp.route("/families/<int:family_id>/students/<int:student_id>/remove", methods=["POST"])
@access(*OFFICE)
def family_student_remove(family_id: int, student_id: int):
    """Take a student off the family's tag."""
    school = _school()
    student = _student(student_id)
    remove_family_student(school, current_actor(), _family(family_id), student)
    flash(_("Student removed from this tag."), "success")
    return redirect(url_for("carline.family", family_id=family_id))


@bp.route("/families/<int:family_id>/tag", methods=["POST"])
@access(*OFFICE)
def family_tag(family_id: int):
    """Issue (or reprint) the family's hang tag; the previous one stops working."""
    school = _school()
    found_family = _family(family_id)
    if not found_family.active:
        raise InvalidInput(_("Reactivate the family before printing its tag."))
    issue_tag(school, found_family, actor=current_actor())
    flash(_("New hang tag issued: the old one no longer works. Print it now."), "success")
    return redirect(url_for("carline.tags_print", family=family_id))


@bp.route("/families/<int:family_id>/tag/lost", methods=["POST"])
@access(*OFFICE)
def family_tag_lost(family_id: int):
    """A lost tag: block its number, give the family a new number and print its new tag."""
    found_family = _family(family_id)
    old = found_family.tag_number
    replace_lost_tag(_school(), found_family, actor=current_actor())
    flash(
        _(
            "Tag %(old)s is blocked: neither its QR code nor its number calls anyone. The"
            " family's new number is %(new)s. Print the new tag now.",
            old=old,
            new=found_family.tag_number,
        ),
        "success",
    )
    return redirect(url_for("carline.tags_print", family=family_id))


# Guardians


def _guardian_fields() -> GuardianFields:
    form = request.form
    return clean_fields(
        name=form.get("name"),
        email=form.get("email"),
        mobile=form.get("mobile"),
        language=form.get("language"),
        relationship=form.get("relationship"),
        may_pick_up=form.get("may_pick_up") == "1",
        note=form.get("note"),
    )


def _guardian_failed(family_id: int, error: DomainError):
    db.session.rollback()
    return render_family(_family(family_id), error=error, guardian_form=request.form), (
        error.status_code
    )


@bp.route("/families/<int:family_id>/guardians", methods=["POST"])
@access(*OFFICE)
def family_guardian_add(family_id: int):
    """Add a guardian to the family (who may pick up, how to reach them)."""
    found_family = _family(family_id)
    try:
        guardian = add_guardian(_school(), current_actor(), found_family, _guardian_fields())
    except DomainError as error:
        return _guardian_failed(family_id, error)
    flash(_("%(name)s added.", name=guardian.name), "success")
    return redirect(url_for("carline.family", family_id=family_id))


@bp.route("/families/<int:family_id>/guardians/<int:guardian_id>", methods=["POST"])
@access(*OFFICE)
def family_guardian_edit(family_id: int, guardian_id: int):
    """Change a guardian's details."""
    school = _school()
    guardian = family_guardian(school, _family(family_id), guardian_id)
    try:
        update_guardian(school, current_actor(), guardian, _guardian_fields())
    except DomainError as error:
        return _guardian_failed(family_id, error)
    flash(_("%(name)s saved.", name=guardian.name), "success")
    return redirect(url_for("carline.family", family_id=family_id))


@bp.route("/families/<int:family_id>/guardians/<int:guardian_id>/remove", methods=["POST"])
@access(*OFFICE)
def family_guardian_remove(family_id: int, guardian_id: int):
    """Remove a guardian from the family."""
    school = _school()
    guardian = family_guardian(school, _family(family_id), guardian_id)
    name = guardian.name
    remove_guardian(school, current_actor(), guardian)
    flash(_("%(name)s removed.", name=name), "success")
    return redirect(url_for("carline.family", family_id=family_id))


@bp.route("/families/<int:family_id>/phones/<int:session_id>/end", methods=["POST"])
@access(*OFFICE)
def family_phone_end(family_id: int, session_id: int):
    """End a guardian's family session on one phone (it is refused from its next request)."""
    found = family_session(_family(family_id), session_id)
    end_session(found, "office", actor=current_actor())
    flash(_("%(name)s's phone is signed out.", name=found.guardian.name), "success")
    return redirect(url_for("carline.family", family_id=family_id))


# Carpools


@bp.route("/families/<int:family_id>/carpools", methods=["POST"])
@access(*OFFICE)
def family_carpool_add(family_id: int):
    """Set up a carpool of this family with another family of the school (active at once)."""
    found_family = _family(family_id)
    try:
        number = parse_int(
            request.form.get("carpool_tag"), field="carpool_tag", label=_("Tag number")
        )
        carpools.set_up(_school(), current_actor(), found_family, number)
    except DomainError as error:
        db.session.rollback()
        error.field = "carpool_tag"  # said at the carpool form, not at the tag number
        return render_family(
            _family(family_id), error=error, carpool_form=request.form
        ), error.status_code
    flash(_("Carpool with tag %(number)s set up.", number=number), "success")
    return redirect(url_for("carline.family", family_id=family_id, _anchor="carpools"))


@bp.route("/families/<int:family_id>/carpools/<int:agreement_id>/end", methods=["POST"])
@access(*OFFICE)
def family_carpool_end(family_id: int, agreement_id: int):
    """End a carpool of this family (or decline a proposal); its plans from today on go."""
    school = _school()
    found_family = _family(family_id)
    agreement = carpools.office_agreement(school, found_family, agreement_id)
    removed = carpools.end(school, current_actor(), agreement)
    other = agreement.other(found_family.id).tag_number
    flash(
        ngettext(
            "Carpool with tag %(tag)s ended; %(num)d plan that used it is taken back.",
            "Carpool with tag %(tag)s ended; %(num)d plans that used it are taken back.",
            removed,
            tag=other,
        ),
        "success",
    )
    return redirect(url_for("carline.family", family_id=family_id, _anchor="carpools"))


# Blocked tag numbers


def _blocked_context() -> dict:
    return {"blocked": blocked_numbers(_school()), "reason_length": BLOCK_REASON_LENGTH}


@bp.route("/tags/blocked", methods=["GET", "POST"])
@access(*OFFICE)
def tags_blocked():
    """Blocked tag numbers (lost tags): the curb refuses them. POST blocks one more."""
    if request.method == "GET":
        return render_template("carline/tags/blocked.html", **_blocked_context())
    number, reason = request.form.get("tag_number"), request.form.get("reason", "")
    try:
        block = block_tag_number(
            _school(),
            current_actor(),
            parse_int(number, field="tag_number", label=_("Tag number")),
            reason,
        )
    except DomainError as error:
        return rerender(
            "carline/tags/blocked.html",
            error,
            reload=_blocked_context,
            tag_number=number,
            reason=reason,
        )
    flash(_("Tag %(number)s is blocked: the curb refuses it.", number=block.tag_number), "success")
    return redirect(url_for("carline.tags_blocked"))


@bp.route("/tags/blocked/<int:tag_number>/unblock", methods=["POST"])
@access(*OFFICE)
def tags_unblock(tag_number: int):
    """Lift a block (the tag was found, or blocked by mistake)."""
    unblock_tag_number(_school(), current_actor(), tag_number)
    flash(_("Tag %(number)s works again.", number=tag_number), "success")
    return redirect(url_for("carline.tags_blocked"))


# Hang tags


def _selection() -> list[int] | None:
    """The families chosen for printing (None: all of the school's)."""
    ids = parse_int_list(request.values.getlist("family"), field="family", label=_("Families"))
    return ids or None


@bp.route("/tags/print")
@access(*OFFICE)
def tags_print():
    """Printable hang tags: several per letter page, number, QR and school name only."""
    school = _school()
    selection = _selection()
    tags = tags_to_print(school, selection)
    cards = [(number, qr_svg(token)) for number, token in tags]
    sheets = [cards[i : i + TAGS_PER_PAGE] for i in range(0, len(cards), TAGS_PER_PAGE)]
    return render_template(
        "carline/tags/print.html",
        sheets=sheets,
        count=len(cards),
        selection=selection or [],
        without_tag=families_without_tag(school, selection),
    )


@bp.route("/tags.pdf")
@access(*OFFICE)
def tags_pdf_download():
    """The same hang tags as a PDF download."""
    # fpdf2 takes half a second to import: a process loads it when it makes its first PDF.
    from carline.tag_pdf import tags_pdf

    school = _school()
    tags = tags_to_print(school, _selection())
    if not tags:
        raise InvalidInput(_("No hang tags to print: issue tags first."))
    return Response(
        tags_pdf(school.name, tags),
        mimetype="application/pdf",
        headers={
            "Content-Disposition": 'attachment; filename="hang-tags.pdf"',
            "Cache-Control": "no-store",
        },
    )


@bp.route("/tags/issue", methods=["POST"])
@access(*OFFICE)
def tags_issue():
    """Issue tags to the chosen (or all) active families that have none yet."""
    selection = _selection()
    issued = issue_missing_tags(_school(), current_actor(), selection)
    flash(ngettext("%(num)d hang tag issued.", "%(num)d hang tags issued.", issued), "success")
    return redirect(url_for("carline.tags_print", family=selection or None))

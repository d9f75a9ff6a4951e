"""Reunification views: the request gate, the runners' queue and the release gate.

Routes of the emergency blueprint (shared/emergency_views.py), over the services of
shared/reunification.py. Any staff member of the school may work a gate; only an
administrator may release to an adult who is not on the list (with a reason).
"""

from __future__ import annotations

import secrets

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from shared import emergencies, emergency_roll, live, reunification
from shared.access import access, school_record
from shared.audit import current_actor
from shared.emergency_views import STAFF, bp, running
from shared.models import SchoolClass, Student
from shared.students import search_text


@bp.route("/gate")
@access(*STAFF)
def gate():
    """The request gate: find a student by name or number, or by an adult's name."""
    school = g.principal.school
    event = running()
    text = search_text(request.args.get("q", ""))
    found = reunification.lookup(school, text) if len(text) >= 2 else []
    status = {
        s.id: reunification.release_of(event, s.id) or reunification.waiting_request(event, s.id)
        for s in found
    }
    return render_template("emergency/gate.html", event=event, q=text, found=found, status=status)


def _render_request(event, student: Student, *, form=None, error=None, done=None):
    siblings = []
    may_take = reunification.who_may_take(student)
    if may_take.sibling_ids:
        siblings = [school_record(Student, i, student.school_id) for i in may_take.sibling_ids]
    return render_template(
        "emergency/request.html",
        event=event,
        student=student,
        may_take=may_take,
        siblings=siblings,
        released=reunification.release_of(event, student.id),
        waiting=reunification.waiting_request(event, student.id),
        id_checks=reunification.ID_CHECKS,
        recorded=reunification.recorded_text,
        admin=g.principal.has_role("admin"),
        form=form or {},
        error=error,
        done=done,
        # Each page's form gets its own key: a double tap or a resend of this form is
        # recorded once (reunification.request_students).
        form_key=secrets.token_hex(16),
    )


@bp.route("/gate/<int:student_id>", methods=["GET", "POST"])
@access(*STAFF)
def gate_request(student_id: int):
    """Who may take this student, every note; record the ID check and ask for them."""
    school = g.principal.school
    event = running()
    student = school_record(Student, student_id, school.id, _("No such student at this school."))
    if request.method == "GET":
        return _render_request(event, student)
    form = request.form
    ids = [student.id, *form.getlist("sibling_id")]
    done = reunification.request_students(
        school,
        current_actor(),
        event,
        student_ids=ids,
        listed_as=form.get("listed_as"),
        adult_name=form.get("adult_name"),
        relationship=form.get("relationship"),
        id_check=form.get("id_check_other") or form.get("id_check"),
        override_reason=form.get("override_reason"),
        may_override=g.principal.has_role("admin"),
        refusal=form.get("refusal") if form.get("action") == "refuse" else None,
        key=(form.get("key") or "").strip() or None,
    )
    page = _render_request(event, student, form=form, done=done)
    return (page, 409) if done.refused and not done.queued else page


def _area() -> list[SchoolClass]:
    """The runner's area from the URL (`?group=<class id>`, repeated): the groups they
    fetch students from; none chosen means the whole queue."""
    school = g.principal.school
    return [
        school_record(SchoolClass, value, school.id, _("No such group at this school."))
        for value in dict.fromkeys(request.values.getlist("group"))
    ]


def _render_queue(version: int, area: list[SchoolClass]) -> str:
    school = g.principal.school
    event = emergencies.running_event(school)
    return render_template(
        "emergency/partials/queue.html",
        event=event,
        rows=reunification.queue(school, event, {c.id for c in area}) if event else [],
        area=area,
        version=version,
        new_key=lambda: secrets.token_hex(16),
        recorded=reunification.recorded_text,
    )


@bp.route("/queue")
@access(*STAFF)
def queue():
    """Runners and the release gate: the students asked for, oldest first (live), all
    of them or those of the runner's area."""
    school = g.principal.school
    area = _area()
    event = emergencies.running_event(school)
    version = live.current(school.id, emergencies.TOPIC)
    return render_template(
        "emergency/queue.html",
        area=area,
        groups=emergency_roll.groups_at_start(school, event) if event else [],
        queue_html=_render_queue(version, area),
    )


@bp.route("/queue/list")
@access(*STAFF)
def queue_list():
    """Live region of the queue (204 while unchanged)."""
    area = _area()
    return live.poll(
        g.principal.school_id, emergencies.TOPIC, lambda version: _render_queue(version, area)
    )


@bp.route("/release", methods=["POST"])
@access(*STAFF)
def release():
    """The release gate: the adult takes the student (once; a second release is refused)."""
    school = g.principal.school
    done = reunification.release(
        school,
        current_actor(),
        running(),
        request_id=request.form.get("request_id"),
        key=request.form.get("key") or None,
    )
    flash(
        _(
            "%(name)s released to %(adult)s (%(relationship)s).",
            name=done.student.display_name,
            adult=done.request.adult_name,
            relationship=done.request.relationship_to_student,
        ),
        "success",
    )
    return redirect(url_for("emergency.queue", group=[c.id for c in _area()]))

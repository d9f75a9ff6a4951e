"""Reunification views: the request gate, the runners' queue and the release gate.

Routes of the emergency blueprint (shared/emergency_views.py), over the services of
shared/reunification.py. Any staff member of the school may work a gate; only an
administrator may release to an adult who is not on the list (with a reason).
"""

from __future__ import annotations

import secrets

from flask import flash, g, redirect, render_template, request, url_for

from shared import emergencies, live, reunification
from shared.access import access, school_record
from shared.audit import current_actor
from shared.emergency_views import STAFF, bp, running
from shared.models import Student
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
        admin=g.principal.has_role("admin"),
        form=form or {},
        error=error,
        done=done,
    )


@bp.route("/gate/<int:student_id>", methods=["GET", "POST"])
@access(*STAFF)
def gate_request(student_id: int):
    """Who may take this student, every note; record the ID check and ask for them."""
    school = g.principal.school
    event = running()
    student = school_record(Student, student_id, school.id, "No such student at this school.")
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
    )
    page = _render_request(event, student, form=form, done=done)
    return (page, 409) if done.refused and not done.queued else page


def _render_queue(version: int) -> str:
    event = emergencies.running_event(g.principal.school)
    return render_template(
        "emergency/partials/queue.html",
        event=event,
        rows=reunification.queue(event) if event else [],
        version=version,
        new_key=lambda: secrets.token_hex(16),
    )


@bp.route("/queue")
@access(*STAFF)
def queue():
    """Runners and the release gate: the students asked for, oldest first (live)."""
    version = live.current(g.principal.school_id, emergencies.TOPIC)
    return render_template("emergency/queue.html", queue_html=_render_queue(version))


@bp.route("/queue/list")
@access(*STAFF)
def queue_list():
    """Live region of the queue (204 while unchanged)."""
    return live.poll(g.principal.school_id, emergencies.TOPIC, _render_queue)


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
        f"{done.student.display_name} released to {done.request.adult_name} "
        f"({done.request.relationship_to_student}).",
        "success",
    )
    return redirect(url_for("emergency.queue"))

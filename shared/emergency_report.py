"""The report of an emergency event or drill: its timeline, how long full accounting took,
every release (to whom, with what ID check, by whom), and who was still missing or not
released; the same rows as a CSV for the district's records (its headers and words in the
reader's language, its times ISO).

Read from the event's own tables (not the audit log), so a report of a school of a
thousand students is a handful of queries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from flask_babel import lazy_gettext, ngettext
from sqlalchemy import func, select

from shared import emergency_roll, reunification
from shared.emergency_models import (
    EmergencyEvent,
    EmergencyRelease,
    MarkStatus,
    RollMark,
)
from shared.extensions import db
from shared.models import School, Student
from shared.timeutil import local


@dataclass(frozen=True)
class Moment:
    at: datetime
    what: str


def timeline(school: School, event: EmergencyEvent) -> list[Moment]:
    """What happened when: start, first and last roll mark, full accounting, each
    release and refusal, the end."""
    moments = [
        Moment(
            event.started_at,
            _("%(event)s started by %(who)s", event=event.title, who=event.started_by_label),
        )
    ]
    first, last, count = db.session.execute(
        select(func.min(RollMark.marked_at), func.max(RollMark.marked_at), func.count()).where(
            RollMark.event_id == event.id, RollMark.status != MarkStatus.RELEASED
        )
    ).one()
    if first is not None:
        moments.append(Moment(first, _("First roll mark")))
        moments.append(
            Moment(
                last,
                ngettext(
                    "Last roll mark (%(num)d student marked)",
                    "Last roll mark (%(num)d students marked)",
                    count,
                ),
            )
        )
    for group in emergency_roll.group_times(event):
        moments.append(
            Moment(group.at, _("%(group)s: every student accounted for", group=group.name))
        )
    if event.fully_accounted_at is not None:
        moments.append(Moment(event.fully_accounted_at, _("Every student accounted for")))
    for release in reunification.releases(event):
        request = release.request
        moments.append(
            Moment(
                release.released_at,
                _(
                    "%(name)s released to %(adult)s (%(relationship)s, %(id_check)s) by %(who)s",
                    name=release.student.display_name,
                    adult=request.adult_name,
                    relationship=request.relationship_to_student,
                    id_check=reunification.recorded_text(request.id_check),
                    who=release.released_by_label,
                ),
            )
        )
    for refused in reunification.refusals(event):
        moments.append(
            Moment(
                refused.requested_at,
                _(
                    "%(name)s: %(adult)s refused (%(why)s)",
                    name=refused.student.display_name,
                    adult=refused.adult_name,
                    why=reunification.recorded_text(refused.refusal),
                ),
            )
        )
    if event.ended_at is not None:
        moments.append(Moment(event.ended_at, _("Ended by %(who)s", who=event.ended_by_label)))
    return sorted(moments, key=lambda m: m.at)


@dataclass
class Report:
    event: EmergencyEvent
    moments: list[Moment]
    minutes: float | None
    #: Each group fully accounted for, fastest first.
    group_minutes: list[emergency_roll.GroupTime]
    #: Groups never fully accounted for.
    groups_not_accounted: list[str]
    releases: list[EmergencyRelease]
    refusals: list
    still_missing: list[str]
    not_marked: list[str]
    not_released: list[str]


def report(school: School, event: EmergencyEvent) -> Report:
    board = emergency_roll.board(school, event)
    group_minutes = emergency_roll.group_times(event)
    timed = {group.class_id for group in group_minutes}
    released = reunification.releases(event)
    released_ids = {r.student_id for r in released}
    marks = {
        m.student_id: m
        for m in db.session.scalars(select(RollMark).where(RollMark.event_id == event.id))
    }
    not_released = [
        m.student.display_name
        for m in sorted(marks.values(), key=lambda m: (m.student.last_name, m.student.first_name))
        if m.student_id not in released_ids and m.status != MarkStatus.MISSING
    ]
    return Report(
        event=event,
        moments=timeline(school, event),
        minutes=emergency_roll.minutes_to_full_accounting(event),
        group_minutes=group_minutes,
        groups_not_accounted=[
            t.name
            for t in board.groups
            if t.group_id is not None and t.total and t.group_id not in timed
        ],
        releases=released,
        refusals=reunification.refusals(event),
        still_missing=board.school.missing_names,
        not_marked=board.school.unmarked_names,
        not_released=not_released,
    )


CSV_HEADER = [
    lazy_gettext("Event"),
    lazy_gettext("Drill"),
    lazy_gettext("Student"),
    lazy_gettext("Student number"),
    lazy_gettext("Grade"),
    lazy_gettext("Group"),
    lazy_gettext("Roll"),
    lazy_gettext("With staff member"),
    lazy_gettext("Marked by"),
    lazy_gettext("Marked at"),
    lazy_gettext("Released to"),
    lazy_gettext("Relationship"),
    lazy_gettext("ID checked"),
    lazy_gettext("Override reason"),
    lazy_gettext("Released by"),
    lazy_gettext("Released at"),
]


def csv_rows(school: School, event: EmergencyEvent):
    """One row per student of the school: their roll mark and release, if any."""
    tz = school.timezone
    marks = {
        m.student_id: m
        for m in db.session.scalars(select(RollMark).where(RollMark.event_id == event.id))
    }
    releases = {r.student_id: r for r in reunification.releases(event)}
    yield [str(header) for header in CSV_HEADER]
    students = db.session.scalars(
        select(Student)
        .where(Student.school_id == school.id, Student.active.is_(True))
        .order_by(Student.last_name, Student.first_name, Student.id)
    )
    for student in students:
        mark = marks.get(student.id)
        release = releases.get(student.id)
        request = release.request if release else None
        yield [
            event.title,
            event.drill,
            student.display_name,
            student.student_number,
            student.grade,
            mark.school_class.name if mark and mark.school_class else "",
            mark.label if mark else _("Not marked"),
            mark.with_staff if mark else "",
            mark.marked_by_label if mark else "",
            f"{local(mark.marked_at, tz):%Y-%m-%d %H:%M:%S}" if mark else "",
            request.adult_name if request else "",
            request.relationship_to_student if request else "",
            reunification.recorded_text(request.id_check) if request else "",
            request.override_reason if request else "",
            release.released_by_label if release else "",
            f"{local(release.released_at, tz):%Y-%m-%d %H:%M:%S}" if release else "",
        ]

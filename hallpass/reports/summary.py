"""The report page's figures in one statement, from the daily summary of closed days and
the passes of the other days (docs/performance.md, third part).

A report over a year recomputed every pass (local day, hour, bell period, minutes) once
for each of its grouped tables: 11 s on PostgreSQL for a big high school. Now:

- housekeeping summarizes each closed day once (`summarize_closed_days`): the day's passes
  grouped by student, destination, issuer, period and hour into `hall_pass_summaries`
  (`hallpass.summary_models`, whose triggers forget a day whenever anything it was
  computed from changes, so summary and passes cannot disagree);
- the page reads the summarized days of its range from there and every other day (today,
  a day with a pass still active, a day forgotten since) from the passes themselves
  (`report_rows`), as one set of rows;
- every figure of the page comes from one statement over those rows
  (`grouped_figures`): first per student and group, then per group, so "students" counts
  each student once. PostgreSQL groups with GROUPING SETS in one pass; SQLite, which has
  none, with a UNION ALL of GROUP BYs over the same CTE.

Every filter the report offers (student, destination, issuer, period, a teacher's own
students) is a column of the summary, so none needs the raw passes. The CSV files, a
student's history page and the incident lookup still read the passes (`figures`,
`lines`): they are one student's, a few hours', or stream every pass anyway.

The office's unfiltered page reads, for summarized days, each day's groups
(`hall_pass_summary_groups`: passes, minutes, overdue and a bitmap of the students per
destination, issuer, period and hour; `page_groups`, `top_students`), which holds a few
thousand rows a year instead of one per student (docs/performance.md, fourth part).

Why one module: summarizing a day and reading the summary are one contract (what a row
holds, which days count as summarized); splitting them would put the two halves of each
rule in two files. The groups' fold (`fold`, `_bitmap`, `_slots`) is the part to move out
if it grows.
"""

from __future__ import annotations

import time as clock_time
from datetime import date, datetime, timedelta

from sqlalchemy import (
    Date,
    Integer,
    String,
    and_,
    cast,
    func,
    insert,
    literal,
    literal_column,
    null,
    select,
    text,
    tuple_,
    union_all,
)
from sqlalchemy.exc import IntegrityError

from hallpass.models import HallPass
from hallpass.reports.scope import (
    ReportFilter,
    Scope,
    matching_passes,
    taught_students,
)
from hallpass.summary_models import (
    HallPassSummary,
    HallPassSummaryDay,
    HallPassSummaryGroup,
    HallPassSummarySlot,
)
from shared.extensions import db
from shared.localtime_sql import as_date
from shared.models import School, Student
from shared.schedule import school_day_bounds, school_today
from shared.timeutil import utcnow

#: A day is summarized once it ended this long ago (a pass started just before midnight
#: may still be committing when the day ends).
CLOSE_AFTER = timedelta(hours=1)
#: Housekeeping stops summarizing after this many seconds a run (the rest next run).
RUN_BUDGET_SECONDS = 0.5

#: PostgreSQL memory for the figures' statement (a year of a big school: about 30 MB).
WORK_MEM = "64MB"
#: The groups of the page, in the order of `grouped_figures`' GROUPING bits.
GROUPS = ("destination", "teacher", "period", "day", "hour")
#: The groupings of `HallPassSummaryGroup` (a row per day and key of each).
GROUPINGS = ("destination", "teacher", "period", "hour")
#: At most this many passes of the days a range has not summarized are read into the
#: groups in Python (today, a day forgotten since: a big school's day is about 3,300);
#: more (a fresh install), and the one statement answers.
FRESH_PASSES_AT_MOST = 20_000
#: Their SQL types (a NULL in a UNION must say what it stands for on PostgreSQL).
KEY_TYPES = {
    "destination": Integer(),
    "teacher": Integer(),
    "period": String(),
    "day": Date(),
    "hour": Integer(),
}


# ------------------------------------------------------------------- the summary


def _first_day(school: School) -> date | None:
    oldest = db.session.scalar(
        select(func.min(HallPass.started_at)).where(HallPass.school_id == school.id)
    )
    return None if oldest is None else school_today(school, oldest)


def summarize_day(school: School, day: date, now: datetime) -> bool:
    """Summarize one closed day of a school (False if it is not closed yet, or another
    process did it first). The caller commits."""
    start, end = school_day_bounds(school, day)
    if end + CLOSE_AFTER > now:
        return False
    in_day = and_(
        HallPass.school_id == school.id, HallPass.started_at >= start, HallPass.started_at < end
    )
    # The day's passes are locked FOR SHARE (PostgreSQL) before they are read: a change
    # that commits later waits for this transaction, and its trigger then finds the
    # committed marker and forgets the day again.
    ids = select(HallPass.id, HallPass.ended_at).where(in_day).with_for_update(read=True)
    if any(ended is None for _, ended in db.session.execute(ids)):
        return False  # a pass still active: its minutes still grow
    try:
        with db.session.begin_nested():
            db.session.add(
                HallPassSummaryDay(
                    school_id=school.id, day=day, starts_at=start, ends_at=end, built_at=now
                )
            )
            db.session.flush()
            rows = matching_passes(Scope(school), ReportFilter(day, day), now)
            db.session.execute(
                HallPassSummary.__table__.insert().from_select(
                    [
                        "school_id",
                        "day",
                        "student_id",
                        "destination_id",
                        "issued_by_id",
                        "period",
                        "hour",
                        "passes",
                        "minutes",
                        "overdue",
                    ],
                    select(
                        literal(school.id),
                        literal(day),
                        rows.c.student_id,
                        rows.c.destination_id,
                        rows.c.issued_by_id,
                        rows.c.period,
                        rows.c.hour,
                        func.count(),
                        func.sum(rows.c.minutes),
                        func.sum(rows.c.overdue),
                    ).group_by(
                        rows.c.student_id,
                        rows.c.destination_id,
                        rows.c.issued_by_id,
                        rows.c.period,
                        rows.c.hour,
                    ),
                )
            )
            _summarize_groups(school, day)
    except IntegrityError:
        return False  # another process summarized it at the same moment
    return True


def _slots(school: School, students: set[int]) -> dict[int, int]:
    """Student id -> slot of the given students, new slots given to those without one
    (after the school's highest; a process giving the same at the same moment makes the
    day's summary fail on the unique slot, and it is summarized again next run)."""
    slot = HallPassSummarySlot
    found = dict(
        db.session.execute(
            select(slot.student_id, slot.slot).where(slot.student_id.in_(students))
        ).all()
    ) if students else {}  # fmt: skip
    missing = sorted(students - found.keys())
    if missing:
        top = db.session.scalar(select(func.max(slot.slot)).where(slot.school_id == school.id))
        first = -1 if top is None else top
        given = {student: first + 1 + n for n, student in enumerate(missing)}
        db.session.execute(
            insert(slot),
            [{"student_id": k, "school_id": school.id, "slot": v} for k, v in given.items()],
        )
        found.update(given)
    return found


def fold(rows, slot_of: dict[int, int]) -> dict[tuple, list]:
    """(day, grouping, key as text) -> [passes, minutes, overdue, students' bits] of rows
    of (day, student, destination, issuer, period, hour, passes, minutes, overdue): the
    one home of what a `HallPassSummaryGroup` holds (summarizing, and the days the page
    reads from the passes)."""
    groups: dict[tuple, list] = {}
    for day, student, destination, issuer, period, hour, passes, minutes, overdue in rows:
        bit, minutes = 1 << slot_of[student], float(minutes)
        for grouping, key in zip(GROUPINGS, (destination, issuer, period, hour), strict=True):
            name = (day, grouping, None if key is None else str(key))
            group = groups.get(name)
            if group is None:
                groups[name] = [passes, minutes, overdue, bit]
            else:
                group[0] += passes
                group[1] += minutes
                group[2] += overdue
                group[3] |= bit
    return groups


def _bitmap(bits: int) -> bytes:
    return bits.to_bytes((bits.bit_length() + 7) // 8, "little")


def _summarize_groups(school: School, day: date) -> None:
    """The day's `HallPassSummaryGroup` rows, from its `HallPassSummary` rows just built."""
    s = HallPassSummary
    rows = db.session.execute(
        select(
            s.day, s.student_id, s.destination_id, s.issued_by_id, s.period, s.hour,
            s.passes, s.minutes, s.overdue,
        ).where(s.school_id == school.id, s.day == day)
    ).all()  # fmt: skip
    if not rows:
        return
    slot_of = _slots(school, {row.student_id for row in rows})
    db.session.execute(
        insert(HallPassSummaryGroup),
        [
            {"school_id": school.id, "day": day, "grouping": grouping, "key": key,
             "passes": passes, "minutes": minutes, "overdue": overdue,
             "students": _bitmap(bits)}
            for (_, grouping, key), (passes, minutes, overdue, bits) in fold(rows, slot_of).items()
        ],
    )  # fmt: skip


def summarize_closed_days(
    now: datetime | None = None,
    *,
    school_id: int | None = None,
    budget_seconds: float | None = RUN_BUDGET_SECONDS,
) -> int:
    """Housekeeping: summarize the closed days not summarized yet, newest first, until
    the time budget is spent (None: all of them). Returns how many days it summarized."""
    now = now or utcnow()
    began = clock_time.monotonic()
    query = select(School).order_by(School.id)
    if school_id is not None:
        query = query.where(School.id == school_id)
    done = 0
    for school in db.session.scalars(query).all():
        first = _first_day(school)
        if first is None:
            continue
        known = set(
            db.session.scalars(
                select(HallPassSummaryDay.day).where(HallPassSummaryDay.school_id == school.id)
            )
        )
        day = school_today(school, now) - timedelta(days=1)
        while day >= first:
            if day not in known and summarize_day(school, day, now):
                done += 1
                if budget_seconds is not None and clock_time.monotonic() - began > budget_seconds:
                    return done
            day -= timedelta(days=1)
    return done


# ------------------------------------------------------------------- the report


def _spans(school: School, days: list[date]) -> list[tuple[datetime, datetime]]:
    """The UTC spans of the given local days, neighbours joined."""
    spans: list[tuple[datetime, datetime]] = []
    for day in days:
        start, end = school_day_bounds(school, day)
        if spans and spans[-1][1] == start:
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
    return spans


def summarized_days(school: School, flt: ReportFilter) -> set[date]:
    """The summarized days of the filter's range, locked FOR SHARE until the request ends
    (PostgreSQL), so a day cannot be forgotten between this read and the statements that
    read its figures (its rows would be missing)."""
    return set(
        db.session.scalars(
            select(HallPassSummaryDay.day)
            .where(
                HallPassSummaryDay.school_id == school.id,
                HallPassSummaryDay.day >= flt.first,
                HallPassSummaryDay.day <= flt.last,
            )
            .with_for_update(read=True)
        )
    )


def _other_days(flt: ReportFilter, summarized: set[date]) -> list[date]:
    return [
        flt.first + timedelta(days=n)
        for n in range((flt.last - flt.first).days + 1)
        if flt.first + timedelta(days=n) not in summarized
    ]


def report_rows(
    scope: Scope, flt: ReportFilter, now: datetime, *, summarized: set[date] | None = None
):
    """The report's rows: the summary's for its summarized days, one per pass for the
    others, each with its count of passes (a subquery)."""
    school = scope.school
    if summarized is None:
        summarized = summarized_days(school, flt)
    others = _other_days(flt, summarized)
    s = HallPassSummary
    kept = select(
        s.student_id,
        s.destination_id,
        s.issued_by_id,
        s.period,
        s.day,
        s.hour,
        s.passes,
        s.minutes,
        s.overdue,
    ).where(s.school_id == school.id, s.day >= flt.first, s.day <= flt.last)
    if not scope.whole_school:
        kept = kept.where(s.student_id.in_(taught_students(scope)))
    if flt.student_id is not None:
        kept = kept.where(s.student_id == flt.student_id)
    if flt.destination_id is not None:
        kept = kept.where(s.destination_id == flt.destination_id)
    if flt.issuer_id is not None:
        kept = kept.where(s.issued_by_id == flt.issuer_id)
    if flt.period is not None:
        kept = kept.where(s.period == flt.period)
    raw = matching_passes(scope, flt, now, spans=_spans(school, others))
    fresh = select(
        raw.c.student_id,
        raw.c.destination_id,
        raw.c.issued_by_id,
        raw.c.period,
        raw.c.day,
        raw.c.hour,
        literal(1, Integer).label("passes"),
        raw.c.minutes,
        raw.c.overdue,
    )
    if not summarized:
        return fresh.subquery("report_rows")
    if not others:
        return kept.subquery("report_rows")
    return union_all(kept, fresh).subquery("report_rows")


def page_groups(scope: Scope, flt: ReportFilter, now: datetime):
    """The page's grouped figures for the whole school without a filter, from the
    `HallPassSummaryGroup` rows of the summarized days and the passes of the others:
    (grouping or "day" -> key -> [passes, minutes, overdue, students' bits], the
    summarized days read), keys typed as the page's tables use them. None where they
    cannot answer: a teacher's scope or a filter (the groups count the whole school), or
    more than `FRESH_PASSES_AT_MOST` passes in the days not summarized (a fresh install:
    each would be read into Python); `grouped_figures` answers those."""
    if not scope.whole_school or any(
        value is not None
        for value in (flt.student_id, flt.destination_id, flt.issuer_id, flt.period)
    ):
        return None
    school = scope.school
    summarized = summarized_days(school, flt)
    others = _other_days(flt, summarized)
    fresh = []
    if others:
        raw = matching_passes(scope, flt, now, spans=_spans(school, others))
        fresh = db.session.execute(
            select(
                raw.c.day, raw.c.student_id, raw.c.destination_id, raw.c.issued_by_id,
                raw.c.period, raw.c.hour, literal(1, Integer), raw.c.minutes, raw.c.overdue,
            ).limit(FRESH_PASSES_AT_MOST + 1)
        ).all()  # fmt: skip
        if len(fresh) > FRESH_PASSES_AT_MOST:
            return None
    g = HallPassSummaryGroup.__table__.c
    # Core rows on the session's connection (the ORM's row loading cost a third of this).
    kept = db.session.connection().execute(
        select(g.day, g.grouping, g.key, g.passes, g.minutes, g.overdue, g.students).where(
            g.school_id == school.id, g.day >= flt.first, g.day <= flt.last
        )
    ).all()
    found: dict[str, dict] = {name: {} for name in (*GROUPINGS, "day")}

    def add(day, grouping, key, passes, minutes, overdue, bits):
        group = found[grouping].get(key)
        if group is None:
            found[grouping][key] = [passes, minutes, overdue, bits]
        else:
            group[0] += passes
            group[1] += minutes
            group[2] += overdue
            group[3] |= bits
        if grouping == "destination":  # each pass once: the day's chart
            add(day, "day", day, passes, minutes, overdue, 0)

    for day, grouping, key, passes, minutes, overdue, students in kept:
        add(day, grouping, key, passes, minutes, overdue, int.from_bytes(students, "little"))
    if fresh:
        students = {row.student_id for row in fresh}
        slot = HallPassSummarySlot
        slot_of = dict(
            db.session.execute(
                select(slot.student_id, slot.slot).where(slot.school_id == school.id)
            ).all()
        )
        spare = max(slot_of.values(), default=-1) + 1  # in this answer only
        for n, student in enumerate(sorted(students - slot_of.keys())):
            slot_of[student] = spare + n
        for (day, grouping, key), figures in fold(fresh, slot_of).items():
            add(as_date(day), grouping, key, *figures)
    typed = {"destination": int, "teacher": int, "period": str, "hour": int}
    groups = {
        grouping: {
            (key if grouping == "day" or key is None else typed[grouping](key)): figures
            for key, figures in found[grouping].items()
        }
        for grouping in found
    }
    return groups, summarized


def top_students(
    scope: Scope, flt: ReportFilter, now: datetime, *, top: int, summarized: set[date]
) -> list:
    """The `top` most frequent users, most first: (student id, passes, minutes, overdue)
    (the whole school's page: its other figures come from `page_groups`). The summary's
    rows are grouped per student on their own (SQLite streams them in the order of the
    index on students), the passes of the other days on theirs, then the two together."""
    school = scope.school
    s = HallPassSummary
    parts = [
        select(
            s.student_id.label("id"),
            func.sum(s.passes).label("passes"),
            func.sum(s.minutes).label("minutes"),
            func.sum(s.overdue).label("overdue"),
        )
        .where(s.school_id == school.id, s.day >= flt.first, s.day <= flt.last)
        .group_by(s.student_id)
    ]
    others = _other_days(flt, summarized)
    if others:
        raw = matching_passes(scope, flt, now, spans=_spans(school, others))
        parts.append(
            select(
                raw.c.student_id.label("id"),
                func.count().label("passes"),
                func.sum(raw.c.minutes).label("minutes"),
                func.sum(raw.c.overdue).label("overdue"),
            ).group_by(raw.c.student_id)
        )
    both = union_all(*parts).subquery("both_parts")
    per_student = (
        select(
            both.c.id,
            func.sum(both.c.passes).label("passes"),
            func.sum(both.c.minutes).label("minutes"),
            func.sum(both.c.overdue).label("overdue"),
        )
        .group_by(both.c.id)
        .subquery("per_student")
    )
    query = (
        select(per_student)
        .join(Student, Student.id == per_student.c.id)
        .order_by(
            per_student.c.passes.desc(),
            per_student.c.minutes.desc(),
            Student.last_name,
            Student.id,
        )
        .limit(top)
    )
    return db.session.execute(query).all()


def grouped_figures(scope: Scope, flt: ReportFilter, now: datetime, *, top: int):
    """Every figure of the page in one statement: rows of (group, key, passes, minutes,
    overdue, students), group "total" once, "top" for the `top` most frequent users
    (key = student id), and one row per key of each of `GROUPS` (the "day" and "hour"
    rows count no students: the page's charts show passes only)."""
    rows = report_rows(scope, flt, now)
    u = select(rows).cte("rows")
    keys = {
        "destination": u.c.destination_id,
        "teacher": u.c.issued_by_id,
        "period": u.c.period,
        "day": u.c.day,
        "hour": u.c.hour,
    }
    sums = [
        func.sum(u.c.passes).label("passes"),
        func.sum(u.c.minutes).label("minutes"),
        func.sum(u.c.overdue).label("overdue"),
    ]
    nothing = null()
    # The sets: per student and destination, issuer or period (then counted per group,
    # so a student counts once), per student alone (the totals and the top users), and
    # per day and per hour (the charts, which show passes: no student count there).
    sets = {
        "destination": ("student", "destination"),
        "teacher": ("student", "teacher"),
        "period": ("student", "period"),
        "student": ("student",),
        "day": ("day",),
        "hour": ("hour",),
    }
    columns = {"student": u.c.student_id, **keys}
    if db.engine.dialect.name == "postgresql":
        per_student = select(
            *(column.label(f"{name}_key") for name, column in columns.items()),
            func.grouping(*columns.values()).label("g"),
            *sums,
        ).group_by(
            func.grouping_sets(
                *(tuple_(*(columns[name] for name in names)) for names in sets.values())
            )
        )
        # GROUPING has a bit per column, the first the highest: 1 = not grouped by it.
        width = len(columns)
        set_of = {
            group: sum(1 << (width - 1 - n) for n, name in enumerate(columns) if name not in names)
            for group, names in sets.items()
        }
    else:
        parts = []
        set_of = {}
        typed = {"student": Integer(), **KEY_TYPES}  # NULLs typed (PostgreSQL's UNION)
        for n, (group, names) in enumerate(sets.items()):
            set_of[group] = n
            parts.append(
                select(
                    *(
                        (column if name in names else cast(nothing, typed[name])).label(
                            f"{name}_key"
                        )
                        for name, column in columns.items()
                    ),
                    literal(n).label("g"),
                    *sums,
                ).group_by(*(columns[name] for name in names))
            )
        per_student = union_all(*parts)
    g = per_student.cte("per_student")
    figures = [
        func.sum(g.c.passes).label("passes"),
        func.sum(g.c.minutes).label("minutes"),
        func.sum(g.c.overdue).label("overdue"),
        func.count().label("students"),
    ]
    by_group = select(
        g.c.g,
        *(g.c[f"{name}_key"].label(name) for name in keys),
        cast(null(), Integer).label("place"),
        *figures,
    ).group_by(g.c.g, *(g.c[f"{name}_key"] for name in keys))
    ranked = (
        select(g.c.student_key.label("id"), g.c.passes, g.c.minutes, g.c.overdue)
        .where(g.c.g == set_of["student"])
        .subquery("ranked")
    )
    top_students = (
        select(
            literal(-1).label("g"),
            ranked.c.id,
            *(cast(null(), KEY_TYPES[name]).label(name) for name in list(keys)[1:]),
            func.row_number()
            .over(
                order_by=(
                    ranked.c.passes.desc(),
                    ranked.c.minutes.desc(),
                    Student.last_name,
                    Student.id,
                )
            )
            .label("place"),
            ranked.c.passes,
            ranked.c.minutes,
            ranked.c.overdue,
            literal(1).label("students"),
        )
        .join(Student, Student.id == ranked.c.id)
        .order_by(literal_column("place"))
        .limit(top)
        .subquery("top_users")
    )
    statement = union_all(by_group, select(top_students))
    names = {value: name for name, value in set_of.items()}
    names[set_of["student"]] = "total"
    if db.engine.dialect.name == "postgresql":
        # The grouping sets' hash tables fit in memory instead of spilling to disk.
        db.session.execute(text(f"SET LOCAL work_mem = '{WORK_MEM}'"))
    for row in db.session.execute(statement):
        if row.g == -1:
            yield "top", row.destination, row
        elif names[row.g] == "total":
            yield "total", None, row
        else:
            yield names[row.g], getattr(row, names[row.g]), row

"""Hall pass report figures: passes, minutes out of class and overdue passes, by group.

Every figure is aggregated in the database (GROUP BY over `matching_passes`, the one
subquery of the passes that match the filters), never by looping over passes in Python:
the totals, and the same figures by destination, by the staff member who issued the pass,
by bell period, by student, by school day and by hour of the day. `figures_chart` draws
a grouped table as a bar chart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from flask_babel import lazy_gettext
from markupsafe import Markup
from sqlalchemy import func, select

from hallpass.models import Destination
from hallpass.reports.scope import ReportFilter, Scope, matching_passes, period_label
from shared.charts import Bar, bar_chart_svg
from shared.extensions import db
from shared.formats import format_date, format_day_short, format_number, format_time
from shared.localtime_sql import as_date
from shared.models import Student, User
from shared.schedule import period_names
from shared.timeutil import utcnow

#: Rows of "most frequent users" on the page (the CSV has every student).
TOP_STUDENTS = 10
#: Who issued a pass a student started at a kiosk or with the room QR code.
NO_ISSUER = lazy_gettext("students themselves (kiosk / room QR)")


@dataclass(frozen=True)
class Figures:
    """Passes, minutes out of class, overdue passes (and students) of one group."""

    passes: int = 0
    minutes: float = 0.0
    overdue: int = 0
    students: int = 0

    def __post_init__(self):
        # A sum of float minutes differs in its last bits with the order it was added in
        # (the daily summary adds per-day sums, the passes add each pass): kept to the
        # microminute, a figure shown rounded is the same whichever way it was summed.
        object.__setattr__(self, "minutes", round(float(self.minutes or 0), 6))

    @property
    def average_minutes(self) -> float:
        return round(self.minutes / self.passes, 6) if self.passes else 0.0


@dataclass(frozen=True)
class Row:
    """One line of a grouped table: its key, its label and its figures."""

    key: object
    label: str
    figures: Figures


def _figures(rows) -> list:
    return [
        func.count(rows.c.pass_id),
        func.coalesce(func.sum(rows.c.minutes), 0.0),
        func.coalesce(func.sum(rows.c.overdue), 0),
        func.count(func.distinct(rows.c.student_id)),
    ]


def _make(count, minutes, overdue, students) -> Figures:
    return Figures(int(count or 0), float(minutes or 0), int(overdue or 0), int(students or 0))


@dataclass
class Report:
    """Everything the report page shows."""

    filter: ReportFilter
    totals: Figures
    by_destination: list[Row] = field(default_factory=list)
    by_teacher: list[Row] = field(default_factory=list)
    by_period: list[Row] = field(default_factory=list)
    by_student: list[Row] = field(default_factory=list)
    by_day: list[Row] = field(default_factory=list)
    by_hour: list[Row] = field(default_factory=list)


def totals(scope: Scope, flt: ReportFilter, now: datetime) -> Figures:
    rows = matching_passes(scope, flt, now)
    return _make(*db.session.execute(select(*_figures(rows))).one())


def by_destination(scope: Scope, flt: ReportFilter, now: datetime) -> list[Row]:
    rows = matching_passes(scope, flt, now)
    result = db.session.execute(
        select(Destination.id, Destination.name, *_figures(rows))
        .join(Destination, Destination.id == rows.c.destination_id)
        .group_by(Destination.id, Destination.name)
        .order_by(func.count(rows.c.pass_id).desc(), Destination.name)
    )
    return [Row(key, name, _make(*figures)) for key, name, *figures in result]


def by_teacher(scope: Scope, flt: ReportFilter, now: datetime) -> list[Row]:
    """Passes by the staff member who issued (or approved) them."""
    rows = matching_passes(scope, flt, now)
    result = db.session.execute(
        select(rows.c.issued_by_id, User.name, *_figures(rows))
        .outerjoin(User, User.id == rows.c.issued_by_id)
        .group_by(rows.c.issued_by_id, User.name)
        .order_by(func.count(rows.c.pass_id).desc(), User.name)
    )
    return [Row(key, name or str(NO_ISSUER), _make(*figures)) for key, name, *figures in result]


def by_period(scope: Scope, flt: ReportFilter, now: datetime) -> list[Row]:
    rows = matching_passes(scope, flt, now)
    result = db.session.execute(select(rows.c.period, *_figures(rows)).group_by(rows.c.period))
    return _period_rows(scope, {name: _make(*figures) for name, *figures in result})


def by_student(
    scope: Scope, flt: ReportFilter, now: datetime, *, limit: int | None = TOP_STUDENTS
) -> list[Row]:
    """The most frequent users: passes per student, most first."""
    rows = matching_passes(scope, flt, now)
    query = (
        select(Student.id, Student.last_name, Student.first_name, *_figures(rows))
        .join(Student, Student.id == rows.c.student_id)
        .group_by(Student.id, Student.last_name, Student.first_name)
        .order_by(
            func.count(rows.c.pass_id).desc(),
            func.sum(rows.c.minutes).desc(),
            Student.last_name,
            Student.id,
        )
    )
    if limit is not None:
        query = query.limit(limit)
    return [
        Row(key, f"{last}, {first}", _make(*figures))
        for key, last, first, *figures in db.session.execute(query)
    ]


def by_day(scope: Scope, flt: ReportFilter, now: datetime) -> list[Row]:
    """Every weekday of the range (and any weekend day with passes), oldest first."""
    rows = matching_passes(scope, flt, now)
    found = {
        as_date(day): _make(*figures)
        for day, *figures in db.session.execute(
            select(rows.c.day, *_figures(rows)).group_by(rows.c.day)
        )
    }
    return _day_rows(flt, found)


def by_hour(scope: Scope, flt: ReportFilter, now: datetime) -> list[Row]:
    """Passes started in each hour of the (local) day, from the first to the last used."""
    rows = matching_passes(scope, flt, now)
    found = {
        int(hour): _make(*figures)
        for hour, *figures in db.session.execute(
            select(rows.c.hour, *_figures(rows)).group_by(rows.c.hour)
        )
    }
    return _hour_rows(found)


def build_report(scope: Scope, flt: ReportFilter, now: datetime | None = None) -> Report:
    """The whole report for the page, from one statement over the daily summary and the
    passes of the days it does not hold (`reports.summary`); the same figures, orders
    and labels as the functions above, which read the passes (tested against them),
    except that the days and hours (the page's charts, which show passes) count no
    students: their CSV files, from `by_day` and `by_hour`, do."""
    from hallpass.reports import summary

    now = now or utcnow()
    found: dict[str, dict] = {name: {} for name in summary.GROUPS}
    total = Figures()
    top: list[tuple[int, int, Figures]] = []
    grouped = summary.page_groups(scope, flt, now)
    if grouped is not None:  # the whole school: groups of days, students' bitmaps
        groups, summarized = grouped
        everyone = 0
        for group, keyed in groups.items():
            charted = group in ("day", "hour")  # the charts count passes, not students
            for key, (passes, minutes, overdue, bits) in keyed.items():
                found[group][key] = _make(
                    passes, minutes, overdue, 0 if charted else bits.bit_count()
                )
                if group == "destination":  # each pass once
                    everyone |= bits
                    total = Figures(
                        total.passes + passes, total.minutes + minutes, total.overdue + overdue
                    )
        total = Figures(total.passes, total.minutes, total.overdue, everyone.bit_count())
        for place, (key, passes, minutes, overdue) in enumerate(
            summary.top_students(scope, flt, now, top=TOP_STUDENTS, summarized=summarized)
        ):
            top.append((place, key, _make(passes, minutes, overdue, 1)))
        answer = []
    else:
        answer = summary.grouped_figures(scope, flt, now, top=TOP_STUDENTS)
    for group, key, row in answer:
        numbers = _make(row.passes, row.minutes, row.overdue, row.students)
        if group == "total":
            total = numbers
        elif group == "top":
            figures = Figures(numbers.passes, numbers.minutes, numbers.overdue, 1)
            top.append((row.place, key, figures))
        elif group in ("day", "hour"):  # the charts count passes, not students
            numbers = Figures(numbers.passes, numbers.minutes, numbers.overdue, 0)
            found[group][as_date(key) if group == "day" else key] = numbers
        else:
            found[group][key] = numbers
    return Report(
        filter=flt,
        totals=total,
        by_destination=_named_rows(found["destination"], _destination_names(scope)),
        by_teacher=_named_rows(found["teacher"], _issuer_names(scope, found["teacher"])),
        by_period=_period_rows(scope, found["period"]),
        by_student=_student_rows(top),
        by_day=_day_rows(flt, found["day"]),
        by_hour=_hour_rows({int(hour): f for hour, f in found["hour"].items()}),
    )


def _destination_names(scope: Scope) -> dict:
    """Destination id -> name, in the database's order of names (its collation)."""
    return dict(
        db.session.execute(
            select(Destination.id, Destination.name)
            .where(Destination.school_id == scope.school.id)
            .order_by(Destination.name, Destination.id)
        ).all()
    )


def _issuer_names(scope: Scope, found: dict) -> dict:
    """Issuer id -> name for the issuers found, in the database's order of names, the
    passes nobody issued (None) where the database sorts a NULL name."""
    ids = [key for key in found if key is not None]
    named = (
        db.session.execute(
            select(User.id, User.name).where(User.id.in_(ids)).order_by(User.name, User.id)
        ).all()
        if ids
        else []
    )
    names = dict(named)
    if None in found:
        nobody = {None: str(NO_ISSUER)}
        # NULLs sort last in PostgreSQL's ascending order, first in SQLite's.
        last = db.engine.dialect.name == "postgresql"
        names = {**names, **nobody} if last else {**nobody, **names}
    return names


def _named_rows(found: dict, names: dict) -> list[Row]:
    """Rows by most passes first, then by name as the database orders them."""
    place = {key: n for n, key in enumerate(names)}
    keys = sorted(
        (key for key in found if key in place), key=lambda k: (-found[k].passes, place[k])
    )
    return [Row(key, names[key], found[key]) for key in keys]


def _period_rows(scope: Scope, found: dict) -> list[Row]:
    order = {name: n for n, name in enumerate(period_names(scope.school))}
    rows = [Row(name, period_label(name), figures) for name, figures in found.items()]
    return sorted(rows, key=lambda row: order.get(row.key, len(order)))


def _student_rows(top: list[tuple[int, int, Figures]]) -> list[Row]:
    if not top:
        return []
    names = {
        id_: f"{last}, {first}"
        for id_, last, first in db.session.execute(
            select(Student.id, Student.last_name, Student.first_name).where(
                Student.id.in_([key for _, key, _ in top])
            )
        )
    }
    return [Row(key, names[key], figures) for _, key, figures in sorted(top, key=lambda t: t[0])]


def _day_rows(flt: ReportFilter, found: dict) -> list[Row]:
    days = []
    day = flt.first
    while day <= flt.last:
        if day.weekday() < 5 or day in found:
            days.append(Row(day, format_date(day), found.get(day, Figures())))
        day += timedelta(days=1)
    return days


def _hour_rows(found: dict) -> list[Row]:
    if not found:
        return []
    low, high = min(min(found), 7), max(max(found), 15)
    return [Row(h, format_time(time(h)), found.get(h, Figures())) for h in range(low, high + 1)]


def figures_chart(
    title: str, rows: list[Row], *, chart_id: str, value: str = "passes", css: str = ""
) -> Markup:
    """A bar chart of a grouped table: one bar per row, its value from the row's figures."""
    bars = []
    for row in rows:
        amount = getattr(row.figures, value)
        shown = format_number(round(amount)) if value != "passes" else format_number(amount)
        bars.append(Bar(row.label, amount, shown, _short(row)))
    return bar_chart_svg(title, bars, chart_id=chart_id, css=css)


def _short(row: Row) -> str:
    if isinstance(row.key, date):
        return format_day_short(row.key)
    return row.label

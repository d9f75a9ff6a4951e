"""Hall pass report figures: passes, minutes out of class and overdue passes, by group.

Every figure is aggregated in the database (GROUP BY over `matching_passes`, the one
subquery of the passes that match the filters), never by looping over passes in Python:
the totals, and the same figures by destination, by the staff member who issued the pass,
by bell period, by student, by school day and by hour of the day. `figures_chart` draws
a grouped table as a bar chart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from markupsafe import Markup
from sqlalchemy import func, select

from hallpass.models import Destination
from hallpass.reports.scope import ReportFilter, Scope, matching_passes
from shared.charts import Bar, bar_chart_svg
from shared.extensions import db
from shared.localtime_sql import as_date
from shared.models import Student, User
from shared.schedule import period_names
from shared.timeutil import utcnow

#: Rows of "most frequent users" on the page (the CSV has every student).
TOP_STUDENTS = 10
NO_ISSUER = "students themselves (kiosk / room QR)"


@dataclass(frozen=True)
class Figures:
    """Passes, minutes out of class, overdue passes (and students) of one group."""

    passes: int = 0
    minutes: float = 0.0
    overdue: int = 0
    students: int = 0

    @property
    def average_minutes(self) -> float:
        return self.minutes / self.passes if self.passes else 0.0


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
    return [Row(key, name or NO_ISSUER, _make(*figures)) for key, name, *figures in result]


def by_period(scope: Scope, flt: ReportFilter, now: datetime) -> list[Row]:
    rows = matching_passes(scope, flt, now)
    result = db.session.execute(select(rows.c.period, *_figures(rows)).group_by(rows.c.period))
    order = {name: n for n, name in enumerate(period_names(scope.school))}
    found = [Row(name, name, _make(*figures)) for name, *figures in result]
    return sorted(found, key=lambda row: order.get(row.key, len(order)))


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
    days = []
    day = flt.first
    while day <= flt.last:
        if day.weekday() < 5 or day in found:
            days.append(Row(day, day.strftime("%a %b %d"), found.get(day, Figures())))
        day += timedelta(days=1)
    return days


def by_hour(scope: Scope, flt: ReportFilter, now: datetime) -> list[Row]:
    """Passes started in each hour of the (local) day, from the first to the last used."""
    rows = matching_passes(scope, flt, now)
    found = {
        int(hour): _make(*figures)
        for hour, *figures in db.session.execute(
            select(rows.c.hour, *_figures(rows)).group_by(rows.c.hour)
        )
    }
    if not found:
        return []
    low, high = min(min(found), 7), max(max(found), 15)
    return [Row(h, f"{h:02d}:00", found.get(h, Figures())) for h in range(low, high + 1)]


def build_report(scope: Scope, flt: ReportFilter, now: datetime | None = None) -> Report:
    """The whole report for the page."""
    now = now or utcnow()
    return Report(
        filter=flt,
        totals=totals(scope, flt, now),
        by_destination=by_destination(scope, flt, now),
        by_teacher=by_teacher(scope, flt, now),
        by_period=by_period(scope, flt, now),
        by_student=by_student(scope, flt, now),
        by_day=by_day(scope, flt, now),
        by_hour=by_hour(scope, flt, now),
    )


def figures_chart(
    title: str, rows: list[Row], *, chart_id: str, value: str = "passes", css: str = ""
) -> Markup:
    """A bar chart of a grouped table: one bar per row, its value from the row's figures."""
    bars = []
    for row in rows:
        amount = getattr(row.figures, value)
        shown = f"{amount:.0f}" if value != "passes" else str(amount)
        bars.append(Bar(row.label, amount, shown, _short(row)))
    return bar_chart_svg(title, bars, chart_id=chart_id, css=css)


def _short(row: Row) -> str:
    if isinstance(row.key, date):
        return row.key.strftime("%m/%d")
    return row.label

"""Finding students by what staff type: their name in any order, part of it, or their number.

One search for every screen that picks a student (hall pass settings and reports, the car
line office, Admin > Students), so that "Bianca Singh", "Singh, Bianca", "singh bia" and
a student number find the same student everywhere. The text comes from a POST body
(names never go in URLs or logs).

Each typed word must be part of the first, last or preferred name (case-insensitive), or
be the student number; LIKE wildcards typed by the user (`%`, `_`, `\\`) are matched as
themselves. Case folding is the database's `lower()`: complete on PostgreSQL, ASCII
letters only on SQLite (an accented capital matches only as typed).
"""

from __future__ import annotations

import re

from sqlalchemy import ColumnElement, Select, and_, case, false, func, or_, select

from shared.extensions import db
from shared.models import School, Student

#: How many students a search shows unless the caller asks for another number.
SEARCH_LIMIT = 25
#: Words of the typed text used; more narrow nothing a person would need.
MAX_WORDS = 4
#: Longest text read from the search box.
MAX_SEARCH_LENGTH = 100
#: Commas (as in "Singh, Bianca") and white space separate words.
_SEPARATORS = re.compile(r"[\s,;]+")


def search_text(query: str | None) -> str:
    """The typed text with runs of white space folded to one space, at most 100 characters."""
    return " ".join((query or "").split())[:MAX_SEARCH_LENGTH]


def search_words(query: str | None) -> list[str]:
    """The words of a search: split on white space and commas, lower case, at most four."""
    return [w for w in _SEPARATORS.split(search_text(query).lower()) if w][:MAX_WORDS]


def like_contains(word: str) -> str:
    """A LIKE pattern (escape character backslash) matching text that contains `word`."""
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _word_matches(word: str) -> ColumnElement[bool]:
    pattern = like_contains(word)
    return or_(
        func.lower(Student.first_name).like(pattern, escape="\\"),
        func.lower(Student.last_name).like(pattern, escape="\\"),
        func.lower(func.coalesce(Student.preferred_name, "")).like(pattern, escape="\\"),
        func.lower(Student.student_number) == word,
    )


def matches_words(text: str) -> ColumnElement[bool]:
    """A WHERE clause: every word of `text` is part of a name or is the student number."""
    words = search_words(text)
    return and_(*(_word_matches(w) for w in words)) if words else false()


def search_students(
    school: School,
    text: str | None,
    *,
    limit: int | None = SEARCH_LIMIT,
    among: Select | None = None,
    include_inactive: bool = False,
) -> list[Student]:
    """The school's students matching the typed text (see the module docstring); [] for blank.

    `among` is an optional subquery of student ids the caller may see (a teacher's
    students in hall pass reports; a grade in Admin > Students): only those are found.
    Students who left the roster are found only with `include_inactive` (history
    screens), listed after the active ones. An exact student number comes first, then
    students by last name, first name. `limit=None` returns every match.
    """
    words = search_words(text)
    if not words:
        return []
    query = select(Student).where(Student.school_id == school.id, matches_words(text))
    if not include_inactive:
        query = query.where(Student.active.is_(True))
    if among is not None:
        query = query.where(Student.id.in_(among))
    by_number = case((func.lower(Student.student_number) == " ".join(words), 0), else_=1)
    query = query.order_by(
        by_number, Student.active.desc(), Student.last_name, Student.first_name, Student.id
    )
    if limit is not None:
        query = query.limit(limit)
    return list(db.session.scalars(query))

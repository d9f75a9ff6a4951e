"""Finding students by what staff type: parts of their names, or their student number.

The text comes from a POST body (names never go in URLs or logs); callers add their own
scope (school, active students, a teacher's classes) and order.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, func

from shared.models import Student


def search_text(query: str | None) -> str:
    """The typed text with runs of white space folded to one space, at most 100 characters."""
    return " ".join((query or "").split())[:100]


def matches_words(text: str) -> ColumnElement[bool]:
    """Each word (the first four) is part of a first, last or preferred name, or the number."""
    clauses = []
    for word in text.lower().split(" ")[:4]:
        pattern = f"%{word}%"
        clauses.append(
            func.lower(Student.first_name).like(pattern)
            | func.lower(Student.last_name).like(pattern)
            | func.lower(func.coalesce(Student.preferred_name, "")).like(pattern)
            | (Student.student_number == word)
        )
    return and_(*clauses)

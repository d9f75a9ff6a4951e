"""A student proves who they are on their own phone: the last digits of their number.

The room QR page lists the class in session, so without a check anyone who scans could
tap a classmate's name and send them out. Students have no accounts; what they do know,
and a classmate usually does not, is their student number (on their ID card). The phone
asks for its last `DIGITS` digits (the whole number if it is shorter) and compares them
with the roster. Tries are counted like sign-ins, per student and per client address,
before the comparison, so guessing stops after a few wrong numbers
(`shared.throttle.begin_student_check`). The kiosk identifies students by their ID scan
and needs none of this.
"""

from __future__ import annotations

import hmac

from flask_babel import gettext as _
from flask_babel import lazy_gettext

from shared.errors import InvalidInput
from shared.extensions import db
from shared.formats import format_duration
from shared.models import Student
from shared.throttle import begin_student_check, sign_in_succeeded

#: How many of the last digits of the student number the phone asks for.
DIGITS = 4
WRONG = lazy_gettext("That is not the end of your student number. Check your ID card.")
FIELD = "student_check"


def digits_asked(student: Student) -> int:
    return min(DIGITS, len(student.student_number))


def confirm_student(student: Student, typed: str | None, address: str | None) -> None:
    """Refuse (`InvalidInput`) unless `typed` is the end of the student's number.

    Commits the counted try first, so it counts in every process even when refused.
    """
    attempt = begin_student_check(student.id, address)
    db.session.commit()
    if attempt.retry_after is not None:
        minutes = max(1, round(attempt.retry_after / 60))
        raise InvalidInput(
            _(
                "Too many wrong numbers for this name. Ask your teacher, or try again in %(wait)s.",
                wait=format_duration(minutes),
            ),
            field=FIELD,
        )
    expected = student.student_number.strip().lower()[-digits_asked(student) :]
    given = (typed or "").strip().lower()
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise InvalidInput(WRONG, field=FIELD)
    sign_in_succeeded(attempt)

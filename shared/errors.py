"""Domain errors: a failed business rule, turned by the app into a clear 4xx answer.

Services raise them; the app's error handler answers any that a view lets through with
the error page and its status. A view that would rather show its form again catches
the error and returns `rerender(...)`: one way to "roll back and re-render the form
with the message".
"""

from collections.abc import Callable

from flask import render_template

from shared.extensions import db


class DomainError(Exception):
    """A rule said no. `message` is shown to the user as it is."""

    status_code = 400

    def __init__(self, message: str, *, field: str | None = None):
        message = str(message)  # a lazy_gettext constant: in the language of this request
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(DomainError):
    status_code = 400


class NotFound(DomainError):
    status_code = 404


class Forbidden(DomainError):
    status_code = 403


class Conflict(DomainError):
    status_code = 409


class Unavailable(DomainError):
    """A service the rule needs (Redis) does not answer now; trying again later may work."""

    status_code = 503


def rerender(
    template: str,
    error: DomainError | str,
    *,
    status: int | None = None,
    reload: Callable[[], dict] | None = None,
    **context,
):
    """Roll back and show a form again with the refusal's message: the view's answer.

    Nothing the request wrote is kept. The template gets `error` (the message) and
    `error_field` (the form field it is about, if any) besides `context`; the status is
    the error's (400 for a plain message) unless `status` is given. Use it in a view's
    `except DomainError as error:` branch. What the page shows from the database goes in
    `reload`, a function called after the rollback, so the page never shows a write
    that was refused (keyword arguments are evaluated before it: keep them to the form).
    """
    db.session.rollback()
    if isinstance(error, DomainError):
        message, field, code = error.message, error.field, error.status_code
    else:
        message, field, code = error, None, InvalidInput.status_code
    if reload is not None:
        context = {**reload(), **context}
    html = render_template(template, error=message, error_field=field, **context)
    return html, status or code

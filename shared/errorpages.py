"""Error handling: clear 4xx pages for failed rules and bad requests, a calm 500 page,
and a 503 that renders without the database when it cannot be reached."""

from flask import Flask, current_app, g, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError
from werkzeug.exceptions import HTTPException, InternalServerError

from shared.dbguard import is_outage
from shared.errors import DomainError
from shared.extensions import db, login_manager

MESSAGES = {
    400: lazy_gettext("The request was not understood."),
    401: lazy_gettext("Please sign in first."),
    403: lazy_gettext("You do not have access to this page."),
    404: lazy_gettext("There is nothing here."),
    405: lazy_gettext("That action is not allowed here."),
    413: lazy_gettext("That file is too large."),
    429: lazy_gettext("Too many attempts. Please wait a little and try again."),
    500: lazy_gettext("Something went wrong on our side. Nothing was saved."),
}
#: Shown in a live region or the curb's answer while the database cannot be reached.
OUTAGE_MESSAGE = lazy_gettext("No connection to the school's server, trying again.")
OUTAGE_PAGE_MESSAGE = lazy_gettext(
    "The school's server cannot reach its database right now. "
    "Nothing new was saved; please try again in a moment."
)


def _rollback() -> None:
    try:
        db.session.rollback()
    except SQLAlchemyError:
        # The connection is gone: forget the session, its connection is invalidated.
        db.session.close()


def render_error(status: int, message: str | None = None):
    _rollback()
    # As text (a lazy string would count as markup and skip the escaping).
    message = str(message or MESSAGES.get(status) or _("The request could not be completed."))
    template = "errors/partial.html" if request.htmx else "errors/page.html"
    return render_template(template, status=status, message=message), status


def render_outage():
    """503 with Retry-After, rendered from nothing the database holds.

    The caller's principal (their school, name and roles) came from the database and
    may need it again to be shown, so the page is rendered as for an anonymous visitor.
    """
    _rollback()
    g.principal = None
    # flask-login puts `current_user` in every template's context, loading it from the
    # database unless this request already has it: it is nobody here.
    g._login_user = login_manager.anonymous_user()
    retry = current_app.config["DATABASE_RETRY_AFTER"]
    if request.htmx:
        html = render_template("errors/partial.html", message=str(OUTAGE_MESSAGE), outage=True)
    else:
        html = render_template(
            "errors/page.html",
            status=503,
            message=str(OUTAGE_PAGE_MESSAGE),
            refresh=retry if request.method == "GET" else None,
        )
    return html, 503, {"Retry-After": str(retry), "Cache-Control": "no-store"}


#: The header of a refusal a script must tell apart from others (the CSRF token expired).
FORM_EXPIRED_HEADER = "X-Passline-Refusal"


def register(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain_error(error: DomainError):
        return render_error(error.status_code, error.message)

    @app.errorhandler(CSRFError)
    def _csrf_error(_error):
        html, status = render_error(400, _("This form has expired. Reload the page and try again."))
        # Said in a header too: an outbox (shared/static/js/outbox.js, the curb's) keeps
        # the write this refuses, whatever language the page is in.
        return html, status, {FORM_EXPIRED_HEADER: "form-expired"}

    @app.errorhandler(IntegrityError)
    def _integrity_error(_error):
        return render_error(409, _("That conflicts with a record that already exists."))

    @app.errorhandler(OverflowError)
    @app.errorhandler(DataError)
    def _out_of_range(_error):
        # A number (an id in the path, a field) beyond what the database can hold.
        return render_error(400, _("A number in the request is out of range."))

    @app.errorhandler(SQLAlchemyError)
    def _database_error(error: SQLAlchemyError):
        if is_outage(error):
            return render_outage()
        raise error  # a bug, not an outage: the 500 page below

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        if error.code is None or error.code < 400:
            return error
        return render_error(error.code)

    @app.errorhandler(InternalServerError)
    def _server_error(error: InternalServerError):
        if error.original_exception is not None and is_outage(error.original_exception):
            return render_outage()
        return render_error(500)

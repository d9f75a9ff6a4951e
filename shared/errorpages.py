"""Error handling: clear 4xx pages for failed rules and bad requests, a calm 500 page."""

from flask import Flask, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DataError, IntegrityError
from werkzeug.exceptions import HTTPException, InternalServerError

from shared.errors import DomainError
from shared.extensions import db

MESSAGES = {
    400: "The request was not understood.",
    401: "Please sign in first.",
    403: "You do not have access to this page.",
    404: "There is nothing here.",
    405: "That action is not allowed here.",
    413: "That file is too large.",
    429: "Too many attempts. Please wait a little and try again.",
    500: "Something went wrong on our side. Nothing was saved.",
}


def render_error(status: int, message: str | None = None):
    db.session.rollback()
    message = message or MESSAGES.get(status, "The request could not be completed.")
    template = "errors/partial.html" if request.htmx else "errors/page.html"
    return render_template(template, status=status, message=message), status


def register(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain_error(error: DomainError):
        return render_error(error.status_code, error.message)

    @app.errorhandler(CSRFError)
    def _csrf_error(_error):
        return render_error(400, "This form has expired. Reload the page and try again.")

    @app.errorhandler(IntegrityError)
    def _integrity_error(_error):
        return render_error(409, "That conflicts with a record that already exists.")

    @app.errorhandler(OverflowError)
    @app.errorhandler(DataError)
    def _out_of_range(_error):
        # A number (an id in the path, a field) beyond what the database can hold.
        return render_error(400, "A number in the request is out of range.")

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        if error.code is None or error.code < 400:
            return error
        return render_error(error.code)

    @app.errorhandler(InternalServerError)
    def _server_error(_error):
        return render_error(500)

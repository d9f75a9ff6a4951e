"""Domain errors: a failed business rule, turned by the app into a clear 4xx answer."""


class DomainError(Exception):
    """A rule said no. `message` is shown to the user as it is."""

    status_code = 400

    def __init__(self, message: str, *, field: str | None = None):
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

"""Errors are values with an HTTP status.

Services raise these; the API turns them into ``{"message": ..., "errors": {...}}`` with the
status, and pages show them as form errors or flashes. A user's mistake is never a 500.
"""
from flask_babel import lazy_gettext as _l


class DomainError(Exception):
    status = 400
    default_message = _l("The request could not be processed.")

    def __init__(self, message=None, errors=None):
        self.message = message if message is not None else self.default_message
        self.errors = errors or {}
        super().__init__(str(self.message))

    def to_dict(self):
        return {
            "message": str(self.message),
            "errors": {field: [str(m) for m in msgs] for field, msgs in self.errors.items()},
        }


class BadRequest(DomainError):
    status = 400
    default_message = _l("Malformed request.")


class Forbidden(DomainError):
    status = 403
    default_message = _l("You are not allowed to do this.")


class NotFound(DomainError):
    status = 404
    default_message = _l("Not found.")


class Conflict(DomainError):
    status = 409
    default_message = _l("The record is in a state that does not allow this.")


class Invalid(DomainError):
    status = 422
    default_message = _l("Validation failed.")

    def __init__(self, errors=None, message=None):
        super().__init__(message, errors)


class ErrorCollector:
    """Collect per-field messages, then raise one ``Invalid`` if any were added."""

    def __init__(self):
        self.errors = {}

    def add(self, field, message):
        self.errors.setdefault(field, []).append(message)

    def __bool__(self):
        return bool(self.errors)

    def raise_if_any(self):
        if self.errors:
            raise Invalid(self.errors)

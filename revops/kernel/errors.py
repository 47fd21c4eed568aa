"""One exception family for domain failures. Each carries a stable `code`; the API maps it to the
error body of API.md and an HTTP status, the pages to a message beside the field."""
from __future__ import annotations


class DomainError(Exception):
    code = "domain_error"
    status = 400

    def __init__(self, message: str, *, fields: dict[str, list[str]] | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}
        if code:
            self.code = code


class ValidationFailed(DomainError):
    """Input that can never be accepted as given (400)."""

    code = "validation_error"
    status = 400


class InvalidTransition(DomainError):
    """A state change the record's current state does not allow (409)."""

    code = "invalid_transition"
    status = 409


class Conflict(DomainError):
    """The request clashes with the stored state, e.g. a reused idempotency key (409)."""

    code = "conflict"
    status = 409


class PermissionDeniedError(DomainError):
    """A rule about who may do what, beyond model permissions (403): e.g. approving one's own quote."""

    code = "permission_denied"
    status = 403


def field_error(field: str, message: str) -> ValidationFailed:
    """Shorthand for the common case: one field, one message."""
    return ValidationFailed(message, fields={field: [message]})

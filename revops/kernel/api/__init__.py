"""API conventions shared by every app: error body, pagination, money fields, idempotency."""

"""The shared kernel: money, errors, domain events (outbox), audit trail, roles, API conventions."""

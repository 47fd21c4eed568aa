"""Outbox subscribers of the integrations app."""

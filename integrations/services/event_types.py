"""The event types a webhook endpoint may subscribe to, and the check of an endpoint's patterns.

KNOWN_EVENT_TYPES lists every type some service records with `record_event(...)` (found by grepping the
apps), plus `webhook.test` (the endpoint's test action). When an app starts recording a new type, add it
here: an endpoint asking for a type nobody records would silently never receive anything, so patterns
that match no known type are refused.
"""
from __future__ import annotations

from fnmatch import fnmatchcase

from revops.kernel.errors import ValidationFailed

KNOWN_EVENT_TYPES: tuple[str, ...] = (
    # customers
    "customer.created", "customer.updated", "contact.created", "contact.portal_access_granted",
    # catalog
    "product.created", "product.updated", "meter.created", "meter.updated",
    "price_book.created", "price_book.updated", "price.created", "price.updated",
    "bundle.created", "bundle.updated", "product_rule.created", "product_rule.updated", "product_rule.deleted",
    "discount_schedule.created", "discount_schedule.updated",
    # quotes
    "quote.created", "quote.submitted", "quote.approval_step_approved", "quote.approved", "quote.approval_rejected",
    "quote.returned_to_draft", "quote.sent", "quote.accepted", "quote.rejected", "quote.revised", "quote.superseded",
    "quote.expired",
    # contracts
    "contract.created", "contract.activated", "contract.updated", "contract.amended", "contract.amendment_quote_created",
    "contract.renewal_alert", "contract.renewal_quote_created", "contract.renewed", "contract.expired",
    "contract.terminated",
    # billing
    "invoice.created", "invoice.approved", "invoice.issued", "invoice.paid", "invoice.overdue", "invoice.voided",
    "invoice.uncollectible", "credit_note.issued", "payment.received", "bill_run.finished",
    # recognition
    "period.closed", "period.reopened", "revenue.recognized",
    # analytics
    "alert.triggered", "alert.cleared",
    # integrations
    "webhook.test",
)

MAX_PATTERNS = 50


def event_type_matches(event_type: str, patterns: list[str]) -> bool:
    """Does `event_type` match one of the glob `patterns` ("invoice.issued", "contract.*", "*")?"""
    return any(fnmatchcase(event_type, p) for p in patterns)


def event_types_clean(patterns, *, field: str = "event_types") -> list[str]:
    """The endpoint's patterns, stripped and without repeats; ValidationFailed (400) naming each bad one.

    A pattern is accepted when it is "*" or matches at least one known event type, so typos such as
    "invoice.isued" or "contracts.*" are caught when the endpoint is saved rather than never firing.
    """
    if not isinstance(patterns, list) or not patterns:
        raise ValidationFailed("give at least one event type", fields={field: ["give at least one event type"]})
    if len(patterns) > MAX_PATTERNS:
        raise ValidationFailed(f"at most {MAX_PATTERNS} event types", fields={field: [f"at most {MAX_PATTERNS}"]})
    cleaned: list[str] = []
    errors: list[str] = []
    for raw in patterns:
        pattern = raw.strip() if isinstance(raw, str) else ""
        if not pattern:
            errors.append(f"{raw!r} is not an event type")
        elif pattern != "*" and not any(fnmatchcase(t, pattern) for t in KNOWN_EVENT_TYPES):
            errors.append(f"unknown event type {pattern!r}")
        elif pattern not in cleaned:
            cleaned.append(pattern)
    if errors:
        raise ValidationFailed("unknown event types: " + "; ".join(errors), fields={field: errors})
    return cleaned

"""Quote state transitions. Each locks the quote, re-checks its state, writes, logs the step on the
quote's history and records an outbox event, in one transaction.

draft → pending_approval → approved → sent → accepted | rejected | expired; any open version can be
revised into a new draft version (the old one becomes superseded). An approver rejecting sends the
quote back to draft with the comment; a customer declining makes it `rejected`.
"""
from __future__ import annotations

import secrets

from django.core import signing
from django.db import transaction
from django.db.models import Max
from django.urls import reverse
from django.utils import timezone

from revops.kernel import money
from revops.kernel.errors import InvalidTransition, PermissionDeniedError, ValidationFailed, field_error
from revops.kernel.events import record_event

from ..models import ApprovalStep, Quote, QuoteLine
from . import approvals
from .editing import _locked, can_edit, log, quote_lines, quote_reprice, rule_violations

ACCEPTANCE_SALT = "revops.quotes.acceptance"
ACCEPTANCE_MAX_AGE = 90 * 24 * 3600  # the link also dies with the quote's validity and on every re-send


def _event_payload(quote: Quote, **extra) -> dict:
    return {"quote": quote.pk, "number": quote.number, "version": quote.version, "customer": quote.customer_id,
            "owner": quote.owner_id, "currency": quote.currency, "tcv": str(money.quantize(quote.tcv, quote.currency)),
            "mrr": str(money.quantize(quote.mrr, quote.currency)),
            "arr": str(money.quantize(quote.arr, quote.currency)), **extra}


def _set_status(quote: Quote, status: str, *fields: str) -> None:
    quote.status = status
    quote.save(update_fields=["status", "updated_at", *fields])


def quote_submit(*, quote_id: int, by) -> Quote:
    """Submit a draft: product rules must hold; approval rules decide the chain (none: approved now)."""
    with transaction.atomic():
        quote = _locked(quote_id)
        if not can_edit(quote, by):
            raise PermissionDeniedError("only the quote's owner or a sales manager may submit it")
        if quote.status != Quote.Status.DRAFT:
            raise InvalidTransition(f"{quote} is {quote.status}; only a draft can be submitted")
        lines = quote_lines(quote)
        if not lines:
            raise field_error("lines", "add at least one product before submitting")
        if quote.valid_until < timezone.localdate():
            raise field_error("valid_until", "the quote's validity has passed; extend it before submitting")
        broken = rule_violations(quote)
        if broken:
            raise ValidationFailed("the quote breaks product rules: " + "; ".join(broken),
                                   fields={"lines": broken}, code="product_rule_violation")
        quote_reprice(quote=quote, lines=lines)  # approvals judge today's prices
        submission = (quote.approval_steps.aggregate(n=Max("submission"))["n"] or 0) + 1
        triggers = approvals.evaluate(quote, lines)
        ApprovalStep.objects.bulk_create([
            ApprovalStep(quote=quote, submission=submission, order=i, rule=t.rule, reason=t.reason,
                         approver_group=t.rule.approver_group)
            for i, t in enumerate(triggers, start=1)
        ])
        quote.submitted_at = timezone.now()
        log(quote, "submitted", by, "; ".join(t.reason for t in triggers) or "no approval needed")
        record_event("quote.submitted", quote, _event_payload(quote, approvals=[t.reason for t in triggers]))
        if triggers:
            _set_status(quote, Quote.Status.PENDING_APPROVAL, "submitted_at")
        else:
            _set_status(quote, Quote.Status.APPROVED, "submitted_at")
            log(quote, "approved", None, "no approval rule applies")
            record_event("quote.approved", quote, _event_payload(quote))
    return quote


def current_step(quote: Quote) -> ApprovalStep | None:
    return (quote.approval_steps.filter(status=ApprovalStep.Status.PENDING).select_related("approver_group")
            .order_by("submission", "order").first())


def _check_approver(quote: Quote, step: ApprovalStep | None, by) -> ApprovalStep:
    if quote.status != Quote.Status.PENDING_APPROVAL or step is None:
        raise InvalidTransition(f"{quote} is {quote.status}, not waiting for approval")
    if quote.owner_id == by.pk:
        raise PermissionDeniedError("you cannot approve or reject your own quote")
    if not by.has_perm("quotes.approve_quote"):
        raise PermissionDeniedError("you do not have permission to approve quotes")
    if not (by.is_superuser or by.groups.filter(pk=step.approver_group_id).exists()):
        raise PermissionDeniedError(f"this step waits for the {step.approver_group.name} group")
    return step


def quote_approve(*, quote_id: int, by, comment: str = "") -> Quote:
    with transaction.atomic():
        quote = _locked(quote_id)
        step = _check_approver(quote, current_step(quote), by)
        step.status, step.decided_by, step.decided_at, step.comment = (
            ApprovalStep.Status.APPROVED, by, timezone.now(), comment)
        step.save(update_fields=["status", "decided_by", "decided_at", "comment"])
        log(quote, "approval_step_approved", by, f"{step.reason}. {comment}".strip())
        record_event("quote.approval_step_approved", quote, _event_payload(quote, step=step.order))
        if current_step(quote) is None:
            _set_status(quote, Quote.Status.APPROVED)
            log(quote, "approved", by)
            record_event("quote.approved", quote, _event_payload(quote))
    return quote


def quote_reject(*, quote_id: int, by, comment: str) -> Quote:
    """An approver turns the quote down: it goes back to draft with the comment for the owner."""
    if not (comment or "").strip():
        raise field_error("comment", "say why the quote is rejected")
    with transaction.atomic():
        quote = _locked(quote_id)
        step = _check_approver(quote, current_step(quote), by)
        step.status, step.decided_by, step.decided_at, step.comment = (
            ApprovalStep.Status.REJECTED, by, timezone.now(), comment)
        step.save(update_fields=["status", "decided_by", "decided_at", "comment"])
        quote.approval_steps.filter(status=ApprovalStep.Status.PENDING).update(status=ApprovalStep.Status.CANCELLED)
        _set_status(quote, Quote.Status.DRAFT)
        log(quote, "approval_rejected", by, comment)
        record_event("quote.approval_rejected", quote, _event_payload(quote, comment=comment))
    return quote


# --- sending and customer acceptance -----------------------------------------------------------------

def acceptance_token(quote: Quote) -> str:
    return signing.TimestampSigner(salt=ACCEPTANCE_SALT).sign_object(
        {"q": quote.pk, "n": quote.acceptance_nonce}, compress=True)


def acceptance_url(quote: Quote) -> str:
    return reverse("quote_acceptance", args=[acceptance_token(quote)])


def quote_send(*, quote_id: int, by) -> Quote:
    """Approved → sent. A fresh nonce makes any earlier link for this quote stop working."""
    with transaction.atomic():
        quote = _locked(quote_id)
        if not can_edit(quote, by):
            raise PermissionDeniedError("only the quote's owner or a sales manager may send it")
        if quote.status not in (Quote.Status.APPROVED, Quote.Status.SENT):
            raise InvalidTransition(f"{quote} is {quote.status}; only an approved quote can be sent")
        if quote.valid_until < timezone.localdate():
            raise InvalidTransition(f"{quote} expired on {quote.valid_until}")
        quote.acceptance_nonce = secrets.token_hex(16)
        quote.sent_at = timezone.now()
        _set_status(quote, Quote.Status.SENT, "acceptance_nonce", "sent_at")
        log(quote, "sent", by)
        record_event("quote.sent", quote, _event_payload(quote))
    return quote


class AcceptanceLinkInvalid(ValidationFailed):
    code = "acceptance_link_invalid"


def quote_from_token(token: str) -> Quote:
    """The quote a customer link points to, or AcceptanceLinkInvalid (tampered, expired, re-sent)."""
    try:
        data = signing.TimestampSigner(salt=ACCEPTANCE_SALT).unsign_object(token, max_age=ACCEPTANCE_MAX_AGE)
    except signing.SignatureExpired:
        raise AcceptanceLinkInvalid("this link has expired; ask your sales contact for a new one") from None
    except signing.BadSignature:
        raise AcceptanceLinkInvalid("this link is not valid") from None
    quote = Quote.objects.filter(pk=data.get("q")).select_related("customer", "owner").first()
    if quote is None or not quote.acceptance_nonce or quote.acceptance_nonce != data.get("n"):
        raise AcceptanceLinkInvalid("this link is no longer valid; a newer one was sent")
    return quote


def _check_customer_can_act(quote: Quote) -> None:
    if quote.status == Quote.Status.SUPERSEDED:
        raise InvalidTransition("this quote was replaced by a newer version; use the latest link")
    if quote.status != Quote.Status.SENT:
        raise InvalidTransition(f"this quote is {quote.get_status_display().lower()} and cannot be accepted")
    if quote.valid_until < timezone.localdate():
        raise InvalidTransition(f"this quote expired on {quote.valid_until:%Y-%m-%d}")


def quote_accept(*, token: str, name: str, title: str = "", ip: str | None = None) -> Quote:
    """The customer accepts. Idempotent: accepting an accepted quote again changes nothing."""
    if not (name or "").strip():
        raise field_error("name", "type your full name to accept")
    quote = quote_from_token(token)
    with transaction.atomic():
        quote = _locked(quote.pk)
        if quote.status == Quote.Status.ACCEPTED:
            return quote
        _check_customer_can_act(quote)
        quote.accepted_at = timezone.now()
        quote.accepted_by_name, quote.accepted_by_title, quote.accepted_ip = name.strip(), title.strip(), ip
        _set_status(quote, Quote.Status.ACCEPTED, "accepted_at", "accepted_by_name", "accepted_by_title",
                    "accepted_ip")
        log(quote, "accepted", None, f"by {quote.accepted_by_name}" + (f", {title}" if title else ""))
        record_event("quote.accepted", quote, _event_payload(
            quote, start_date=quote.start_date.isoformat(), term_months=quote.term_months,
            billing_frequency=quote.billing_frequency, accepted_by=quote.accepted_by_name))
    return quote


def quote_decline(*, token: str, reason: str) -> Quote:
    if not (reason or "").strip():
        raise field_error("reason", "tell us why, so we can do better")
    quote = quote_from_token(token)
    with transaction.atomic():
        quote = _locked(quote.pk)
        if quote.status == Quote.Status.REJECTED:
            return quote
        _check_customer_can_act(quote)
        quote.decline_reason, quote.declined_at = reason.strip(), timezone.now()
        _set_status(quote, Quote.Status.REJECTED, "decline_reason", "declined_at")
        log(quote, "declined", None, reason)
        record_event("quote.rejected", quote, _event_payload(quote, reason=reason))
    return quote


# --- versions and expiry ------------------------------------------------------------------------------

REVISABLE = (Quote.Status.DRAFT, Quote.Status.PENDING_APPROVAL, Quote.Status.APPROVED, Quote.Status.SENT,
             Quote.Status.REJECTED, Quote.Status.EXPIRED)


def quote_revise(*, quote_id: int, by) -> Quote:
    """A new draft version with the same lines; this version becomes superseded (its link dies)."""
    with transaction.atomic():
        quote = _locked(quote_id)
        if not can_edit(quote, by):
            raise PermissionDeniedError("only the quote's owner or a sales manager may revise it")
        if quote.status not in REVISABLE:
            raise InvalidTransition(f"{quote} is {quote.status} and cannot be revised")
        lines = quote_lines(quote)
        today = timezone.localdate()
        new = Quote.objects.create(
            number=quote.number, version=quote.version + 1, previous_version=quote, customer=quote.customer,
            owner=quote.owner, currency=quote.currency, price_book=quote.price_book, start_date=quote.start_date,
            term_months=quote.term_months, billing_frequency=quote.billing_frequency,
            payment_terms=quote.payment_terms, valid_until=max(quote.valid_until, today),
            quote_discount_percent=quote.quote_discount_percent, notes=quote.notes,
        )
        mapping: dict[int, QuoteLine] = {}
        for line in sorted(lines, key=lambda x: x.parent_line_id is not None):
            mapping[line.pk] = QuoteLine.objects.create(
                quote=new, product=line.product, price=line.price, quantity=line.quantity,
                parent_line=mapping.get(line.parent_line_id), position=line.position,
                discount_percent=line.discount_percent, discount_amount=line.discount_amount, billing_period="",
            )
        quote_reprice(quote=new)
        quote.acceptance_nonce = ""
        quote.approval_steps.filter(status=ApprovalStep.Status.PENDING).update(status=ApprovalStep.Status.CANCELLED)
        _set_status(quote, Quote.Status.SUPERSEDED, "acceptance_nonce")
        log(quote, "superseded", by, f"by version {new.version}")
        log(new, "revised", by, f"from version {quote.version}")
        record_event("quote.revised", new, _event_payload(new, previous=quote.pk))
        record_event("quote.superseded", quote, _event_payload(quote, by_version=new.pk))
    return new


def quotes_expire(*, today=None) -> int:
    """Expire open quotes whose validity has passed (beat task). Idempotent."""
    today = today or timezone.localdate()
    expired = 0
    candidates = list(Quote.objects.filter(status__in=Quote.OPEN, valid_until__lt=today).values_list("pk", flat=True))
    for pk in candidates:
        with transaction.atomic():
            quote = _locked(pk)
            if quote.status not in Quote.OPEN or quote.valid_until >= today:
                continue
            quote.approval_steps.filter(status=ApprovalStep.Status.PENDING).update(
                status=ApprovalStep.Status.CANCELLED)
            _set_status(quote, Quote.Status.EXPIRED)
            log(quote, "expired", None, f"valid until {quote.valid_until}")
            record_event("quote.expired", quote, _event_payload(quote))
            expired += 1
    return expired


"""A customer's shared timeline (Customer 360): one list, newest first, of everything that happened to
the customer — quote, contract and invoice events, payments, credit notes, alerts fired and cleared, and
the comments staff leave on it — plus `customer_comment_add` (comments with @-mentions).

Sources and what each contributes (`kind` is the item's public name):
  comment      CustomerComment                         comment
  alert        analytics.Alert (customer set)          alert.fired (triggered_at), alert.cleared (cleared_at)
  credit_note  billing.CreditNote                      credit_note.issued
  payment      billing.Payment                         payment.received | payment.refund | payment.credit
  invoice      billing.InvoiceEvent                    invoice.issued, invoice.overdue (a dunning reminder),
                                                       invoice.payment_applied, invoice.voided,
                                                       invoice.uncollectible
               billing.Invoice (open, past due)        invoice.overdue (no reminder sent: see below)
  contract     contracts.ContractEvent (every kind)    contract.created_from_quote, contract.activated,
                                                       contract.amended, contract.renewal_alert,
                                                       contract.renewed, contract.terminated, ...
  quote        quotes.QuoteEvent                       quote.created, quote.submitted, quote.approved,
                                                       quote.sent, quote.accepted, quote.declined, ...
Renewal alerts, amendments and dunning notices are already events of their contract or invoice, so they
are not read twice from their own tables; line edits, PDF renders and e-mails are left out (noise).

Overdue invoices: one `invoice.overdue` item per invoice. An invoice still owed (issued or partly paid, amount
due > 0) whose due date is before today (the business time zone, as dunning and the AR aging count) is overdue
from the first instant of the day after its due date; until a dunning reminder is sent it has no event, so the
item is read from the invoice itself at that instant. Once a reminder is sent, the reminder's event is the
item instead (no duplicate); paid, void, uncollectible or fully credited invoices get none.

Order: newest first; at equal instants the consequence above its cause — comment, alert, credit note,
payment, invoice, contract, quote (`SOURCE_RANK`) — then the higher id first. The page is one UNION ALL
query ordered and sliced in the database (the overdue invoices are one more branch of it), plus one query
for the total, one for the actors' names and one for the comments' mentions: four queries whatever the
customer's history (no N+1).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import NotSupportedError, connection, models, transaction
from django.db.models import Exists, F, Func, OuterRef, Q, Value
from django.db.models.functions import Cast, Concat, Lower
from django.urls import reverse
from django.utils import timezone

from billing.models import CreditNote, Invoice, InvoiceEvent, Payment
from contracts.models import ContractEvent
from customers.models import Customer, CustomerComment
from quotes.models import QuoteEvent
from revops.kernel import money
from revops.kernel.errors import ValidationFailed, field_error
from revops.kernel.events import record_event
from revops.kernel.notifications import notify
from revops.kernel.roles import STAFF_ROLES

from ..models import Alert

SOURCES = ("comment", "alert", "credit_note", "payment", "invoice", "contract", "quote")
SOURCE_RANK = {source: rank for rank, source in enumerate(SOURCES)}
BILLING_SOURCES = frozenset({"credit_note", "payment"})  # money movements: finance-side roles only

QUOTE_KINDS = ("created", "submitted", "approved", "approval_rejected", "returned_to_draft", "sent", "accepted",
               "declined", "revised", "expired")
INVOICE_KINDS = {"issued": "issued", "dunning": "overdue", "payment": "payment_applied", "voided": "voided",
                 "uncollectible": "uncollectible"}
PAST_DUE = "past_due"  # the raw kind of an overdue invoice with no reminder yet (read from the invoice, no event)
PAYMENT_KINDS = {Payment.Source.MANUAL: "received", Payment.Source.WEBHOOK: "received",
                 Payment.Source.REFUND: "refund", Payment.Source.CREDIT: "credit"}

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
COMMENT_MAX_LENGTH = 5000
# @username: Django's username characters except "@" (so "ask @fiona@example.com" mentions fiona@example.com
# only when such a user exists). A trailing "." or "-" ends the sentence, not the name.
MENTION_RE = re.compile(r"(?<![\w@.+-])@([\w.+-]*[\w+])")

TITLES = {
    "quote.created": "Quote {label} created",
    "quote.submitted": "Quote {label} submitted for approval",
    "quote.approved": "Quote {label} approved",
    "quote.approval_rejected": "Quote {label}: approval rejected",
    "quote.returned_to_draft": "Quote {label} returned to draft",
    "quote.sent": "Quote {label} sent to the customer",
    "quote.accepted": "Quote {label} accepted",
    "quote.declined": "Quote {label} declined by the customer",
    "quote.revised": "Quote {label} revised (new version)",
    "quote.expired": "Quote {label} expired",
    "contract.created": "Contract {label} created",
    "contract.created_from_quote": "Contract {label} created from the accepted quote",
    "contract.created_as_renewal": "Contract {label} created as a renewal",
    "contract.activated": "Contract {label} activated",
    "contract.amended": "Contract {label} amended",
    "contract.amendment_quote_created": "Amendment quote made for contract {label}",
    "contract.renewal_quote_created": "Renewal quote made for contract {label}",
    "contract.renewal_alert": "Contract {label} comes up for renewal",
    "contract.renewed": "Contract {label} renewed",
    "contract.terms_updated": "Contract {label}: terms updated",
    "contract.expired": "Contract {label} expired",
    "contract.terminated": "Contract {label} terminated",
    "invoice.issued": "Invoice {label} issued",
    "invoice.overdue": "Invoice {label} overdue: reminder sent",
    f"invoice.{PAST_DUE}": "Invoice {label} overdue: not paid by its due date",
    "invoice.payment_applied": "Payment applied to invoice {label}",
    "invoice.voided": "Invoice {label} voided",
    "invoice.uncollectible": "Invoice {label} written off as uncollectible",
    "payment.received": "Payment received",
    "payment.refund": "Refund paid",
    "payment.credit": "Customer credit recorded",
    "credit_note.issued": "Credit note {label} issued",
    "alert.fired": "Alert: {label}",
    "alert.cleared": "Alert cleared: {label}",
    "comment": "Comment",
}

# One row of the UNION: the same columns, in the same order, from every source.
COLUMNS = ("t_id", "t_source", "t_rank", "t_at", "t_kind", "t_ref", "t_label", "t_detail", "t_actor", "t_amount",
           "t_currency")


@dataclass
class TimelineItem:
    kind: str
    at: datetime
    title: str
    detail: str
    link: str
    actor: str  # the person's name, "" for the system
    actor_id: int | None
    source: str
    source_id: int
    amount: Decimal | None = None
    currency: str = ""
    mentions: list[str] = field(default_factory=list)  # comments: the mentioned usernames

    @property
    def is_comment(self) -> bool:
        return self.kind == "comment"


@dataclass
class TimelinePage:
    items: list[TimelineItem]
    count: int | None  # None when not asked for (with_count=False)
    offset: int
    limit: int
    more: bool = False

    @property
    def has_more(self) -> bool:
        return self.more


def _columns(qs: models.QuerySet, *, source: str, at: str, kind, ref, label, detail, actor, amount=None,
             currency=None) -> models.QuerySet:
    """Annotate a source's rows with the UNION's columns (every one an annotation, so the column order is
    the same in every branch)."""
    def expr(value, output):
        if value is None:  # a typed NULL: PostgreSQL resolves UNION column types branch by branch
            return Cast(Value(None), output_field=output)
        return F(value) if isinstance(value, str) else value

    return qs.annotate(
        t_id=F("pk"),
        t_source=Cast(Value(source), output_field=models.CharField()),
        t_rank=Cast(Value(SOURCE_RANK[source]), output_field=models.IntegerField()),
        t_at=F(at),
        t_kind=kind if not isinstance(kind, str) else Cast(Value(kind), output_field=models.CharField()),
        t_ref=expr(ref, models.BigIntegerField()),
        t_label=expr(label, models.CharField()),
        t_detail=expr(detail, models.TextField()),
        t_actor=expr(actor, models.BigIntegerField()),
        t_amount=expr(amount, models.DecimalField(max_digits=19, decimal_places=4)),
        t_currency=expr(currency, models.CharField()),
    ).order_by().values_list(*COLUMNS)  # no Meta ordering inside the UNION's branches


class _DayAfterStarts(Func):
    """The instant the day after a date begins in time zone `zone`, as an aware timestamp: when an invoice
    due on that date becomes overdue."""

    output_field = models.DateTimeField()
    arity = 1

    def __init__(self, expression, *, zone: str):
        super().__init__(expression)
        self.zone = zone

    def as_postgresql(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"(({sql} + 1)::timestamp AT TIME ZONE %s)", (*params, self.zone)

    def as_sqlite(self, compiler, connection, **extra):
        # SQLite keeps datetimes as naive UTC text. django_datetime_trunc (Django's own function, registered on
        # every SQLite connection) reads the local midnight in `zone` and writes it back in UTC.
        sql, params = compiler.compile(self.source_expressions[0])
        return (f"django_datetime_trunc('second', date({sql}, '+1 day') || ' 00:00:00', 'UTC', %s)",
                (*params, self.zone))

    def as_sql(self, compiler, connection, **extra):
        raise NotSupportedError(f"the timeline's overdue invoices need PostgreSQL or SQLite, not {connection.vendor}")


def _overdue_invoices(customer_id: int, today: date) -> models.QuerySet:
    """The customer's invoices owed and past due on `today` with no dunning reminder yet, each at the instant
    it became overdue. Invoices with a reminder are left out: the reminder's event is their overdue item."""
    reminded = InvoiceEvent.objects.filter(invoice_id=OuterRef("pk"), kind="dunning")
    return (Invoice.objects.filter(customer_id=customer_id, status__in=Invoice.OPEN, due_date__lt=today,
                                   amount_due__gt=0)
            .exclude(Exists(reminded))
            .annotate(overdue_at=_DayAfterStarts("due_date", zone=settings.REVOPS_BUSINESS_TIME_ZONE),
                      overdue_detail=Concat(Value("Was due on "), Cast("due_date", models.CharField()),
                                            Value("; no reminder sent yet."), output_field=models.TextField())))


def business_today() -> date:
    return timezone.localdate(timezone=ZoneInfo(settings.REVOPS_BUSINESS_TIME_ZONE))


def _branches(customer_id: int, sources: frozenset[str], today: date) -> list[models.QuerySet]:
    out = []
    if "comment" in sources:
        out.append(_columns(CustomerComment.objects.filter(customer_id=customer_id), source="comment",
                            at="created_at", kind="comment", ref="pk", label=None, detail="body", actor="author_id"))
    if "alert" in sources:
        alerts = Alert.objects.filter(customer_id=customer_id)
        out.append(_columns(alerts, source="alert", at="triggered_at", kind="fired", ref="rule_id",
                            label="rule__name", detail="message", actor=None))
        out.append(_columns(alerts.filter(cleared_at__isnull=False), source="alert", at="cleared_at", kind="cleared",
                            ref="rule_id", label="rule__name", detail="message", actor=None))
    if "credit_note" in sources:
        out.append(_columns(CreditNote.objects.filter(customer_id=customer_id), source="credit_note", at="issued_at",
                            kind="issued", ref="invoice_id", label="number", detail="reason", actor="created_by_id",
                            amount="total", currency="currency"))
    if "payment" in sources:
        out.append(_columns(Payment.objects.filter(customer_id=customer_id), source="payment", at="received_at",
                            kind=F("source"), ref="pk", label="reference", detail=None, actor="recorded_by_id",
                            amount="amount", currency="currency"))
    if "invoice" in sources:
        out.append(_columns(InvoiceEvent.objects.filter(invoice__customer_id=customer_id, kind__in=list(INVOICE_KINDS)),
                            source="invoice", at="at", kind=F("kind"), ref="invoice_id", label="invoice__number",
                            detail="detail", actor="actor_id", currency="invoice__currency"))
        out.append(_columns(_overdue_invoices(customer_id, today), source="invoice", at="overdue_at", kind=PAST_DUE,
                            ref="pk", label="number", detail="overdue_detail", actor=None, currency="currency"))
    if "contract" in sources:
        out.append(_columns(ContractEvent.objects.filter(contract__customer_id=customer_id), source="contract",
                            at="at", kind=F("kind"), ref="contract_id", label="contract__number", detail="detail",
                            actor="actor_id"))
    if "quote" in sources:
        out.append(_columns(QuoteEvent.objects.filter(quote__customer_id=customer_id, kind__in=QUOTE_KINDS),
                            source="quote", at="at", kind=F("kind"), ref="quote_id", label="quote__number",
                            detail="detail", actor="actor_id"))
    return out


def _public_kind(source: str, raw: str) -> str:
    if source == "comment":
        return "comment"
    if source == "invoice":
        return "invoice.overdue" if raw == PAST_DUE else f"invoice.{INVOICE_KINDS.get(raw, raw)}"
    if source == "payment":
        return f"payment.{PAYMENT_KINDS.get(raw, 'received')}"
    return f"{source}.{raw}"


def _link(source: str, ref: int | None, customer_id: int, row_id: int) -> str:
    if source == "comment":
        return f"{reverse('customers:detail', args=[customer_id])}#comment-{row_id}"
    if source == "alert":
        return f"{reverse('customers:detail', args=[customer_id])}#alerts"
    name = {"quote": "quotes:detail", "contract": "contracts:detail", "invoice": "billing:invoice",
            "credit_note": "billing:invoice", "payment": "billing:payment"}[source]
    return reverse(name, args=[ref]) if ref else ""


def _display_name(user) -> str:
    return user.get_full_name() or user.get_username()


def customer_timeline(*, customer_id: int, sources: frozenset[str] | set[str] = frozenset(SOURCES),
                      limit: int = DEFAULT_LIMIT, offset: int = 0, invoice_amounts: bool = True,
                      with_count: bool = True, today: date | None = None) -> TimelinePage:
    """One page of the customer's timeline from the `sources` the viewer may see, newest first.
    `invoice_amounts=False` keeps invoice events' titles but drops their detail (it names amounts).
    `with_count=False` skips the total (a second pass over the history); `has_more` is known either way.
    `today` (default: today in the business time zone) decides which invoices are overdue."""
    limit = max(1, min(int(limit), MAX_LIMIT))
    offset = max(0, int(offset))
    branches = _branches(customer_id, frozenset(sources) & frozenset(SOURCES), today or business_today())
    if not branches:
        return TimelinePage([], 0 if with_count else None, offset, limit)
    # Each branch keeps only its own newest offset+limit+1 rows (a top-N in the database), so the outer
    # sort sees at most branches × that many rows, however long the history.
    # (SQLite cannot slice inside a UNION: there the outer sort does all the work.)
    window = offset + limit + 1
    if connection.features.supports_slicing_ordering_in_compound:
        ordered = [b.order_by("-t_at", "-t_id")[:window] for b in branches]
    else:
        ordered = branches
    union = ordered[0].union(*ordered[1:], all=True) if len(ordered) > 1 else branches[0]
    # t_kind last: an overdue invoice's row carries the invoice's id, which an invoice event may share
    rows = list(union.order_by("-t_at", "t_rank", "-t_id", "t_kind")[offset:offset + limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    count = None
    if with_count:
        if not offset and not more:
            count = len(rows)
        else:
            whole = branches[0].union(*branches[1:], all=True) if len(branches) > 1 else branches[0]
            count = whole.count()

    actor_ids = {r[8] for r in rows if r[8]}
    users = {u.pk: u for u in get_user_model().objects.filter(pk__in=actor_ids)} if actor_ids else {}
    comment_ids = [r[0] for r in rows if r[1] == "comment"]
    mentions: dict[int, list[str]] = {}
    if comment_ids:
        through = CustomerComment.mentions.through
        for comment_id, username in (through.objects.filter(customercomment_id__in=comment_ids)
                                     .order_by("user__username").values_list("customercomment_id", "user__username")):
            mentions.setdefault(comment_id, []).append(username)

    items = []
    for row_id, source, _rank, at, raw_kind, ref, label, detail, actor_id, amount, currency in rows:
        kind = _public_kind(source, raw_kind)
        if source == "invoice" and not invoice_amounts:
            detail, amount, currency = "", None, ""
        actor = users.get(actor_id)
        title = TITLES.get(f"invoice.{PAST_DUE}" if (source, raw_kind) == ("invoice", PAST_DUE) else kind,
                           f"{source.title()} {{label}}: {raw_kind}")
        items.append(TimelineItem(
            kind=kind, at=at, title=title.format(
                label=label or "").replace("  ", " ").strip(),
            detail=detail or "", link=_link(source, ref, customer_id, row_id),
            actor=_display_name(actor) if actor else "", actor_id=actor_id, source=source, source_id=row_id,
            amount=money.quantize(amount, currency) if amount is not None and currency else amount,
            currency=currency or "", mentions=mentions.get(row_id, []) if source == "comment" else [],
        ))
    return TimelinePage(items, count, offset, limit, more)


# --- comments ----------------------------------------------------------------------------------------

def mentioned_usernames(body: str) -> list[str]:
    """The @names in `body`, in order of first appearance, without repeats (case-insensitive)."""
    seen, out = set(), []
    for name in MENTION_RE.findall(body):
        key = name.lower()
        if key not in seen:
            seen.add(key)
            out.append(name)
    return out


def _mentionable(names: list[str]):
    """Active staff users (a staff role, or a superuser) whose username is one of `names`, ignoring case.
    Portal contacts and inactive users are never mentionable."""
    if not names:
        return []
    return list(get_user_model().objects.filter(is_active=True)
                .filter(Q(groups__name__in=STAFF_ROLES) | Q(is_superuser=True))
                .annotate(username_ci=Lower("username")).filter(username_ci__in=[n.lower() for n in names])
                .distinct().order_by("username"))


def customer_comment_add(*, customer_id, author, body) -> CustomerComment:
    """Add a comment to the customer's timeline. Each @username naming an active staff user becomes a
    mention and that user gets one in-app notification for this comment (never the author; unknown names
    stay plain text). Records `customer.commented`. Refused whole (ValidationFailed) on an empty or too long
    body or an unknown customer."""
    try:
        customer = Customer.objects.get(pk=int(customer_id))
    except (Customer.DoesNotExist, TypeError, ValueError):
        raise field_error("customer", f"no customer with id {customer_id!r}") from None
    if not isinstance(body, str) or not body.strip():
        raise field_error("body", "write something: a comment cannot be empty")
    body = body.strip()
    if len(body) > COMMENT_MAX_LENGTH:
        raise ValidationFailed(f"a comment is at most {COMMENT_MAX_LENGTH} characters ({len(body)} given)",
                               fields={"body": [f"at most {COMMENT_MAX_LENGTH} characters"]})
    mentioned = _mentionable(mentioned_usernames(body))
    with transaction.atomic():
        comment = CustomerComment.objects.create(customer=customer, author=author, body=body)
        if mentioned:
            comment.mentions.set(mentioned)
        record_event("customer.commented", customer, {
            "customer": customer.pk, "comment": comment.pk, "author": getattr(author, "pk", None),
            "mentions": [u.pk for u in mentioned]})
        recipients = [u for u in mentioned if u.pk != getattr(author, "pk", None)]
        if recipients:
            who = _display_name(author) if author else "Someone"
            excerpt = body if len(body) <= 200 else body[:199] + "…"
            notify(users=recipients, kind="customer.mention", message=f"{who} mentioned you on {customer.name}: {excerpt}",
                   link=f"{reverse('customers:detail', args=[customer.pk])}#comment-{comment.pk}",
                   dedupe_key=f"customer_comment:{comment.pk}")
    return comment

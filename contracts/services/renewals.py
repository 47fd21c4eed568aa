"""Renewals: auto-renewing contracts renew on their end date into a new term at uplifted prices;
others get a draft renewal quote for their owner `renewal_notice_days` before the end. Renewal alerts
go out at each configured offset before the end date, once each (a unique constraint), and a missed
day is caught up the next time the daily task runs."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from quotes.models import Quote
from quotes.services import editing as quote_editing
from revops.kernel import money, roles
from revops.kernel.dates import term_end
from revops.kernel.errors import InvalidTransition, field_error
from revops.kernel.events import record_event
from revops.kernel.notifications import notify

from ..models import Contract, ContractLine, ContractQuote, RenewalAlert
from .creation import _new_number, event_payload, log
from .quoting import add_contract_lines
from .values import refresh_values

HUNDRED = Decimal(100)


def _uplift(value: Decimal, percent: Decimal) -> Decimal:
    return value * (1 + percent / HUNDRED)


def contract_renew(*, contract_id: int, by=None, term_months: int | None = None,
                   uplift_percent: Decimal | None = None) -> Contract:
    """Renew into a new contract starting the day after the end, for the renewal term, with each
    recurring and usage line carried over and its price uplifted. Idempotent: a contract renews once."""
    with transaction.atomic():
        contract = Contract.objects.select_for_update().get(pk=contract_id)
        existing = Contract.objects.filter(renewed_from=contract).first()
        if existing is not None:
            return existing
        if contract.status not in (Contract.Status.ACTIVE, Contract.Status.EXPIRED):
            raise InvalidTransition(f"{contract} is {contract.status} and cannot be renewed")
        term = term_months if term_months is not None else contract.renewal_term_months
        if not term or term < 1:
            raise field_error("renewal_term_months", "a renewal term must be at least one month")
        uplift = contract.renewal_uplift_percent if uplift_percent is None else Decimal(uplift_percent)
        if not uplift.is_finite() or uplift < -HUNDRED:  # below -100 % prices would turn negative
            raise field_error("uplift_percent", "an uplift must be at least -100 (percent)")
        start = contract.end_date + timedelta(days=1)
        renewal = Contract.objects.create(
            number=_new_number(timezone.localdate()), customer=contract.customer, owner=contract.owner,
            currency=contract.currency, status=Contract.Status.ACTIVE, start_date=start,
            end_date=term_end(start, term), billing_frequency=contract.billing_frequency,
            payment_terms=contract.payment_terms, auto_renew=contract.auto_renew, renewal_term_months=term,
            renewal_uplift_percent=contract.renewal_uplift_percent, renewal_notice_days=contract.renewal_notice_days,
            renewal_alert_offsets=contract.renewal_alert_offsets, renewed_from=contract, activated_at=timezone.now(),
        )
        carried = [line for line in contract.lines.active_on(contract.end_date).select_related("product")
                   if line.period != ContractLine.Period.ONE_TIME and line.quantity > 0]
        for item, line in enumerate(sorted(carried, key=lambda x: x.item), start=1):
            ContractLine.objects.create(
                contract=renewal, item=item, product=line.product, price=line.price, quantity=line.quantity,
                unit_price=money.quantize_unit_price(_uplift(line.unit_price, uplift)),
                amount=money.quantize(_uplift(line.amount, uplift), contract.currency), period=line.period,
                billing_frequency=renewal.billing_frequency, start_date=start, end_date=renewal.end_date)
        _mark_renewed(contract, renewal, by, f"{term} months at +{uplift.normalize():f}%")
    return renewal


def _mark_renewed(contract: Contract, renewal: Contract, by, detail: str) -> None:
    refresh_values(renewal, as_of=renewal.start_date)
    contract.status = Contract.Status.RENEWED
    contract.save(update_fields=["status"])
    log(contract, "renewed", by, f"into {renewal.number}: {detail}")
    log(renewal, "created_as_renewal", by, f"of {contract.number}")
    record_event("contract.renewed", contract, event_payload(contract, renewal=renewal.pk,
                                                             renewal_number=renewal.number))
    record_event("contract.activated", renewal, event_payload(renewal, renewed_from=contract.pk))


def contract_renew_from_quote(*, quote_id: int) -> Contract:
    """An accepted renewal quote: the new term takes the quote's lines and prices. Idempotent."""
    link = ContractQuote.objects.get(quote_id=quote_id, purpose=ContractQuote.Purpose.RENEWAL)
    with transaction.atomic():
        contract = Contract.objects.select_for_update().get(pk=link.contract_id)
        existing = Contract.objects.filter(renewed_from=contract).first()
        if existing is not None:
            return existing
        quote = Quote.objects.get(pk=quote_id)
        start = contract.end_date + timedelta(days=1)
        renewal = Contract.objects.create(
            number=_new_number(timezone.localdate()), customer=contract.customer, owner=quote.owner,
            currency=quote.currency, status=Contract.Status.ACTIVE, start_date=start,
            end_date=term_end(start, quote.term_months), billing_frequency=quote.billing_frequency,
            payment_terms=quote.payment_terms, auto_renew=contract.auto_renew,
            renewal_term_months=quote.term_months, renewal_uplift_percent=contract.renewal_uplift_percent,
            renewal_notice_days=contract.renewal_notice_days, renewal_alert_offsets=contract.renewal_alert_offsets,
            renewed_from=contract, activated_at=timezone.now(),
        )
        for item, qline in enumerate(quote.lines.select_related("product", "price").order_by("position", "id"), 1):
            period = {"one_time": "one_time", "usage": "usage"}.get(qline.product.kind, qline.price.billing_period)
            ContractLine.objects.create(
                contract=renewal, item=item, product=qline.product, price=qline.price, quantity=qline.quantity,
                unit_price=qline.net_unit_price, amount=qline.net_period_amount, period=period,
                billing_frequency=renewal.billing_frequency, start_date=start, end_date=renewal.end_date,
                quote_line=qline)
        _mark_renewed(contract, renewal, quote.owner, f"from renewal quote {quote.number} v{quote.version}")
    return renewal


def renewal_quote_create(*, contract_id: int, by=None) -> Quote:
    """A draft renewal quote for the contract's owner: the lines active at the end, priced from the
    price book with the discount that brings each to the uplifted contract price (never above list)."""
    with transaction.atomic():
        contract = Contract.objects.select_for_update(of=("self",)).select_related("customer", "owner").get(
            pk=contract_id)
        if contract.renewal_quote_id:
            return contract.renewal_quote
        if contract.status not in (Contract.Status.ACTIVE, Contract.Status.EXPIRED):
            raise InvalidTransition(f"{contract} is {contract.status}; only an active or expired contract gets a "
                                    "renewal quote")
        owner = contract.owner or by
        if owner is None:
            raise field_error("owner", f"{contract} has no owner to prepare its renewal quote")
        quote = quote_editing.quote_create(
            customer=contract.customer, owner=owner, start_date=contract.end_date + timedelta(days=1),
            term_months=contract.renewal_term_months, billing_frequency=contract.billing_frequency,
            payment_terms=contract.payment_terms, currency=contract.currency,
            valid_until=max(contract.end_date, timezone.localdate()),
            notes=f"Renewal of contract {contract.number}.")
        add_contract_lines(quote, contract.lines.active_on(contract.end_date).select_related("product"), owner,
                           uplift_percent=contract.renewal_uplift_percent)
        ContractQuote.objects.create(quote=quote, contract=contract, purpose=ContractQuote.Purpose.RENEWAL)
        contract.renewal_quote = quote
        contract.save(update_fields=["renewal_quote"])
        log(contract, "renewal_quote_created", by, f"{quote.number}")
        record_event("contract.renewal_quote_created", contract, event_payload(contract, quote=quote.pk))
    return quote


# --- alerts ---------------------------------------------------------------------------------------

def _contract_link(contract: Contract) -> str:
    try:
        return reverse("contracts:detail", args=[contract.pk])
    except NoReverseMatch:
        return ""


def send_renewal_alerts(*, today: date) -> int:
    """Create every renewal alert that is due and not yet sent (catching up missed days), notifying the
    owner and the customer-success team in-app and by email. Returns how many alerts were sent."""
    horizon = today + timedelta(days=max(_all_offsets(), default=0))
    candidates = Contract.objects.filter(status=Contract.Status.ACTIVE, end_date__gte=today,
                                         end_date__lte=horizon).select_related("customer", "owner")
    success_team = list(User.objects.filter(groups__name=roles.CUSTOMER_SUCCESS, is_active=True))
    sent = 0
    for contract in candidates:
        sent_offsets = set(contract.renewal_alerts.values_list("offset_days", flat=True))
        became_active = (contract.activated_at.date() if contract.activated_at else contract.start_date)
        for offset in sorted({int(o) for o in contract.renewal_alert_offsets}, reverse=True):
            due = contract.end_date - timedelta(days=offset)
            # Due today or missed earlier, but only if the contract already existed then.
            if offset in sent_offsets or due > today or due < became_active:
                continue
            try:
                with transaction.atomic():
                    alert = RenewalAlert.objects.create(contract=contract, offset_days=offset, due_date=due,
                                                        arr_at_risk=contract.arr)
                    message = (f"{contract.customer.name}: contract {contract.number} ends on {contract.end_date} "
                               f"({(contract.end_date - today).days} days), ARR {money.format_money(contract.arr, contract.currency)}"
                               + (" — renews automatically" if contract.auto_renew else " — renewal needed"))
                    notify(users=[contract.owner, *success_team], kind="renewal_alert", message=message,
                           link=_contract_link(contract), dedupe_key=f"renewal_alert:{contract.pk}:{offset}",
                           email_subject=f"Renewal in {offset} days: {contract.customer.name}")
                    log(contract, "renewal_alert", None, f"{offset} days before the end")
                    record_event("contract.renewal_alert", contract, event_payload(
                        contract, offset_days=offset, due_date=due.isoformat(), alert=alert.pk))
                    sent += 1
            except IntegrityError:
                continue  # another run sent it a moment ago
    return sent


def _all_offsets() -> set[int]:
    offsets: set[int] = set()
    for value in Contract.objects.filter(status=Contract.Status.ACTIVE).values_list("renewal_alert_offsets",
                                                                                   flat=True).distinct():
        offsets.update(int(o) for o in value or [])
    return offsets


# --- the daily sweep -------------------------------------------------------------------------------

MAX_CATCH_UP_TERMS = 120  # ten years of monthly renewals: a bound, not a business rule


def _expire(pk: int, today: date) -> bool:
    with transaction.atomic():
        contract = Contract.objects.select_for_update().get(pk=pk)
        if contract.status != Contract.Status.ACTIVE or contract.end_date >= today:
            return False
        contract.status = Contract.Status.EXPIRED
        contract.save(update_fields=["status"])
        log(contract, "expired")
        record_event("contract.expired", contract, event_payload(contract))
    return True


def contracts_daily(*, today: date | None = None) -> dict[str, int]:
    """The daily beat task: renew or expire ended contracts, prepare renewal quotes, send alerts.
    Idempotent and catching up: running it twice, or after days of downtime, does each thing once."""
    today = today or timezone.localdate()
    done = {"renewed": 0, "expired": 0, "renewal_quotes": 0, "alerts": 0}
    # After downtime a renewal can itself have ended already: repeat until every term is caught up.
    for _ in range(MAX_CATCH_UP_TERMS):
        ended = list(Contract.objects.filter(status=Contract.Status.ACTIVE, end_date__lt=today)
                     .values_list("pk", "auto_renew"))
        if not ended:
            break
        for pk, auto_renew in ended:
            if auto_renew:
                contract_renew(contract_id=pk)
                done["renewed"] += 1
            elif _expire(pk, today):
                done["expired"] += 1
    due_quotes = Contract.objects.filter(status=Contract.Status.ACTIVE, auto_renew=False, renewal_quote__isnull=True,
                                         end_date__gte=today).select_related("owner")
    for contract in due_quotes:
        if contract.end_date - timedelta(days=contract.renewal_notice_days) <= today and contract.owner_id:
            renewal_quote_create(contract_id=contract.pk)
            done["renewal_quotes"] += 1
    done["alerts"] = send_renewal_alerts(today=today)
    return done

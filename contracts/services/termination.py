"""Ending a contract early: every line ends on the effective date (inclusive) and the rest of the
billing period is credited by days (billing settles it on the next invoice)."""
from __future__ import annotations

from datetime import date, timedelta

from django.db import transaction

from revops.kernel import money
from revops.kernel.errors import InvalidTransition, ValidationFailed, field_error
from revops.kernel.events import record_event

from ..models import Amendment, Contract, ProrationCharge
from .creation import event_payload, log
from .periods import MONTHS, billing_anchor, billing_period_containing, prorate
from .values import refresh_values


def contract_terminate(*, contract_id: int, effective_date: date, reason: str, by) -> Contract:
    if not (reason or "").strip():
        raise field_error("reason", "say why the contract ends")
    with transaction.atomic():
        contract = Contract.objects.select_for_update().get(pk=contract_id)
        if contract.status not in (Contract.Status.ACTIVE, Contract.Status.RENEWED):
            raise InvalidTransition(f"{contract} is {contract.status}; only an active contract can be terminated")
        if not (contract.start_date <= effective_date <= contract.end_date):
            raise ValidationFailed(
                f"the termination date must fall within the contract ({contract.start_date} … {contract.end_date})",
                fields={"effective_date": ["outside the contract's dates"]})
        lines = list(contract.lines.select_related("product"))
        if any(line.start_date > effective_date for line in lines):
            raise field_error("effective_date", "the contract changes after this date; terminate after that change")
        number = contract.amendments.count() + 1
        amendment = Amendment.objects.create(contract=contract, number=number, kind=Amendment.Kind.TERMINATE,
                                             effective_date=effective_date, reason=reason,
                                             created_by=by if getattr(by, "pk", None) else None)
        credits = []
        next_day = effective_date + timedelta(days=1)
        for line in lines:
            if line.end_date <= effective_date:
                continue
            if line.period in MONTHS and next_day <= contract.end_date:
                billing = billing_period_containing(billing_anchor(contract), contract.billing_frequency, next_day)
                if billing.start < next_day:  # a partly used period: credit its unused days
                    amount, remaining = prorate(unit_price=line.unit_price, price_period=line.period,
                                                frequency=contract.billing_frequency, quantity=-line.quantity,
                                                period=billing, effective=next_day, currency=contract.currency)
                    credits.append(ProrationCharge(
                        contract=contract, amendment=amendment, line=line, currency=contract.currency,
                        description=f"{line.product.name}: unused {remaining}/{billing.days} days after termination",
                        period_start=next_day, period_end=billing.end, remaining_days=remaining,
                        period_days=billing.days, amount=amount))
            line.end_date = effective_date
            line.save(update_fields=["end_date"])
        ProrationCharge.objects.bulk_create(credits)
        amendment.proration_total = money.quantize(sum((c.amount for c in credits), 0), contract.currency)
        amendment.save(update_fields=["proration_total"])
        renewal = getattr(contract, "renewed_by", None)
        contract.status, contract.terminated_on, contract.termination_reason = (
            Contract.Status.TERMINATED, effective_date, reason)
        contract.end_date = effective_date
        contract.save(update_fields=["status", "terminated_on", "termination_reason", "end_date"])
        refresh_values(contract, as_of=effective_date)
        log(contract, "terminated", by, f"effective {effective_date}: {reason}")
        record_event("contract.terminated", contract, event_payload(
            contract, effective_date=effective_date.isoformat(), reason=reason,
            credit_total=str(amendment.proration_total)))
        if renewal is not None and renewal.status == Contract.Status.ACTIVE:
            # The renewal that was to follow will not start.
            renewal.status, renewal.terminated_on = Contract.Status.TERMINATED, renewal.start_date
            renewal.termination_reason = f"the contract it renewed ({contract.number}) was terminated"
            renewal.save(update_fields=["status", "terminated_on", "termination_reason"])
            log(renewal, "terminated", by, renewal.termination_reason)
            record_event("contract.terminated", renewal, event_payload(
                renewal, effective_date=renewal.start_date.isoformat(), reason=renewal.termination_reason))
    return contract

"""Outbox subscribers: contracts build and modify their obligations; invoices, payments and credit
notes post to the journal. Each is idempotent (obligations exist once per contract; entries post once
per source key), so redelivery is harmless."""
from datetime import date
from decimal import Decimal

from revops.kernel.events import subscriber


@subscriber("recognition.contracts", "contract.activated", "contract.amended", "contract.terminated")
def on_contract_event(event) -> None:
    from .services import obligations

    contract_id = int(event.aggregate_id)
    if event.type == "contract.activated":
        obligations.obligations_for_contract(contract_id=contract_id,
                                             end_date=date.fromisoformat(event.payload["end_date"]))
    elif event.type == "contract.amended":
        obligations.obligations_modify(contract_id=contract_id,
                                       effective_date=date.fromisoformat(event.payload["effective_date"]),
                                       amendment_id=event.payload.get("amendment"))
    else:
        obligations.obligations_terminate(contract_id=contract_id,
                                          effective_date=date.fromisoformat(event.payload["effective_date"]))


@subscriber("recognition.journal", "invoice.issued", "payment.received", "credit_note.issued")
def on_money_event(event) -> None:
    from billing.models import CreditNote, Invoice, Payment

    from .services import posting

    if event.type == "invoice.issued":
        posting.post_invoice(Invoice.objects.get(pk=event.aggregate_id),
                             credit_applied=Decimal(event.payload.get("credit_applied") or 0))
    elif event.type == "payment.received":
        posting.post_payment(Payment.objects.get(pk=event.aggregate_id),
                             allocated=Decimal(event.payload.get("allocated") or 0))
    else:
        posting.post_credit_note(CreditNote.objects.get(pk=event.aggregate_id))

"""Outbox subscribers. An accepted quote becomes a contract, or amends / renews the contract it was
made for. Each path is idempotent, so a redelivered event changes nothing."""
from revops.kernel.events import subscriber


@subscriber("contracts.from_accepted_quote", "quote.accepted")
def on_quote_accepted(event) -> None:
    from .models import ContractQuote
    from .services.amendments import contract_amend_from_quote
    from .services.creation import contract_create_from_quote
    from .services.renewals import contract_renew_from_quote

    quote_id = event.payload["quote"]
    link = ContractQuote.objects.filter(quote_id=quote_id).first()
    if link is None:
        contract_create_from_quote(quote_id=quote_id)
    elif link.purpose == ContractQuote.Purpose.AMENDMENT:
        contract_amend_from_quote(quote_id=quote_id)
    else:
        contract_renew_from_quote(quote_id=quote_id)

"""Demo quote history for the pricing insights (called by analytics/demo.py).

The quotes demo makes a few quotes dated today, so win rates by discount band and leakage by month would
have almost nothing to show. This adds the deals behind the book, over the demo's history:
- for each first-term demo contract, the accepted quote it came from: the same start, term, owner,
  seats and net seat price, against the price book's list price (the contract's discount shows as the
  quote's discount), accepted on the contract's start date;
- for about half as many prospects and existing customers, quotes that were lost — declined (60 %) or left
  to expire (40 %) — with discounts from none to deep.
Rows are written in bulk (no per-quote services: < 1 s at 200 customers) with their totals computed here;
they raise no events (they are history: their contracts exist already, lost quotes change nothing).
"""
from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from contracts.models import ContractLine
from quotes.models import Quote, QuoteLine
from revops.kernel import money
from revops.kernel.numbering import format_number, next_number

D = Decimal
LOST_DISCOUNTS = [0, 0, 0, 5, 5, 10, 15, 20, 20, 25, 30, 35]
DECLINE_REASONS = ["Budget moved to next quarter", "Chose a competitor", "Price above our approval limit",
                   "Project on hold"]


def _line(quote: Quote, cline: ContractLine, position: int, list_unit: Decimal, term: int) -> QuoteLine:
    cur = quote.currency
    list_period = money.quantize(list_unit * cline.quantity, cur)
    net_period = money.quantize(cline.unit_price * cline.quantity, cur)
    discount = ((list_period - net_period) / list_period * 100).quantize(D("0.0001")) if list_period else D(0)
    return QuoteLine(quote=quote, product_id=cline.product_id, price_id=cline.price_id, position=position,
                     quantity=cline.quantity, discount_percent=max(discount, D(0)), recurring=True,
                     billing_period="month", list_period_amount=list_period, net_period_amount=net_period,
                     list_unit_price=list_unit, net_unit_price=cline.unit_price,
                     effective_discount_percent=max(discount, D(0)), manual_discount_percent=max(discount, D(0)),
                     mrr=net_period, amount=net_period * term, list_amount=list_period * term, explanation=[])


def _totals(quote: Quote, lines: list[QuoteLine]) -> None:
    quote.mrr = sum((ln.mrr for ln in lines), D(0))
    quote.arr = quote.mrr * 12
    quote.tcv = sum((ln.amount for ln in lines), D(0))
    quote.list_total = sum((ln.list_amount for ln in lines), D(0))
    quote.discount_total = quote.list_total - quote.tcv


def _at(day) -> datetime:
    return datetime.combine(day, time(15), tzinfo=UTC)


def seed(ctx) -> None:
    contracts = ctx.shared.get("contracts") or []
    reps = ctx.shared.get("reps") or []
    if not contracts or not reps:
        return
    rng, today = ctx.rng, ctx.today
    quotes: list[Quote] = []
    lines_of: dict[int, list[tuple]] = {}
    seat_lines = {}
    for cl in (ContractLine.objects.filter(contract__in=contracts, version=1, period="month",
                                           price__model="per_unit", price__billing_period="month")
               .select_related("price").order_by("contract_id", "item")):
        seat_lines.setdefault(cl.contract_id, cl)
    for contract in contracts:
        cl = seat_lines.get(contract.pk)
        if cl is None or contract.start_date > today:
            continue
        q = Quote(number=format_number("Q", contract.start_date.year, next_number(f"Q-{contract.start_date.year}")),
                  customer_id=contract.customer_id, owner=contract.owner or reps[0], currency=contract.currency,
                  price_book_id=cl.price.price_book_id, status=Quote.Status.ACCEPTED,
                  start_date=contract.start_date, term_months=contract.renewal_term_months,
                  billing_frequency=contract.billing_frequency, valid_until=contract.start_date,
                  accepted_at=_at(contract.start_date - timedelta(days=2)), accepted_by_name="Demo Buyer",
                  notes="Demo history: the deal behind this customer's first contract.")
        quotes.append(q)
        lines_of[id(q)] = [(cl, cl.price.unit_amount)]
    customers = ctx.shared.get("customers") or []
    templates = list(seat_lines.values())
    span = max((today - ctx.start).days - 45, 1)  # every lost quote ended before today
    for customer in rng.sample(customers, k=min(len(customers), len(quotes) // 2 + 1)):
        same = [t for t in templates if t.price.currency == customer.currency]
        if not same:
            continue
        template = rng.choice(same)
        day = ctx.start + timedelta(days=rng.randrange(span))
        discount = D(rng.choice(LOST_DISCOUNTS))
        unit = money.quantize_unit_price(template.price.unit_amount * (1 - discount / 100))
        declined = rng.random() < 0.6
        q = Quote(number=format_number("Q", day.year, next_number(f"Q-{day.year}")), customer_id=customer.pk,
                  owner=customer.owner or reps[0], currency=customer.currency,
                  price_book_id=template.price.price_book_id,
                  status=Quote.Status.REJECTED if declined else Quote.Status.EXPIRED, start_date=day,
                  term_months=rng.choice([12, 12, 24]), valid_until=day + timedelta(days=30),
                  declined_at=_at(day + timedelta(days=rng.randint(3, 25))) if declined else None,
                  decline_reason=rng.choice(DECLINE_REASONS) if declined else "",
                  notes="Demo history: a deal that was lost.")
        quotes.append(q)
        seats = D(rng.choice([5, 10, 25, 50, 120]))
        fake = ContractLine(product_id=template.product_id, price_id=template.price_id, quantity=seats,
                            unit_price=unit)
        lines_of[id(q)] = [(fake, template.price.unit_amount)]
    lines: list[QuoteLine] = []
    for q in quotes:
        built = [_line(q, cl, i, list_unit, q.term_months) for i, (cl, list_unit) in enumerate(lines_of[id(q)])]
        _totals(q, built)
        lines.extend(built)
    Quote.objects.bulk_create(quotes)
    for ln in lines:
        ln.quote_id = ln.quote.pk
    QuoteLine.objects.bulk_create(lines)
    for q in quotes:  # history: created when the deal was quoted, not today
        Quote.objects.filter(pk=q.pk).update(created_at=_at(q.start_date - timedelta(days=20)))
    won = sum(1 for q in quotes if q.status == Quote.Status.ACCEPTED)
    ctx.log(f"  insights: {len(quotes)} historical quotes ({won} accepted behind the demo contracts, "
            f"{len(quotes) - won} lost)")

"""Bill runs: bill everything due as of a date, in chunks processed by Celery tasks (a group), so more
workers make it faster. Each contract is billed in its own short transaction holding the contract's
row lock; its charges are computed by differences (charges.py), and each new line's (charge key,
sequence) is unique in the database. Two runs at once, the same run twice, or a chunk redelivered after
a worker died therefore create every line exactly once. A contract that fails is recorded as an error
of the run (with the customer) and the others go on.
"""
from __future__ import annotations

import logging
import os
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, Prefetch, Q, Sum
from django.utils import timezone

from catalog.models import Meter
from contracts.models import Contract, ContractLine
from revops.kernel import money
from revops.kernel.events import record_event

from ..models import (
    BillRun,
    BillRunChunk,
    BillRunError,
    FinanceApprovalRule,
    Invoice,
    InvoiceEvent,
    InvoiceLine,
    TaxRate,
    UsageEvent,
)
from . import charges as charge_rules
from . import invoices as invoice_service
from .tax import RULE as TAX_RULE
from .tax import line_tax, rate_for
from .usage import day_bounds, usage_total

logger = logging.getLogger(__name__)
# Contracts per chunk task. The environment may lower it (tests, small installs) so a run spreads
# over several tasks; read once, at import.
CHUNK_SIZE = int(os.environ.get("REVOPS_BILL_RUN_CHUNK_SIZE") or 250)
SETTLEMENT_DAYS = 100  # ended contracts stay in runs this long: final usage in arrears, credits


def bill_run_create(*, as_of: date, dry_run: bool = False, by=None) -> BillRun:
    """Record a run and start it after commit (a Celery task; inline when Celery runs eagerly)."""
    with transaction.atomic():
        run = BillRun.objects.create(as_of=as_of, dry_run=dry_run, created_by=by if getattr(by, "pk", None) else None)
        transaction.on_commit(lambda: _start_async(run.pk), robust=True)
    return run


def _start_async(run_id: int) -> None:
    from ..tasks import start_bill_run

    start_bill_run.delay(run_id)


def billable_contract_ids(as_of: date) -> list[int]:
    return list(Contract.objects.filter(
        Q(status__in=[Contract.Status.ACTIVE, Contract.Status.RENEWED])
        | Q(status__in=[Contract.Status.TERMINATED, Contract.Status.EXPIRED],
            end_date__gte=as_of - timedelta(days=SETTLEMENT_DAYS)),
        start_date__lte=as_of,
    ).order_by("pk").values_list("pk", flat=True))


def bill_run_plan(*, run_id: int) -> list[int]:
    """Split the run into chunks (once) and return the chunk ids to process."""
    with transaction.atomic():
        run = BillRun.objects.select_for_update().get(pk=run_id)
        if run.status == BillRun.Status.PENDING:
            ids = billable_contract_ids(run.as_of)
            BillRunChunk.objects.bulk_create([
                BillRunChunk(bill_run=run, index=i, contract_ids=ids[start:start + CHUNK_SIZE])
                for i, start in enumerate(range(0, len(ids), CHUNK_SIZE))
            ])
            run.chunks_total = (len(ids) + CHUNK_SIZE - 1) // CHUNK_SIZE
            run.contracts_total = len(ids)
            run.status, run.started_at = BillRun.Status.RUNNING, timezone.now()
            run.save(update_fields=["chunks_total", "contracts_total", "status", "started_at"])
            if not ids:
                _finish(run)
    return list(BillRunChunk.objects.filter(bill_run_id=run_id, done=False).values_list("pk", flat=True))


def _versions_prefetch():
    return Prefetch("lines", queryset=ContractLine.objects.select_related("product__meter", "price")
                    .prefetch_related("price__tiers").order_by("item", "version"))


def _billed_for(contract_ids: list[int]) -> dict[int, dict[str, charge_rules.Billed]]:
    """What was invoiced per contract and charge key (sums over non-void invoices; every line counts
    for the sequence)."""
    rows = (InvoiceLine.objects.filter(invoice__contract_id__in=contract_ids).exclude(charge_key="")
            .values("invoice__contract_id", "charge_key")
            .annotate(lines=Count("id"), amount=Sum("amount", filter=~Q(invoice__status=Invoice.Status.VOID))))
    out: dict[int, dict[str, charge_rules.Billed]] = defaultdict(dict)
    for r in rows:
        out[r["invoice__contract_id"]][r["charge_key"]] = charge_rules.Billed(amount=r["amount"] or 0,
                                                                           lines=r["lines"])
    missing = [(cid, key) for cid, keys in out.items() for key, b in keys.items() if b.amount]
    if missing:
        # Descriptions for keys that may need a pure credit (no longer expected at all).
        sample = (InvoiceLine.objects.filter(invoice__contract_id__in=contract_ids, charge_seq=0)
                  .exclude(charge_key="").values("invoice__contract_id", "charge_key", "description", "product_id",
                                                 "contract_line_id", "meter_id", "period_start", "period_end"))
        for s in sample:
            b = out[s["invoice__contract_id"]].get(s["charge_key"])
            if b is not None:
                b.description, b.product_id, b.contract_line_id = s["description"], s["product_id"], s["contract_line_id"]
                b.meter_id, b.period_start, b.period_end = s["meter_id"], s["period_start"], s["period_end"]
    return out


# One aggregate per (customer, meter, window) row of VALUES, through the (customer, meter, timestamp)
# index; the same figures as usage.usage_total, for a whole chunk in one statement per aggregation.
_USAGE_AGGREGATES = {
    Meter.Aggregation.COUNT: "count(*)",
    Meter.Aggregation.SUM: "sum(e.value)",
    Meter.Aggregation.MAX: "max(e.value)",
    Meter.Aggregation.UNIQUE_COUNT: "count(DISTINCT e.dimension)",
}
_USAGE_LATEST = "e.value FROM {table} e WHERE {match} ORDER BY e.timestamp DESC, e.id DESC LIMIT 1"
_USAGE_MATCH = "e.customer_id = w.c AND e.meter_id = w.m AND e.timestamp >= w.lo AND e.timestamp < w.hi"


def _usage_totals(contracts: list[Contract], as_of: date) -> charge_rules.UsageTotal:
    """usage_total for the chunk's contracts, fetched at once. Read before each contract's lock, like
    any event arriving later: such late usage is billed by the next run as an adjustment."""
    if connection.vendor != "postgresql":
        return usage_total
    wanted: dict[str, list[tuple[int, Meter, date, date]]] = defaultdict(list)
    for contract in contracts:
        for request in charge_rules.usage_requests(contract, list(contract.lines.all()), as_of):
            wanted[request[1].aggregation].append(request)
    found: dict[tuple[int, int, date, date], Decimal] = {}
    table = UsageEvent._meta.db_table
    for aggregation, requests in wanted.items():
        expression = _USAGE_AGGREGATES.get(aggregation)
        inner = (f"SELECT {expression} AS v FROM {table} e WHERE {_USAGE_MATCH}" if expression
                 else "SELECT " + _USAGE_LATEST.format(table=table, match=_USAGE_MATCH))
        for start in range(0, len(requests), 1000):
            batch = requests[start:start + 1000]
            params = []
            for i, (customer_id, meter, first, last) in enumerate(batch):
                params += [i, customer_id, meter.pk, *day_bounds(first, last)]
            rows = ", ".join(["(%s::int, %s::bigint, %s::bigint, %s::timestamptz, %s::timestamptz)"] * len(batch))
            with connection.cursor() as cur:
                cur.execute(f"SELECT w.i, x.v FROM (VALUES {rows}) AS w(i, c, m, lo, hi) "
                            f"LEFT JOIN LATERAL ({inner}) x ON true", params)
                for i, value in cur.fetchall():
                    customer_id, meter, first, last = batch[i]
                    found[(customer_id, meter.pk, first, last)] = Decimal(value or 0)

    def total(customer_id: int, meter, first_day: date, last_day: date) -> Decimal:
        key = (customer_id, meter.pk, first_day, last_day)
        return found[key] if key in found else usage_total(customer_id, meter, first_day, last_day)

    return total


def bill_contract(contract: Contract, *, as_of: date, run: BillRun | None, rates: list[TaxRate],
                  rules: list[FinanceApprovalRule], billed: dict[str, charge_rules.Billed] | None = None,
                  usage: charge_rules.UsageTotal = usage_total) -> Invoice | None:
    """Bill one contract as of `as_of` in one transaction under its row lock. Returns the new invoice
    (None when nothing is due). Callers pass the contract with its line versions prefetched.

    `billed` (what was invoiced, read for a whole chunk at once) may be stale: it is only used to
    write lines whose (charge key, sequence) would collide with any line written since, so a stale
    view raises IntegrityError and changes nothing; the caller then bills again with billed=None,
    which re-reads under the lock."""
    with transaction.atomic():
        _lock(contract.pk)
        if billed is None:
            billed = _billed_for([contract.pk]).get(contract.pk, {})  # re-read under the lock
        due = charge_rules.charges_due(contract, list(contract.lines.all()), as_of, billed, usage)
        if not due:
            return None
        return _write_invoice(contract, due, run=run, rates=rates, rules=rules)


def _lock(contract_id: int) -> None:
    """The contract's row lock until commit (plain SQL: this runs once per contract of every run)."""
    if not connection.features.has_select_for_update:  # SQLite: writers are serialised anyway
        Contract.objects.filter(pk=contract_id).values_list("pk", flat=True).get()
        return
    with connection.cursor() as cur:
        cur.execute(f"SELECT id FROM {Contract._meta.db_table} WHERE id = %s FOR UPDATE", [contract_id])
        if cur.fetchone() is None:
            raise Contract.DoesNotExist(f"contract {contract_id} does not exist")


def _write_invoice(contract, due, *, run, rates, rules) -> Invoice:
    """The invoice is inserted with its totals (one row, one audit entry), then its lines in one
    statement, then routed for approval."""
    currency = contract.currency
    rate = rate_for(contract.customer, rates)
    splits = [line_tax(c.amount, rate, currency) for c in due]
    zero = money.zero(currency)
    subtotal = sum((x.net for x in splits), zero)
    tax = sum((x.tax for x in splits), zero)
    invoice = Invoice(
        customer=contract.customer, contract=contract, bill_run=run, currency=currency,
        payment_terms=contract.payment_terms, prices_include_tax=bool(rate and rate.inclusive), tax_rule=TAX_RULE,
        period_start=min((c.period_start for c in due if c.period_start), default=None),
        period_end=max((c.period_end for c in due if c.period_end), default=None),
        subtotal=subtotal, tax=tax, total=subtotal + tax, amount_due=subtotal + tax,
    )
    # Judged before it is written, so the invoice is inserted once with its status (one audit entry).
    reasons = invoice_service.approval_reasons(invoice, rules, line_amounts=[x.net for x in splits])
    invoice.approval_reasons = reasons
    invoice.status = Invoice.Status.PENDING_APPROVAL if reasons else Invoice.Status.APPROVED
    invoice.save()
    InvoiceLine.objects.bulk_create([
        InvoiceLine(
            invoice=invoice, kind=c.kind, description=c.description[:300], product_id=c.product_id,
            contract_line_id=c.contract_line_id, meter_id=c.meter_id, quantity=c.quantity, unit_price=c.unit_price,
            amount=split.net, period_start=c.period_start, period_end=c.period_end, tax_rate=split.rate,
            tax_percent=split.percent, tax_amount=split.tax, charge_key=c.key, charge_seq=c.seq, position=position)
        for position, (c, split) in enumerate(zip(due, splits, strict=True), start=1)
    ])
    InvoiceEvent.objects.bulk_create([
        InvoiceEvent(invoice=invoice, kind="created", detail=f"bill run {run.pk}" if run else ""),
        InvoiceEvent(invoice=invoice, kind=invoice.status, detail="; ".join(reasons) or "no rule applies"),
    ])
    record_event("invoice.created", invoice, invoice_service.payload(invoice, lines=len(due)))
    return invoice


def bill_run_chunk(*, chunk_id: int) -> None:
    """Process one chunk. Safe to run again (a redelivered task): billed contracts have nothing left
    to bill, and the chunk's counters are added to the run once."""
    chunk = BillRunChunk.objects.select_related("bill_run").get(pk=chunk_id)
    if chunk.done:
        return
    run = chunk.bill_run
    rates = list(TaxRate.objects.filter(active=True))
    rules = list(FinanceApprovalRule.objects.filter(active=True))
    contracts = list(Contract.objects.filter(pk__in=chunk.contract_ids).select_related("customer")
                     .prefetch_related(_versions_prefetch()).order_by("pk"))
    # What was invoiced, for the whole chunk in one query; a contract re-reads it under its lock only
    # when this view turns out to be stale (see bill_contract). Usage too, one query per chunk.
    invoiced = _billed_for(list(chunk.contract_ids))
    usage = _usage_totals(contracts, run.as_of)
    errors = 0
    preview = []
    for contract in contracts:
        try:
            if run.dry_run:
                found = _preview_contract(contract, run.as_of, invoiced.get(contract.pk, {}), usage)
                if found:
                    preview.append(found)
                continue
            try:
                bill_contract(contract, as_of=run.as_of, run=run, rates=rates, rules=rules,
                              billed=invoiced.get(contract.pk, {}), usage=usage)
            except IntegrityError:
                # Billed since the chunk's read (another run, or a previous attempt of this chunk):
                # bill what is left, from a fresh read under the lock.
                bill_contract(contract, as_of=run.as_of, run=run, rates=rates, rules=rules, usage=usage)
        except IntegrityError:
            # Another run billed this contract's charges at the same moment: they are billed, once.
            logger.info("contract %s was billed concurrently by another run", contract.pk)
            continue
        except Exception as exc:  # recorded per customer, visible on the run; the other contracts go on
            logger.exception("bill run %s: contract %s failed", run.pk, contract.pk)
            BillRunError.objects.update_or_create(
                bill_run=run, contract=contract,
                defaults={"customer": contract.customer, "message": f"{type(exc).__name__}: {exc}"[:2000]})
            errors += 1
            continue
    with transaction.atomic():
        chunk = BillRunChunk.objects.select_for_update().get(pk=chunk_id)
        if chunk.done:
            return
        # Counted from what is committed, not in memory: a chunk redelivered after its worker died
        # also counts the invoices the dead attempt had committed. One invoice per contract and run.
        invoices, lines = _counts(run.pk, chunk.contract_ids)
        billed = invoices
        chunk.done, chunk.finished_at = True, timezone.now()
        chunk.invoices_created, chunk.lines_created, chunk.errors = invoices, lines, errors
        chunk.save(update_fields=["done", "finished_at", "invoices_created", "lines_created", "errors"])
        run = BillRun.objects.select_for_update().get(pk=run.pk)
        run.chunks_done = F("chunks_done") + 1
        run.invoices_created = F("invoices_created") + invoices
        run.lines_created = F("lines_created") + lines
        run.contracts_billed = F("contracts_billed") + billed
        if preview:
            run.preview = (run.preview or []) + preview
        run.save(update_fields=["chunks_done", "invoices_created", "lines_created", "contracts_billed", "preview"])
        run.refresh_from_db()
        if run.chunks_done >= run.chunks_total:
            _finish(run)


def _counts(run_id: int, contract_ids: list[int]) -> tuple[int, int]:
    """Invoices and invoice lines the run wrote for these contracts."""
    found = Invoice.objects.filter(bill_run_id=run_id, contract_id__in=contract_ids).aggregate(
        invoices=Count("id", distinct=True), lines=Count("lines"))
    return found["invoices"], found["lines"]


def _preview_contract(contract: Contract, as_of: date, billed: dict[str, charge_rules.Billed],
                      usage: charge_rules.UsageTotal) -> dict | None:
    due = charge_rules.charges_due(contract, list(contract.lines.all()), as_of, billed, usage)
    if not due:
        return None
    total = money.quantize(sum((c.amount for c in due), 0), contract.currency)
    return {"contract": contract.pk, "contract_number": contract.number, "customer": contract.customer_id,
            "customer_name": contract.customer.name, "currency": contract.currency, "lines": len(due),
            "subtotal": str(total),
            "charges": [{"description": c.description, "amount": str(c.amount)} for c in due[:50]]}


def _finish(run: BillRun) -> None:
    has_errors = run.errors.exists()
    run.status = BillRun.Status.DONE_WITH_ERRORS if has_errors else BillRun.Status.DONE
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "finished_at"])
    record_event("bill_run.finished", run, {"bill_run": run.pk, "as_of": run.as_of.isoformat(),
                                            "dry_run": run.dry_run, "invoices_created": run.invoices_created,
                                            "errors": run.errors.count()})

"""Every KPI by its name, as a value and a time series over calendar periods (day, week, month, quarter),
for a customer segment and optionally one currency. The definitions are the ones of `kpis.DEFINITIONS` and
`finance_kpis.FINANCE_DEFINITIONS` (the one place they are written); this module only says how each KPI
reads over a period:

    stock  the KPI on the period's last day (MRR, customers, AR, deferred revenue, RPO, NRR, ...)
    flow   the KPI over the period's days (bookings, billings, new MRR, revenue recognized, ...)

Periods are calendar periods (ISO weeks start on Monday; quarters on 1 January, April, July, October),
clipped to [first, last]: the first and last point may cover part of a period; the last one is the
KPI "to date" and is also the KPI's current value.

Amounts are in the reporting currency. With `currency`, only the records in that currency count (MRR:
the contracts' currency; invoices, payments, quotes, schedules: their own; the journal: the entry's) and
each point also carries `value_in_currency`, the same records' amount in that currency, unconverted
(amount KPIs only: counts, ratios and margins stay in the reporting currency).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from revops.kernel import money
from revops.kernel.dates import add_months

from . import finance_kpis as fk
from . import kpis

INTERVALS = ("day", "week", "month", "quarter")
MAX_POINTS = 400
PCT = Decimal("0.01")


@dataclass(frozen=True)
class Scope:
    segment: dict | None = None
    currency: str | None = None


@dataclass(frozen=True)
class Kpi:
    name: str
    unit: str  # amount | count | percent | days
    kind: str  # stock | flow
    compute: Callable[[date, date, Scope], dict] = field(repr=False)
    # Every point at once (a few queries instead of some per point); the same figures as `compute`.
    series: Callable[[list[tuple[date, date]], Scope], list[dict]] | None = field(default=None, repr=False)

    @property
    def definition(self) -> str:
        return definition(self.name)


def definition(name: str) -> str:
    return {**kpis.DEFINITIONS, **fk.FINANCE_DEFINITIONS}[name]


# --- how each KPI reads over [first, last] ----------------------------------------------------------------

def _amount(func: Callable[..., Decimal], *, flow: bool) -> Callable[[date, date, Scope], dict]:
    def compute(first: date, last: date, scope: Scope) -> dict:
        args = (first, last) if flow else (last,)
        out = {"value": func(*args, segment=scope.segment, currency=scope.currency)}
        if scope.currency:
            out["value_in_currency"] = func(*args, segment=scope.segment, currency=scope.currency, native=True)
        return out
    return compute


def _mrr(first: date, last: date, scope: Scope) -> dict:
    return _amount(kpis.mrr, flow=False)(first, last, scope)


def _arr(first: date, last: date, scope: Scope) -> dict:
    out = _mrr(first, last, scope)
    out["value"] = kpis._q(out["value"] * 12)
    if "value_in_currency" in out:
        out["value_in_currency"] = money.quantize(out["value_in_currency"] * 12, scope.currency)
    return out


def _movement(kind: str) -> Callable[[date, date, Scope], dict]:
    def pick(m: dict) -> Decimal:
        if kind == "net_new":
            return m["new"] + m["expansion"] + m["reactivation"] - m["contraction"] - m["churn"]
        return m[kind]

    def compute(first: date, last: date, scope: Scope) -> dict:
        m = kpis.movements(first, last, segment=scope.segment, currency=scope.currency)
        out = {"value": pick(m)}
        if kind == "net_new":
            out.update({k: m[k] for k in ("start", "new", "expansion", "reactivation", "contraction", "churn",
                                          "end")})
        if scope.currency:
            out["value_in_currency"] = pick(kpis.movements(first, last, segment=scope.segment,
                                                           currency=scope.currency, native=True))
        return out
    return compute


def _customers(first: date, last: date, scope: Scope) -> dict:
    return {"value": kpis.customers_count(last, segment=scope.segment, currency=scope.currency)}


def _arpa(first: date, last: date, scope: Scope) -> dict:
    count = kpis.customers_count(last, segment=scope.segment, currency=scope.currency)
    total = kpis.mrr(last, segment=scope.segment, currency=scope.currency)
    return {"value": kpis._q(total / count) if count else kpis._q(Decimal(0)), "customers": count}


def _retention(key: str) -> Callable[[date, date, Scope], dict]:
    def compute(first: date, last: date, scope: Scope) -> dict:
        r = kpis.retention(last, segment=scope.segment, currency=scope.currency)
        return {"value": r[key], "cohort": r["cohort"]}
    return compute


def _dso(first: date, last: date, scope: Scope) -> dict:
    return {"value": fk.dso(last, segment=scope.segment, currency=scope.currency)}


def _gross_margin(first: date, last: date, scope: Scope) -> dict:
    g = fk.gross_margin(first, last, segment=scope.segment, currency=scope.currency)
    return {"value": g["gross_margin"], "revenue": g["revenue"], "cost_of_goods": g["cost_of_goods"],
            "margin_percent": g["margin_percent"]}


# --- every point at once: the MRR family from one grouped query over the movements ------------------------

def _windows(windows: list[tuple[date, date]], scope: Scope, *, native: bool = False) -> list[dict]:
    return kpis.movement_windows(windows, segment=scope.segment, currency=scope.currency, native=native)


def _mrr_points(windows: list[tuple[date, date]], scope: Scope) -> list[dict]:
    out = [{"value": m["end"]} for m in _windows(windows, scope)]
    if scope.currency:
        for point, m in zip(out, _windows(windows, scope, native=True), strict=True):
            point["value_in_currency"] = m["end"]
    return out


def _arr_points(windows: list[tuple[date, date]], scope: Scope) -> list[dict]:
    out = _mrr_points(windows, scope)
    for point in out:
        point["value"] = kpis._q(point["value"] * 12)
        if "value_in_currency" in point:
            point["value_in_currency"] = money.quantize(point["value_in_currency"] * 12, scope.currency)
    return out


def _movement_points(kind: str) -> Callable[[list[tuple[date, date]], Scope], list[dict]]:
    def pick(m: dict) -> Decimal:
        if kind == "net_new":
            return m["new"] + m["expansion"] + m["reactivation"] - m["contraction"] - m["churn"]
        return m[kind]

    def series(windows: list[tuple[date, date]], scope: Scope) -> list[dict]:
        out = []
        for m in _windows(windows, scope):
            point = {"value": pick(m)}
            if kind == "net_new":
                point.update({k: m[k] for k in ("start", "new", "expansion", "reactivation", "contraction", "churn",
                                                "end")})
            out.append(point)
        if scope.currency:
            for point, m in zip(out, _windows(windows, scope, native=True), strict=True):
                point["value_in_currency"] = pick(m)
        return out
    return series


def _customers_points(windows: list[tuple[date, date]], scope: Scope) -> list[dict]:
    counts = kpis.customers_counts([end for _, end in windows], segment=scope.segment, currency=scope.currency)
    return [{"value": n} for n in counts]


def _arpa_points(windows: list[tuple[date, date]], scope: Scope) -> list[dict]:
    counts = kpis.customers_counts([end for _, end in windows], segment=scope.segment, currency=scope.currency)
    zero = kpis._q(Decimal(0))
    return [{"value": kpis._q(m["end"] / n) if n else zero, "customers": n}
            for m, n in zip(_windows(windows, scope), counts, strict=True)]


def _retention_points(key: str) -> Callable[[list[tuple[date, date]], Scope], list[dict]]:
    def series(windows: list[tuple[date, date]], scope: Scope) -> list[dict]:
        found = kpis.retentions([end for _, end in windows], segment=scope.segment, currency=scope.currency)
        return [{"value": r[key], "cohort": r["cohort"]} for r in found]
    return series


KPIS: dict[str, Kpi] = {k.name: k for k in [
    Kpi("mrr", "amount", "stock", _mrr, _mrr_points),
    Kpi("arr", "amount", "stock", _arr, _arr_points),
    Kpi("movements", "amount", "flow", _movement("net_new"), _movement_points("net_new")),
    Kpi("new_mrr", "amount", "flow", _movement("new"), _movement_points("new")),
    Kpi("expansion_mrr", "amount", "flow", _movement("expansion"), _movement_points("expansion")),
    Kpi("contraction_mrr", "amount", "flow", _movement("contraction"), _movement_points("contraction")),
    Kpi("churn_mrr", "amount", "flow", _movement("churn"), _movement_points("churn")),
    Kpi("reactivation_mrr", "amount", "flow", _movement("reactivation"), _movement_points("reactivation")),
    Kpi("net_new_mrr", "amount", "flow", _movement("net_new"), _movement_points("net_new")),
    Kpi("customers", "count", "stock", _customers, _customers_points),
    Kpi("arpa", "amount", "stock", _arpa, _arpa_points),
    Kpi("logo_churn", "percent", "stock", _retention("logo_churn"), _retention_points("logo_churn")),
    Kpi("revenue_churn", "percent", "stock", _retention("revenue_churn"), _retention_points("revenue_churn")),
    Kpi("nrr", "percent", "stock", _retention("nrr"), _retention_points("nrr")),
    Kpi("grr", "percent", "stock", _retention("grr"), _retention_points("grr")),
    Kpi("bookings", "amount", "flow", _amount(fk.bookings, flow=True)),
    Kpi("billings", "amount", "flow", _amount(fk.billings, flow=True)),
    Kpi("collections", "amount", "flow", _amount(fk.collections, flow=True)),
    Kpi("dso", "days", "stock", _dso),
    Kpi("receivables", "amount", "stock", _amount(fk.receivables, flow=False)),
    Kpi("ar_overdue", "amount", "stock", _amount(fk.ar_overdue, flow=False)),
    Kpi("deferred_revenue", "amount", "stock", _amount(fk.deferred_revenue, flow=False)),
    Kpi("rpo", "amount", "stock", _amount(fk.rpo, flow=False)),
    Kpi("revenue_recognized", "amount", "flow", _amount(fk.revenue, flow=True)),
    Kpi("gross_margin", "amount", "flow", _gross_margin),
]}


# --- periods ------------------------------------------------------------------------------------------------

def _period_start(day: date, interval: str) -> date:
    if interval == "day":
        return day
    if interval == "week":
        return day - timedelta(days=day.weekday())
    if interval == "month":
        return day.replace(day=1)
    return date(day.year, (day.month - 1) // 3 * 3 + 1, 1)


def _next_start(start: date, interval: str) -> date:
    if interval == "day":
        return start + timedelta(days=1)
    if interval == "week":
        return start + timedelta(days=7)
    return add_months(start, 1 if interval == "month" else 3)


def _label(start: date, interval: str) -> str:
    if interval == "month":
        return start.isoformat()[:7]
    if interval == "quarter":
        return f"{start.year}-Q{(start.month - 1) // 3 + 1}"
    if interval == "week":
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    return start.isoformat()


def periods(first: date, last: date, interval: str) -> list[tuple[str, date, date]]:
    """(label, first day, last day) of each calendar period touching [first, last], clipped to it."""
    if interval not in INTERVALS:
        raise ValueError(f"unknown interval {interval!r}")
    out, start = [], _period_start(first, interval)
    while start <= last:
        nxt = _next_start(start, interval)
        out.append((_label(start, interval), max(start, first), min(nxt - timedelta(days=1), last)))
        start = nxt
    return out


def count_periods(first: date, last: date, interval: str) -> int:
    """How many points `periods` gives, without building them (to refuse huge requests early)."""
    if interval == "day":
        return (last - first).days + 1
    if interval == "week":
        return (_period_start(last, "week") - _period_start(first, "week")).days // 7 + 1
    months = (last.year - first.year) * 12 + last.month - first.month
    if interval == "month":
        return months + 1
    return (last.year * 4 + (last.month - 1) // 3) - (first.year * 4 + (first.month - 1) // 3) + 1


def kpi_series(name: str, first: date, last: date, *, interval: str = "month", segment: dict | None = None,
               currency: str | None = None) -> dict:
    """The KPI `name` over each period of [first, last]: {"value" (= the last point's), "points": [...]}.
    Each point: period, from, to, value (reporting currency, or a count / percent / days), value_in_currency
    when `currency` is given (amount KPIs), and the KPI's own extras (e.g. gross margin's revenue)."""
    kpi = KPIS[name]
    scope = Scope(segment=segment or None, currency=currency or None)
    spans = periods(first, last, interval)
    if kpi.series:
        values = kpi.series([(start, end) for _, start, end in spans], scope)
    else:
        values = [kpi.compute(start, end, scope) for _, start, end in spans]
    points = [{"period": label, "from": start.isoformat(), "to": end.isoformat(), **value}
              for (label, start, end), value in zip(spans, values, strict=True)]
    current = points[-1] if points else {}
    return {"name": name, "unit": kpi.unit, "kind": kpi.kind, "definition": kpi.definition,
            "currency": kpis._reporting(), "value": current.get("value"), "current": current, "points": points}

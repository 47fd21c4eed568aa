"""Data health: the checks that keep profitability, CAC and the KPIs trustworthy, each with a count, its
definition, a few examples and a link to where it is fixed. Every check is one or two queries."""
from __future__ import annotations

import re
from collections import defaultdict
from datetime import date, timedelta

from django.db.models import Q
from django.urls import NoReverseMatch, reverse

from revops.kernel.dates import add_months

EXAMPLES = 20
RECENT_MONTHS = 3
USAGE_LOOKBACK_DAYS = 90
FREE_MAIL = frozenset({"gmail.com", "googlemail.com", "yahoo.com", "hotmail.com", "outlook.com", "live.com",
                       "icloud.com", "me.com", "aol.com", "proton.me", "protonmail.com", "gmx.com", "gmx.de", "web.de",
                       "mail.com", "yandex.ru", "qq.com", "163.com"})


def _url(name: str, *args) -> str:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""


def _check(key: str, title: str, definition: str, count: int, items: list[dict], fix_url: str = "",
           fix_label: str = "") -> dict:
    return {"key": key, "title": title, "definition": definition, "count": count, "ok": count == 0,
            "items": items[:EXAMPLES], "fix_url": fix_url, "fix_label": fix_label}


def _customer_item(pk: int, name: str, detail: str = "") -> dict:
    return {"id": pk, "label": name + (f" — {detail}" if detail else ""),
            "url": _url("customers:edit", pk) or _url("admin:customers_customer_change", pk)}


def customers_without_segment() -> dict:
    from customers.models import Customer

    qs = Customer.objects.filter(Q(size="") | Q(industry="") | Q(region="")).order_by("name", "pk")
    items = [_customer_item(pk, name, "missing " + ", ".join(f for f, v in (("size", s), ("industry", i),
                                                                          ("region", r)) if not v))
             for pk, name, s, i, r in qs.values_list("pk", "name", "size", "industry", "region")[:EXAMPLES]]
    return _check("customers_without_segment", "Customers without a segment",
                  "Customers missing their size, industry or region: they fall into '(none)' in the segment "
                  "views and outside segment-scoped costs.", qs.count(), items, _url("customers:list"),
                  "Edit the customers")


def customers_without_channel() -> dict:
    from customers.models import Customer

    qs = Customer.objects.filter(acquisition_channel="").order_by("name", "pk")
    items = [_customer_item(pk, name) for pk, name in qs.values_list("pk", "name")[:EXAMPLES]]
    return _check("customers_without_channel", "Customers without an acquisition channel",
                  "Customers with no acquisition channel: they count in no channel's CAC.", qs.count(), items,
                  _url("customers:list"), "Edit the customers")


def _product_item(pk: int, sku: str, name: str) -> dict:
    return {"id": pk, "label": f"{sku} — {name}",
            "url": _url("admin:catalog_product_change", pk) or _url("catalog:product", pk)}


def products_without_unit_cost() -> dict:
    from catalog.models import Product

    qs = (Product.objects.filter(active=True, bundle__isnull=True)
          .filter(Q(kind__in=["recurring", "one_time"], unit_cost=0) | Q(kind="usage", meter__unit_cost=0))
          .order_by("sku"))
    items = [_product_item(*row) for row in qs.values_list("pk", "sku", "name")[:EXAMPLES]]
    return _check("products_without_unit_cost", "Products without a unit cost",
                  "Active products (bundles aside) whose unit cost is zero — for usage products, whose meter's "
                  "unit cost is zero: their cost of goods counts as nothing.", qs.count(), items,
                  _url("admin:catalog_product_changelist"), "Set unit costs in the catalogue")


def products_without_ssp() -> dict:
    from catalog.models import Product

    qs = Product.objects.filter(active=True, bundle__isnull=True, ssp__isnull=True, ssp_residual=False).order_by("sku")
    items = [_product_item(*row) for row in qs.values_list("pk", "sku", "name")[:EXAMPLES]]
    return _check("products_without_ssp", "Products without a standalone selling price",
                  "Active products (bundles and residual-approach products aside) with no SSP: revenue "
                  "allocation over performance obligations cannot use them.", qs.count(), items,
                  _url("admin:catalog_product_changelist"), "Set SSPs in the catalogue")


def normalize_external_id(value: str) -> str:
    return re.sub(r"[^0-9a-z]", "", (value or "").lower()).lstrip("0")


def _domain(email: str) -> str:
    return email.rsplit("@", 1)[-1].strip().lower() if "@" in (email or "") else ""


def duplicate_customers() -> dict:
    """Groups of customers sharing an email domain (billing email or a contact's, free-mail domains aside)
    or the same external id once normalized (case, punctuation and leading zeros ignored)."""
    from customers.models import Contact, Customer

    names: dict[int, str] = {}
    by_domain: dict[str, set[int]] = defaultdict(set)
    by_external: dict[str, set[int]] = defaultdict(set)
    for pk, name, email, external_id in Customer.objects.values_list("pk", "name", "billing_email", "external_id"):
        names[pk] = name
        d = _domain(email)
        if d and d not in FREE_MAIL:
            by_domain[d].add(pk)
        key = normalize_external_id(external_id or "")
        if key:
            by_external[key].add(pk)
    for pk, email in Contact.objects.values_list("customer_id", "email"):
        d = _domain(email)
        if d and d not in FREE_MAIL:
            by_domain[d].add(pk)
    groups = [("domain", d, ids) for d, ids in sorted(by_domain.items()) if len(ids) > 1]
    groups += [("external id", k, ids) for k, ids in sorted(by_external.items()) if len(ids) > 1]
    involved = set().union(*(ids for _k, _v, ids in groups)) if groups else set()
    items = []
    for kind, value, ids in groups[:EXAMPLES]:
        members = sorted(ids)
        items.append({"label": f"same {kind} {value}: " + ", ".join(names[pk] for pk in members),
                      "url": _url("customers:edit", members[0]), "ids": members})
    result = _check("duplicate_customers", "Likely duplicate customers",
                    "Customers sharing an email domain (their billing email or a contact's; free-mail domains "
                    "ignored) or the same external id once normalized (case, punctuation and leading zeros "
                    "ignored). The count is the number of groups.", len(groups), items, _url("customers:list"),
                    "Review and merge")
    result["customers_involved"] = len(involved)
    return result


def contracts_without_owner() -> dict:
    from contracts.models import Contract

    qs = (Contract.objects.filter(status__in=[Contract.Status.ACTIVE, Contract.Status.DRAFT], owner__isnull=True,
                                  customer__owner__isnull=True).select_related("customer").order_by("end_date", "pk"))
    items = [{"id": c.pk, "label": f"{c.number} — {c.customer.name} ({c.status}, ends {c.end_date})",
              "url": _url("contracts:detail", c.pk)} for c in qs[:EXAMPLES]]
    return _check("contracts_without_owner", "Contracts without an owner",
                  "Active or draft contracts with no owner, whose customer has no owner either: nobody is "
                  "responsible for the renewal.", qs.count(), items, _url("contracts:list"), "Assign owners")


def usage_for_unknown_customers(*, today: date) -> dict:
    from billing.models import UsageEvent, UsageKey
    from billing.services.usage import day_bounds
    from customers.models import Customer

    since, _end = day_bounds(today - timedelta(days=USAGE_LOOKBACK_DAYS), today)
    known = Customer.objects.values("pk")
    events = UsageEvent.objects.filter(timestamp__gte=since).exclude(customer_id__in=known)  # recent partitions
    rows = list(events.values_list("customer_id").distinct().order_by("customer_id")[:EXAMPLES + 1])
    count = events.count()
    orphan_keys = UsageKey.objects.exclude(customer_id__in=known).count()
    items = [{"id": pk, "label": f"customer id {pk} (no such customer)", "url": ""} for (pk,) in rows[:EXAMPLES]]
    result = _check("usage_for_unknown_customers", "Usage for unknown customers",
                    f"Usage events of the last {USAGE_LOOKBACK_DAYS} days (and deduplication keys) naming a "
                    "customer id that does not exist (deleted or mistyped): that usage is never billed or "
                    "costed.", count + orphan_keys, items, _url("admin:billing_usageevent_changelist"),
                    "Review the usage")
    result["events"], result["keys"] = count, orphan_keys
    return result


def fx_rates_missing(*, today: date) -> dict:
    """Currencies in use (customers, invoices, contracts, products, meters, costs, spend) other than the
    reporting currency that lack a usable rate for one of the last RECENT_MONTHS months: no rate on or
    before the month's first day, or none dated in the last RECENT_MONTHS months at all (stale)."""
    from billing.models import Invoice
    from catalog.models import Meter, Product
    from contracts.models import Contract
    from customers.models import Customer
    from recognition.models import FxRate

    from ..models import AcquisitionSpend, ServiceCost
    from .profitability import reporting_currency

    reporting = reporting_currency()
    first_recent = add_months(today.replace(day=1), -(RECENT_MONTHS - 1))
    used: set[str] = set()
    for model, extra in ((Customer, {}), (Contract, {}), (Product, {"active": True}), (Meter, {"unit_cost__gt": 0}),
                         (Invoice, {"issue_date__gte": add_months(first_recent, -RECENT_MONTHS)}),
                         (ServiceCost, {"period__gte": first_recent}),
                         (AcquisitionSpend, {"period__gte": first_recent})):
        used |= set(model.objects.filter(**extra).values_list("currency", flat=True).distinct().order_by())
    used.discard(reporting)
    used.discard("")
    dates: dict[str, list[date]] = defaultdict(list)
    for currency, d in (FxRate.objects.filter(currency__in=used, date__lte=today).values_list("currency", "date")
                        .order_by("currency", "date")):
        dates[currency].append(d)
    months = [add_months(first_recent, k) for k in range(RECENT_MONTHS)]
    items = []
    for currency in sorted(used):
        have = dates.get(currency, [])
        gaps = [m.isoformat()[:7] for m in months if not any(d <= m for d in have)]
        stale = not any(d >= first_recent for d in have)
        if gaps or stale:
            latest = have[-1].isoformat() if have else "never"
            why = f"no rate for {', '.join(gaps)}" if gaps else f"latest rate {latest}"
            items.append({"label": f"{currency}: {why}", "currency": currency, "latest": latest,
                          "url": _url("admin:recognition_fxrate_add")})
    return _check("fx_rates_missing", "FX rates missing",
                  f"Currencies in use other than {reporting} without a rate for each of the last {RECENT_MONTHS} "
                  f"months (none on or before the month's first day), or with no rate entered in those months "
                  "(stale): amounts in them cannot be reported.", len(items), items,
                  _url("admin:recognition_fxrate_changelist"), "Enter FX rates")


def checks(*, today: date) -> list[dict]:
    return [customers_without_segment(), customers_without_channel(), products_without_unit_cost(),
            products_without_ssp(), duplicate_customers(), contracts_without_owner(),
            usage_for_unknown_customers(today=today), fx_rates_missing(today=today)]


def summary(*, today: date) -> dict:
    found = checks(today=today)
    return {"as_of": today.isoformat(), "checks": found, "problems": sum(c["count"] for c in found),
            "failing": sum(1 for c in found if not c["ok"])}

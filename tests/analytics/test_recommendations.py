"""Next best offer on a toy co-purchase set with lifts computed by hand, the widened segment, and usage
near a tier limit flagged as an upsell."""
from datetime import date, datetime, time, timedelta
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.utils import timezone

from analytics.services.recommendations import recommend_for, top_opportunities, upsell_flags
from billing.services.usage import usage_ingest
from catalog import models as cm
from contracts.services.creation import LineSpec, contract_create
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db
DAY = date(2027, 3, 15)


def _product(sku: str, kind: str = "recurring", **kw) -> cm.Product:
    recognition = {"recurring": "ratable", "one_time": "point_in_time", "usage": "usage"}[kind]
    return cm.Product.objects.create(sku=sku, name=f"Product {sku}", kind=kind, recognition=recognition,
                                     ssp=D("10"), **kw)


def _holds(customer, by, *lines) -> None:
    """lines: (product, monthly-or-period amount, period)."""
    contract_create(customer=customer, start_date=date(2027, 1, 1), term_months=12, by=by,
                    lines=[LineSpec(p, D(1), D(amount), period=period) for p, amount, period in lines])


@pytest.fixture
def toy(finance_user):
    """SMB · software: T holds A; s1 A+B(100)+O; s2 A+B(900/quarter)+C(70)+E+O; s3 A+C(50)+E; s4 D+E.
    Enterprise · retail: o1 B+E, o2 C+E, o3 D+E, o4 C+E. Holders: 9 customers.
    Similar to T (share A, same segment): s1, s2, s3 → n = 3.
      B: 2 of 3 similar, 3 of 9 overall → lift (2/3)/(3/9) = 2.00; median MRR(100, 300) = 200.00
      C: 2 of 3 similar, 4 of 9 overall → lift (2/3)/(4/9) = 1.50; median MRR(70, 50) = 60.00
      E: 2 of 3 similar, 7 of 9 overall → lift 0.86: not offered (common everywhere)
      D: no similar customer holds it; O: one-time, never offered."""
    a, b, c, d, e = (_product(s) for s in "ABCDE")
    o = _product("O", kind="one_time")
    smb = {"size": "smb", "industry": "software"}
    ent = {"size": "enterprise", "industry": "retail"}
    t = CustomerFactory(name="Target", **smb)
    _holds(t, finance_user, (a, "40", "month"))
    _holds(CustomerFactory(**smb), finance_user, (a, "40", "month"), (b, "100", "month"), (o, "500", "one_time"))
    _holds(CustomerFactory(**smb), finance_user, (a, "40", "month"), (b, "900", "quarter"), (c, "70", "month"),
           (e, "5", "month"), (o, "500", "one_time"))
    _holds(CustomerFactory(**smb), finance_user, (a, "40", "month"), (c, "50", "month"), (e, "5", "month"))
    _holds(CustomerFactory(**smb), finance_user, (d, "10", "month"), (e, "5", "month"))
    for products in ((b, e), (c, e), (d, e), (c, e)):
        _holds(CustomerFactory(**ent), finance_user, *[(p, "10", "month") for p in products])
    CustomerFactory(**smb)  # a prospect with no contract: not a holder, not similar
    return {"t": t, "a": a, "b": b, "c": c}


def test_offers_are_ranked_by_the_hand_computed_lift(toy):
    offers = recommend_for(customer_id=toy["t"].pk, day=DAY)
    assert [(o["code"], o["lift"], o["expected_mrr"]) for o in offers] == [
        ("B", D("2.00"), D("200.00")), ("C", D("1.50"), D("60.00"))]
    first = offers[0]
    assert (first["product_id"], first["name"], first["similar_customers"], first["holders"]) == (
        toy["b"].pk, "Product B", 3, 2)
    assert first["reason"] == ("2 of 3 similar customers (SMB · software, sharing any of A) have B, vs 3 of 9 customers "
                               "overall: lift 2.00; their median MRR of it is USD 200.00")
    assert recommend_for(customer_id=toy["t"].pk, day=DAY, limit=1) == offers[:1]


def test_top_opportunities_rank_by_expected_mrr_and_name_the_customer(toy):
    top = top_opportunities(day=DAY, limit=50)
    mine = [o for o in top if o["customer_id"] == toy["t"].pk]
    assert [(o["code"], o["customer_name"]) for o in mine] == [("B", "Target")]  # one offer per customer
    mrrs = [o["expected_mrr"] for o in top]
    assert mrrs == sorted(mrrs, reverse=True)
    assert top_opportunities(day=DAY, customer_ids=[toy["t"].pk]) == mine


def test_nothing_before_the_contracts_start_and_unknown_customer(toy):
    assert recommend_for(customer_id=toy["t"].pk, day=date(2026, 12, 31)) == []
    assert recommend_for(customer_id=999_999, day=DAY) == []


def test_a_small_segment_widens_to_the_same_size(finance_user):
    a, b = _product("A"), _product("B")
    w = CustomerFactory(size="mid_market", industry="fintech")
    _holds(w, finance_user, (a, "10", "month"))
    for industry in ("media", "retail", "software"):
        _holds(CustomerFactory(size="mid_market", industry=industry), finance_user, (a, "10", "month"),
               (b, "20", "month"))
    for _ in range(3):
        _holds(CustomerFactory(size="smb", industry="media"), finance_user, (a, "10", "month"))
    # Widened similar set: the 3 other mid-market holders of A, all with B: 3/3 ÷ 3/7 = 2.33.
    [offer] = recommend_for(customer_id=w.pk, day=DAY)
    assert (offer["code"], offer["lift"], offer["expected_mrr"], offer["widened"]) == ("B", D("2.33"), D("20.00"),
                                                                                         True)
    assert offer["reason"].startswith("3 of 3 similar customers (Mid-market, sharing any of A) have B")


# --- upsell -----------------------------------------------------------------------------------------

@pytest.fixture
def metered(finance_user):
    meter = cm.Meter.objects.create(code="api-calls", name="API calls", unit="API calls")
    product = _product("USAGE-API", kind="usage", meter=meter)
    book = cm.PriceBook.objects.create(name="USD", currency="USD", is_default=True)
    price = cm.Price.objects.create(product=product, price_book=book, model="graduated", currency="USD")
    cm.PriceTier.objects.create(price=price, up_to=1000, unit_amount=D("0"))
    cm.PriceTier.objects.create(price=price, up_to=None, unit_amount=D("0.01"))
    return product


def _usage(customer, n: int, today: date) -> None:
    tz = ZoneInfo(settings.REVOPS_BUSINESS_TIME_ZONE)
    start = datetime.combine(today - timedelta(days=20), time(12), tzinfo=tz)
    usage_ingest([{"customer": customer.pk, "meter": "api-calls", "idempotency_key": f"{customer.pk}-{i}",
                   "timestamp": (start + timedelta(minutes=i)).isoformat()} for i in range(n)])


def test_usage_at_85_percent_of_the_included_quantity_is_an_upsell(metered, finance_user):
    today = timezone.localdate()
    near, far = CustomerFactory(), CustomerFactory()
    for customer in (near, far):
        contract_create(customer=customer, start_date=today - timedelta(days=60), term_months=12, by=finance_user,
                        lines=[LineSpec(metered, D(1), D(0), period="usage")])
    _usage(near, 850, today)
    _usage(far, 790, today)  # 79 %: below the 80 % threshold
    [flag] = upsell_flags(customer_id=near.pk)
    assert (flag["meter"], flag["used"], flag["limit"], flag["pct"]) == ("api-calls", D(850), D(1000), D("85.0"))
    assert flag["reason"] == ("api-calls: 850 API calls in the last 30 days is 85.0 % of the 1,000 API calls included "
                              "in USAGE-API; beyond it the rate is 0.01 USD per unit — offer a larger plan or "
                              "commitment (flagged at 80 %).")
    assert upsell_flags(customer_id=far.pk) == []


def test_usage_near_a_volume_tier_boundary(finance_user):
    meter = cm.Meter.objects.create(code="storage", name="Storage", unit="GB", aggregation="count")
    product = _product("USAGE-STORAGE", kind="usage", meter=meter)
    book = cm.PriceBook.objects.create(name="USD", currency="USD", is_default=True)
    price = cm.Price.objects.create(product=product, price_book=book, model="volume", currency="USD")
    for up_to, unit in ((500, "0.25"), (1000, "0.20"), (None, "0.15")):
        cm.PriceTier.objects.create(price=price, up_to=up_to, unit_amount=D(unit))
    today = timezone.localdate()
    customer = CustomerFactory()
    contract_create(customer=customer, start_date=today - timedelta(days=60), term_months=12, by=finance_user,
                    lines=[LineSpec(product, D(1), D(0), period="usage")])
    tz = ZoneInfo(settings.REVOPS_BUSINESS_TIME_ZONE)
    start = datetime.combine(today - timedelta(days=5), time(8), tzinfo=tz)
    usage_ingest([{"customer": customer.pk, "meter": "storage", "idempotency_key": f"s-{i}",
                   "timestamp": (start + timedelta(minutes=i)).isoformat()} for i in range(900)])
    [flag] = upsell_flags(customer_id=customer.pk)  # 900 GB is in tier 2 (501–1,000): 90.0 % of its top
    assert (flag["used"], flag["limit"], flag["pct"]) == (D(900), D(1000), D("90.0"))
    assert flag["reason"].startswith("storage: 900 GB in the last 30 days is 90.0 % of the top of tier 2 (1,000 GB) "
                                     "of USAGE-STORAGE; beyond it the rate is 0.15 USD per unit")


def test_usage_near_the_end_of_the_started_packages_is_an_upsell(finance_user, api_client_for, sales_manager):
    meter = cm.Meter.objects.create(code="api-calls", name="API calls", unit="API calls")
    product = _product("USAGE-PKG", kind="usage", meter=meter)
    book = cm.PriceBook.objects.create(name="USD", currency="USD", is_default=True)
    cm.Price.objects.create(product=product, price_book=book, model="package", currency="USD", package_size=100,
                            unit_amount=D("5.00"))
    today = timezone.localdate()
    near, far = CustomerFactory(), CustomerFactory()
    for customer in (near, far):
        contract_create(customer=customer, start_date=today - timedelta(days=60), term_months=12, by=finance_user,
                        lines=[LineSpec(product, D(1), D(0), period="usage")])
    _usage(near, 185, today)  # 2 packages started = 200 API calls: 185 ÷ 200 = 92.5 %
    _usage(far, 150, today)   # 2 packages as well: 150 ÷ 200 = 75.0 %, below the 80 % threshold
    [flag] = upsell_flags(customer_id=near.pk)
    assert (flag["meter"], flag["code"], flag["used"], flag["limit"], flag["pct"]) == (
        "api-calls", "USAGE-PKG", D(185), D(200), D("92.5"))
    assert flag["reason"] == ("api-calls: 185 API calls in the last 30 days is 92.5 % of the 200 API calls of the 2 "
                              "packages started on USAGE-PKG (packages of 100 API calls at 5 USD each; one more unit "
                              "starts another) — offer a larger plan or commitment (flagged at 80 %).")
    assert upsell_flags(customer_id=far.pk) == []
    body = api_client_for(sales_manager).get(f"/api/v1/recommendations/?customer={near.pk}").json()
    assert [(f["code"], f["limit"], f["pct"]) for f in body["upsell"]] == [("USAGE-PKG", "200", "92.5")]

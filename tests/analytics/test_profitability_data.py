"""The small profitability data set, shared by the profitability, acquisition and page tests (its own
fixture module: imported by them). Built directly in the tables (contracts, journal, MRR movements), so
every figure below can be worked out by hand. Window: 2027-01-01 .. 2027-03-31, reporting currency USD.

Customers
  A  software / smb / na / inbound    P1 × 5  2027-01-01..12-31   revenue 1,000 in Jan, Feb, Mar
  B  retail / enterprise / emea / partner   P1 × 10 from 2027-02-15 (Feb = 14/28 = ½ month) + P2 × 1
                                      (one-time, 2027-02-15)      revenue 1,000 in Feb, Mar
  C  software / smb / na / outbound   P1 × 2  2027-01-01..12-31   revenue 100 in Mar
P1 recurring unit cost 10.00 a month; P2 one-time unit cost 500.00; meter M (count) 0.01 per event:
A has 1,000 events in February (and 7 in April, outside the window).

Cost of goods      A 10×5×3 = 150 + usage 10 = 160;  B 10×10×1.5 = 150 + 500 = 650;  C 10×2×3 = 60
Service costs
  direct      C, January, 300.00 USD
  tickets     everyone, February, 100.00 USD; tickets A 1, B 2 → A 33.33, B 66.67
  seats       size smb, January, 90.00 USD; seats A 5, C 2 → 64.2857 / 25.7142 → A 64.29, C 25.71
  revenue     everyone, March, 1,000.00 EUR × 1.10 = 1,100.00 USD; revenue A 1,000, B 1,000, C 100
              → 523.8095 / 523.8095 / 52.3809 → A 523.81, B 523.81, C 52.38
  tickets     region latam, January, 50.00 USD: nobody in latam → unallocated
  tickets     everyone, March, 30.00 USD: no tickets in March → equal over the active A, B, C: 10.00 each
Cost to serve      A 631.43; B 600.48; C 388.09
Contribution       A 3,000 − 160 − 631.43 = 2,208.57 (73.62 %); B 2,000 − 650 − 600.48 = 749.52 (37.48 %);
                   C 100 − 60 − 388.09 = −348.09 (−348.09 %); total 2,610.00
MRR movements      A new 2027-01-01 +1,000; C new 2027-01-01 +100; B new 2027-02-15 +1,000;
                   C contraction 2027-03-01 −80 (to 20)
Acquisition spend  inbound Jan marketing 600 USD, inbound Feb sales 300 USD, partner Feb 1,000 EUR
                   (1,100 USD), outbound Mar 200 USD for size smb
"""
from datetime import date
from decimal import Decimal as D

import pytest

from analytics.models import AcquisitionSpend, MrrMovement, ServiceCost, SupportVolume
from billing.models import UsageEvent
from catalog import models as cm
from contracts.models import Contract, ContractLine
from recognition.models import Account, AccountingPeriod, FxRate, JournalEntry, JournalLine
from tests.factories import CustomerFactory

FIRST, LAST = date(2027, 1, 1), date(2027, 3, 31)


def post_revenue(customer, day: date, amount: str) -> None:
    period, _ = AccountingPeriod.objects.get_or_create(start=day.replace(day=1), defaults={"end": day})
    entry = JournalEntry.objects.create(date=day, period=period, memo="revenue", source="revenue.recognized",
                                        source_key=f"test:{customer.pk}:{day}:{amount}", currency="USD",
                                        reporting_currency="USD", customer=customer)
    revenue = Account.objects.get(role="revenue", family="")
    deferred = Account.objects.get(role="deferred", family="")
    JournalLine.objects.create(entry=entry, account=deferred, debit=D(amount), debit_reporting=D(amount))
    JournalLine.objects.create(entry=entry, account=revenue, credit=D(amount), credit_reporting=D(amount))


def contract(customer, n: int, lines: list[tuple]) -> Contract:
    c = Contract.objects.create(number=f"T-{n}", customer=customer, currency="USD", status="active",
                                start_date=min(s for *_x, s, _e in lines), end_date=max(e for *_x, _s, e in lines))
    for item, (product, qty, amount, period, start, end) in enumerate(lines, start=1):
        ContractLine.objects.create(contract=c, item=item, product=product, quantity=D(qty), unit_price=D(amount) / qty,
                                    amount=D(amount), period=period, billing_frequency="month", start_date=start,
                                    end_date=end)
    return c


@pytest.fixture
def dataset(db):
    FxRate.objects.create(date=date(2026, 12, 31), currency="EUR", rate=D("1.10"))
    a = CustomerFactory(name="A corp", industry="software", size="smb", region="na", acquisition_channel="inbound")
    b = CustomerFactory(name="B corp", industry="retail", size="enterprise", region="emea",
                        acquisition_channel="partner")
    c = CustomerFactory(name="C corp", industry="software", size="smb", region="na", acquisition_channel="outbound")
    meter = cm.Meter.objects.create(code="m-events", name="Events", unit_cost=D("0.01"), currency="USD")
    p1 = cm.Product.objects.create(sku="P1", name="Plan One", kind="recurring", recognition="ratable",
                                   unit_cost=D("10.00"), ssp=D("200"))
    p2 = cm.Product.objects.create(sku="P2", name="Setup", kind="one_time", recognition="point_in_time",
                                   unit_cost=D("500.00"), ssp=D("1000"))
    year_end = date(2027, 12, 31)
    contract(a, 1, [(p1, 5, "1000.00", "month", FIRST, year_end)])
    contract(b, 2, [(p1, 10, "1000.00", "month", date(2027, 2, 15), date(2028, 2, 14)),
                    (p2, 1, "1000.00", "one_time", date(2027, 2, 15), date(2027, 2, 15))])
    contract(c, 3, [(p1, 2, "100.00", "month", FIRST, year_end)])
    for month in (1, 2, 3):
        post_revenue(a, date(2027, month, 28), "1000.00")
    for month in (2, 3):
        post_revenue(b, date(2027, month, 28), "1000.00")
    post_revenue(c, date(2027, 3, 28), "100.00")
    from datetime import UTC, datetime

    UsageEvent.objects.bulk_create(
        [UsageEvent(customer_id=a.pk, meter_id=meter.pk, timestamp=datetime(2027, 2, 1 + k % 27, 12, tzinfo=UTC),
                    idempotency_key=f"e{k}") for k in range(1000)]
        + [UsageEvent(customer_id=a.pk, meter_id=meter.pk, timestamp=datetime(2027, 4, 2, tzinfo=UTC),
                      idempotency_key=f"late{k}") for k in range(7)])
    ServiceCost.objects.create(period=date(2027, 1, 1), category="support", amount=D("300.00"), currency="USD",
                               customer=c, driver="direct")
    ServiceCost.objects.create(period=date(2027, 2, 1), category="support", amount=D("100.00"), currency="USD",
                               driver="tickets")
    ServiceCost.objects.create(period=date(2027, 1, 1), category="success", amount=D("90.00"), currency="USD",
                               driver="seats", segment_field="size", segment_value="smb")
    ServiceCost.objects.create(period=date(2027, 3, 1), category="infrastructure", amount=D("1000.00"), currency="EUR",
                               driver="revenue_share")
    ServiceCost.objects.create(period=date(2027, 1, 1), category="support", amount=D("50.00"), currency="USD",
                               driver="tickets", segment_field="region", segment_value="latam")
    ServiceCost.objects.create(period=date(2027, 3, 1), category="support", amount=D("30.00"), currency="USD",
                               driver="tickets")
    SupportVolume.objects.create(customer=a, period=date(2027, 2, 1), tickets=1)
    SupportVolume.objects.create(customer=b, period=date(2027, 2, 1), tickets=2)
    SupportVolume.objects.create(customer=c, period=date(2027, 2, 1), tickets=0)

    def movement(customer, day, kind, amount, before, after):
        MrrMovement.objects.create(customer=customer, date=day, currency="USD", kind=kind, amount=D(amount),
                                   mrr_before=D(before), mrr_after=D(after), amount_reporting=D(amount))

    movement(a, FIRST, "new", "1000", "0", "1000")
    movement(c, FIRST, "new", "100", "0", "100")
    movement(b, date(2027, 2, 15), "new", "1000", "0", "1000")
    movement(c, date(2027, 3, 1), "contraction", "-80", "100", "20")
    AcquisitionSpend.objects.create(channel="inbound", period=date(2027, 1, 1), category="marketing",
                                    amount=D("600.00"), currency="USD")
    AcquisitionSpend.objects.create(channel="inbound", period=date(2027, 2, 1), category="sales",
                                    amount=D("300.00"), currency="USD")
    AcquisitionSpend.objects.create(channel="partner", period=date(2027, 2, 1), category="marketing",
                                    amount=D("1000.00"), currency="EUR")
    AcquisitionSpend.objects.create(channel="outbound", period=date(2027, 3, 1), category="sales",
                                    amount=D("200.00"), currency="USD", segment_field="size", segment_value="smb")
    return {"a": a, "b": b, "c": c, "p1": p1, "p2": p2, "meter": meter}

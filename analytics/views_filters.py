"""The dashboard's filters, read from the query string once: period (?from=&to=, YYYY-MM), customer segment
(?size=&region=&industry=&acquisition_channel=) and display currency (?currency=, default the reporting
currency). Amounts are computed in the reporting currency; in another currency they are converted with
recognition's FX rates (`fx_rate(currency, day)`: reporting units per unit) on the day the figure is
for, and both figures are shown."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from urllib.parse import urlencode

from django.utils import timezone

from revops.kernel import money
from revops.kernel.dates import add_months, month_start

from .models import KpiTarget
from .services import kpis

SEGMENT_FIELDS = [f for f in KpiTarget.SegmentField.values if f]  # size, region, industry, channel, owner
SEGMENT_LABELS = {**dict(KpiTarget.SegmentField.choices), KpiTarget.SegmentField.OWNER: "Owner"}


def _month(raw: str | None) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(f"{raw[:7]}-01")
    except ValueError:
        return None


def display_currencies() -> list[str]:
    """The reporting currency and every currency with an FX rate."""
    from recognition.models import FxRate

    rep = kpis._reporting()
    return [rep, *sorted(set(FxRate.objects.values_list("currency", flat=True).distinct()) - {rep})]


@dataclass
class Filters:
    first: date
    last: date
    segment: dict
    currency: str
    reporting: str
    errors: list[str] = field(default_factory=list)

    @property
    def as_of(self) -> date:
        return self.last

    @property
    def month_first(self) -> date:
        """First day of the month of `last`: the window of the "this month" tiles."""
        return month_start(self.last)

    @property
    def converted(self) -> bool:
        return self.currency != self.reporting

    def query(self, *, first: date | None = None, last: date | None = None, **extra) -> str:
        """The filters as a query string (another window with first/last), plus `extra` parameters."""
        params = {"from": (first or self.first).isoformat()[:7], "to": (last or self.last).isoformat()[:7],
                  **self.segment}
        if self.converted:
            params["currency"] = self.currency
        params.update({k: v for k, v in extra.items() if v})
        return urlencode(params)

    def rate(self, day: date | None = None) -> Decimal:
        from recognition.services.journal import fx_rate

        return fx_rate(self.currency, day or self.as_of)

    def convert(self, amount: Decimal | None, day: date | None = None) -> Decimal | None:
        """An amount in the reporting currency, in the display currency (FX rate of `day`)."""
        if amount is None or not self.converted:
            return amount
        return money.quantize(Decimal(amount) / self.rate(day), self.currency)

    def fmt(self, amount: Decimal | None, day: date | None = None) -> tuple[str, str]:
        """(display-currency text, reporting-currency text when converted, else "")."""
        if amount is None:
            return "—", ""
        shown = money.format_money(self.convert(amount, day), self.currency)
        return shown, money.format_money(amount, self.reporting) if self.converted else ""


def read_filters(request) -> Filters:
    """The filters of a dashboard, chart or drill-down request; a bad value is dropped, with a message."""
    from recognition.services.journal import FxRateMissing

    today = timezone.localdate()
    errors = []
    raw_to, raw_from = request.GET.get("to"), request.GET.get("from")
    last = _month(raw_to)
    if raw_to and last is None:
        errors.append("to: not a month (YYYY-MM)")
    last = min(add_months(last, 1) - timedelta(days=1), today) if last else today
    first = _month(raw_from)
    if raw_from and first is None:
        errors.append("from: not a month (YYYY-MM)")
    first = first or add_months(month_start(last), -11)
    if first > last:
        errors.append("from is after to: showing the 12 months to 'to'")
        first = add_months(month_start(last), -11)
    segment = {f: request.GET[f].strip() for f in SEGMENT_FIELDS if request.GET.get(f, "").strip()}
    reporting = kpis._reporting()
    currency = (request.GET.get("currency") or reporting).upper()
    filters = Filters(first=first, last=last, segment=segment, currency=currency, reporting=reporting, errors=errors)
    if filters.converted:
        try:
            filters.rate()
        except FxRateMissing:
            errors.append(f"no FX rate for {currency} on {last}: amounts are shown in {reporting}")
            filters.currency = reporting
    return filters

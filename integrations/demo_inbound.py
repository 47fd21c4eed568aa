"""Demo data of the inbound part: the Salesforce-style and Shopify-style sources with their ready mappings,
one processed CRM deal (an existing account's draft expansion quote) and one failed deal (an unknown product) in the
inbox, and one ERP export of last month. Deterministic (ids and dates from ctx.today), idempotent (the
messages are keyed by their external ids; the export is made once)."""
from __future__ import annotations

from datetime import timedelta

from revops.kernel.dates import month_start

from .models import ErpExport, InboundMessage
from .services import erp_export, inbound

DEAL_ID = "0065g00000DemoWonAAA"
FAILED_ID = "0065g00000DemoBadAAA"


def _deal(ctx, external_id: str, account: str, lines: list[tuple[str, int, float]],
          account_id: str | None = None, industry: str = "Logistics", country: str = "US") -> dict:
    owner = ctx.shared.get("users", {}).get("rep")
    return {
        "attributes": {"type": "Opportunity"}, "Id": external_id, "Name": f"{account} - Platform",
        "StageName": "Closed Won", "CloseDate": ctx.today.isoformat(), "CurrencyIsoCode": "USD",
        "LeadSource": "Trade Show", "Contract_Start_Date__c": (month_start(ctx.today) + timedelta(days=40))
        .replace(day=1).isoformat(), "Term_Months__c": 12.0, "Billing_Frequency__c": "Monthly",
        "Owner": {"Email": owner.email if owner else ""},
        "Account": {"Id": account_id or f"ACC-{external_id[-7:]}", "Name": account, "Industry": industry,
                    "BillingCountryCode": country, "Billing_Email__c": f"ap@{account.split()[0].lower()}.example"},
        "OpportunityContactRoles": {"totalSize": 1, "done": True, "records": [
            {"Role": "Economic Buyer", "Contact": {"Name": "Dana Whitfield", "Title": "COO",
                                                   "Email": f"dana@{account.split()[0].lower()}.example"}}]},
        "OpportunityLineItems": {"totalSize": len(lines), "done": True, "records": [
            {"Quantity": qty, "UnitPrice": price, "Product2": {"ProductCode": sku}} for sku, qty, price in lines]},
    }


def seed(ctx) -> None:
    salesforce = inbound.inbound_source_install(name="salesforce")
    inbound.inbound_source_install(name="shopify")
    if not InboundMessage.objects.filter(source=salesforce, external_id=DEAL_ID).exists():
        # An expansion deal won in the CRM for an existing USD account (matched by its external id, so the
        # demo keeps the number of customers asked for): 25 Professional seats at 50.00 (under the book's
        # price: a discount on the line) and onboarding.
        usd = [c for c in ctx.shared.get("customers", []) if c.currency == "USD" and c.external_id]
        account = usd[-1] if usd else None
        inbound.inbound_receive(source=salesforce, payload=_deal(
            ctx, DEAL_ID, account.name if account else "Harbor Freight Lines",
            [("PLAT-PRO", 25, 50.0), ("SVC-ONBOARDING", 1, 4000.0)],
            account_id=account.external_id if account else None,
            industry=account.industry if account else "Logistics", country=account.country if account else "US"))
    if not InboundMessage.objects.filter(source=salesforce, external_id=FAILED_ID).exists():
        inbound.inbound_receive(source=salesforce, payload=_deal(
            ctx, FAILED_ID, "Quillon Partners", [("PLAT-STARTER", 10, 29.0), ("LEGACY-CRM-SYNC", 1, 900.0)]))
    if not ErpExport.objects.exists():
        last_month_end = month_start(ctx.today) - timedelta(days=1)
        erp_export.erp_export_create(period_start=month_start(last_month_end), period_end=last_month_end,
                                     format=ErpExport.Format.CSV, by=ctx.shared.get("users", {}).get("finance"))

"""Serializers of the revenue API (API.md "Revenue").

Read serializers say what the API answers: money as strings in the currency's minor units beside a
`currency` (journal lines: `debit`/`credit` in the entry's currency, `*_reporting` in the reporting
currency), months as `YYYY-MM`. Write serializers check the shape of the input; the rules (who may
close or reopen a month, what the close checklist needs) belong to `recognition.services`.
"""
from __future__ import annotations

from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billing.serializers import NamedChoiceField
from revops.kernel.api.fields import CurrencyField, DecimalStringField, MoneyField

from .filters import parse_month
from .models import (
    Account,
    AccountingPeriod,
    FxRate,
    JournalEntry,
    JournalLine,
    PerformanceObligation,
    ScheduleLine,
)
from .services.journal import reporting_currency

RATE_LIMIT = Decimal(10) ** 10  # FxRate.rate: 20 digits, 10 of them places


@extend_schema_field({"type": "string", "pattern": r"^\d{4}-\d{2}$", "example": "2027-01"})
class MonthField(serializers.CharField):
    """A month as `YYYY-MM`; internally the first day of the month."""

    default_error_messages = {"month": "must be a month, YYYY-MM (e.g. 2027-01)"}

    def to_internal_value(self, data):
        month = parse_month(str(super().to_internal_value(data)))
        if month is None:
            self.fail("month")
        return month

    def to_representation(self, value) -> str | None:
        return f"{value:%Y-%m}" if value is not None else None


# --- obligations and schedules -------------------------------------------------------------------------

class PerformanceObligationSerializer(serializers.ModelSerializer):
    contract_number = serializers.CharField(source="contract.number", read_only=True)
    customer = serializers.IntegerField(source="contract.customer_id", read_only=True)
    contract_line = serializers.IntegerField(source="item", read_only=True,
                                             help_text="The contract line item the obligation comes from (its "
                                                       "versions share the item number).")
    product_name = serializers.CharField(source="product.name", read_only=True)
    pattern = NamedChoiceField(choices=PerformanceObligation.Pattern.choices, component_name="ObligationPatternEnum",
                               read_only=True)
    status = NamedChoiceField(choices=PerformanceObligation.Status.choices, component_name="ObligationStatusEnum",
                              read_only=True)
    quantity = DecimalStringField(read_only=True)
    ssp = MoneyField(read_only=True, help_text="Standalone selling price over the obligation's term.")
    allocated_price = MoneyField(read_only=True, help_text="The part of the transaction price allocated to it.")
    recognized_to_date = MoneyField(source="recognized_amount", read_only=True,
                                    help_text="Schedule lines recognized (posted) so far.")
    remaining = MoneyField(source="planned_amount", read_only=True,
                           help_text="Schedule lines still planned; recognized_to_date + remaining = allocated_price.")

    class Meta:
        model = PerformanceObligation
        fields = ["id", "contract", "contract_number", "customer", "contract_line", "product", "product_name",
                  "pattern", "quantity", "currency", "ssp", "allocated_price", "recognized_to_date", "remaining",
                  "start_date", "end_date", "status", "version", "allocation_note"]
        read_only_fields = fields


class ScheduleLineSerializer(serializers.ModelSerializer):
    period = MonthField(read_only=True)
    amount = MoneyField(currency_source="obligation.currency", read_only=True)
    status = NamedChoiceField(choices=ScheduleLine.Status.choices[:2], component_name="ScheduleLineStatusEnum",
                              read_only=True)

    class Meta:
        model = ScheduleLine
        fields = ["period", "amount", "status"]
        read_only_fields = fields


class RevenueScheduleSerializer(serializers.ModelSerializer):
    obligation = serializers.IntegerField(source="pk", read_only=True)
    pattern = NamedChoiceField(choices=PerformanceObligation.Pattern.choices, component_name="ObligationPatternEnum",
                               read_only=True)
    status = NamedChoiceField(choices=PerformanceObligation.Status.choices, component_name="ObligationStatusEnum",
                              read_only=True)
    allocated_price = MoneyField(read_only=True)
    lines = ScheduleLineSerializer(source="visible_schedule", many=True, read_only=True,
                                   help_text="One per month, oldest first; cancelled lines (modifications, "
                                             "terminations) are left out.")

    class Meta:
        model = PerformanceObligation
        fields = ["obligation", "contract", "product", "pattern", "status", "currency", "allocated_price", "lines"]
        read_only_fields = fields


# --- journal -------------------------------------------------------------------------------------------

class JournalLineSerializer(serializers.ModelSerializer):
    account = serializers.CharField(source="account.code", read_only=True, help_text="Account code.")
    account_name = serializers.CharField(source="account.name", read_only=True)
    debit = MoneyField(currency_source="entry.currency", read_only=True)
    credit = MoneyField(currency_source="entry.currency", read_only=True)
    debit_reporting = MoneyField(currency_source="entry.reporting_currency", read_only=True)
    credit_reporting = MoneyField(currency_source="entry.reporting_currency", read_only=True)

    class Meta:
        model = JournalLine
        fields = ["account", "account_name", "debit", "credit", "debit_reporting", "credit_reporting", "contract",
                  "product"]
        read_only_fields = fields


class JournalEntrySerializer(serializers.ModelSerializer):
    period = MonthField(source="period.start", read_only=True, help_text="The accounting period it is posted in.")
    corrects_period = MonthField(source="corrects_period.start", read_only=True, allow_null=True,
                                 help_text="A late item: the closed period it belongs to (null otherwise).")
    fx_rate = DecimalStringField(places=10, read_only=True,
                                 help_text="Units of the reporting currency for one unit of `currency`.")
    lines = JournalLineSerializer(many=True, read_only=True)

    class Meta:
        model = JournalEntry
        fields = ["id", "date", "period", "corrects_period", "memo", "source", "source_key", "currency",
                  "reporting_currency", "fx_rate", "customer", "contract", "lines", "created_at"]
        read_only_fields = fields


# --- periods -------------------------------------------------------------------------------------------

class AccountingPeriodSerializer(serializers.ModelSerializer):
    period = MonthField(source="start", read_only=True)
    status = NamedChoiceField(choices=AccountingPeriod.Status.choices, component_name="PeriodStatusEnum",
                              read_only=True)
    checklist = serializers.JSONField(read_only=True, help_text="What was checked at the close (and who reopened "
                                                                "it, when and why).")

    class Meta:
        model = AccountingPeriod
        fields = ["id", "period", "start", "end", "status", "closed_at", "closed_by", "checklist"]
        read_only_fields = fields


class ClosePeriodSerializer(serializers.Serializer):
    period = MonthField(required=False, help_text="The month to close (the collection action); the detail action "
                                                  "closes its own period.")


class ReopenPeriodSerializer(serializers.Serializer):
    period = MonthField(required=False, help_text="The month to reopen (the collection action only).")
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=500,
                                   help_text="Why; required (recorded in the checklist and the audit trail).")


class CheckSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    detail = serializers.CharField()


class ChecklistSerializer(serializers.Serializer):
    period = serializers.CharField(help_text="YYYY-MM")
    status = NamedChoiceField(choices=AccountingPeriod.Status.choices, component_name="PeriodStatusEnum")
    ready = serializers.BooleanField(help_text="Every check passes: the month can close.")
    checks = serializers.DictField(child=CheckSerializer(),
                                   help_text="no_unissued_invoices, recognition_complete, deferred_ties_out.")


# --- reference data ------------------------------------------------------------------------------------

class FxRateSerializer(serializers.ModelSerializer):
    currency = CurrencyField(help_text="ISO 4217; not the reporting currency.")
    rate = DecimalStringField(places=10, positive=True,
                              help_text="Units of the reporting currency for one unit of `currency`, from `date` on.")

    class Meta:
        model = FxRate
        fields = ["id", "date", "currency", "rate"]
        read_only_fields = ["id"]
        validators = []  # one rate per currency and day is checked in validate(), with a clear message

    def validate_currency(self, value: str) -> str:
        if value == reporting_currency():
            raise serializers.ValidationError(f"{value} is the reporting currency: its rate is always 1")
        return value

    def validate_rate(self, value: Decimal) -> Decimal:
        if value >= RATE_LIMIT:
            raise serializers.ValidationError(f"must be less than {RATE_LIMIT:f}")
        return value

    def validate(self, attrs: dict) -> dict:
        current = self.instance
        day = attrs.get("date", getattr(current, "date", None))
        currency = attrs.get("currency", getattr(current, "currency", None))
        clash = FxRate.objects.filter(date=day, currency=currency)
        if current is not None:
            clash = clash.exclude(pk=current.pk)
        if clash.exists():
            raise serializers.ValidationError({"date": [f"{currency} already has a rate on {day}; change that one"]})
        return attrs


class AccountSerializer(serializers.ModelSerializer):
    kind = NamedChoiceField(choices=Account.Kind.choices, component_name="AccountKindEnum")
    role = NamedChoiceField(choices=Account.Role.choices, component_name="AccountRoleEnum", required=False,
                            help_text="What the platform posts to it; one active account per role (and family).")

    class Meta:
        model = Account
        fields = ["id", "code", "name", "kind", "role", "family", "active"]
        read_only_fields = ["id"]
        validators = []  # one account per role and family is checked in validate(), with a clear message

    def validate(self, attrs: dict) -> dict:
        current = self.instance
        role = attrs.get("role", getattr(current, "role", Account.Role.OTHER))
        family = attrs.get("family", getattr(current, "family", ""))
        if family and role != Account.Role.REVENUE:
            raise serializers.ValidationError({"family": ["only revenue accounts take a product family"]})
        if role != Account.Role.OTHER:
            clash = Account.objects.filter(role=role, family=family)
            if current is not None:
                clash = clash.exclude(pk=current.pk)
            if clash.exists():
                where = f" for family {family!r}" if family else ""
                raise serializers.ValidationError({"role": [f"{clash.first().code} already has the role {role}{where}"]})
        return attrs


# --- recognition run and reports (answers) -------------------------------------------------------------

class RecognizeSerializer(serializers.Serializer):
    through = serializers.DateField(help_text="Recognize every month that has ended by this day (not after today).")


class RecognizeResultSerializer(serializers.Serializer):
    through = serializers.DateField()
    posted = serializers.IntegerField(help_text="Schedule lines posted now (0 when already done).")


class WaterfallRowSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The contract, customer or product id.")
    label = serializers.CharField(help_text="Contract number, customer name or product name.")
    currency = serializers.CharField()
    months = serializers.DictField(child=DecimalStringField(), help_text="Planned revenue per `YYYY-MM`.")
    total = DecimalStringField()


class WaterfallTotalSerializer(serializers.Serializer):
    currency = serializers.CharField()
    months = serializers.DictField(child=DecimalStringField())
    total = DecimalStringField()


class WaterfallSerializer(serializers.Serializer):
    from_ = serializers.CharField(help_text="YYYY-MM")
    to = serializers.CharField(help_text="YYYY-MM")
    by = serializers.CharField()
    months = serializers.ListField(child=serializers.CharField())
    rows = WaterfallRowSerializer(many=True)
    totals = WaterfallTotalSerializer(many=True, help_text="Per currency.")

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")  # `from` is a keyword in Python
        return fields


class RollforwardRowSerializer(serializers.Serializer):
    currency = serializers.CharField()
    opening = DecimalStringField(allow_negative=True)
    billings = DecimalStringField(allow_negative=True)
    recognized = DecimalStringField(allow_negative=True)
    adjustments = DecimalStringField(allow_negative=True)
    closing = DecimalStringField(allow_negative=True)
    ledger_balance = DecimalStringField(allow_negative=True, help_text="Deferred Revenue account at the month end.")
    ties = serializers.BooleanField(help_text="closing = ledger_balance")


class RollforwardSerializer(serializers.Serializer):
    period = serializers.CharField(help_text="YYYY-MM")
    ties = serializers.BooleanField(help_text="Every currency ties.")
    currencies = RollforwardRowSerializer(many=True)


class RevenueByRowSerializer(serializers.Serializer):
    month = serializers.CharField(help_text="YYYY-MM")
    label = serializers.CharField(help_text="The product, customer, segment or family; `(none)` when unknown.")
    amount = DecimalStringField(allow_negative=True)


class RevenueBySerializer(serializers.Serializer):
    from_ = serializers.CharField(help_text="YYYY-MM")
    to = serializers.CharField(help_text="YYYY-MM")
    dimension = serializers.CharField()
    currency = serializers.CharField(help_text="The reporting currency.")
    rows = RevenueByRowSerializer(many=True)
    totals = serializers.DictField(child=DecimalStringField(allow_negative=True), help_text="Per month.")
    total = DecimalStringField(allow_negative=True)

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")
        return fields


class TrialBalanceRowSerializer(serializers.Serializer):
    account = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.CharField()
    debit = DecimalStringField()
    credit = DecimalStringField()
    balance = DecimalStringField(allow_negative=True, help_text="debit − credit")


class TrialBalanceSerializer(serializers.Serializer):
    as_of = serializers.DateField()
    currency = serializers.CharField(help_text="The reporting currency.")
    rows = TrialBalanceRowSerializer(many=True)
    total_debit = DecimalStringField()
    total_credit = DecimalStringField()
    balanced = serializers.BooleanField()


class GlExportSerializer(serializers.Serializer):
    columns = serializers.ListField(child=serializers.CharField())
    rows = serializers.ListField(child=serializers.DictField(), help_text="One per journal line, keyed by column.")
    next_after = serializers.IntegerField(allow_null=True, help_text="More rows: ask again with `after` = this.")

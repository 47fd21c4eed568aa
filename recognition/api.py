"""/api/v1/ revenue: thin views over recognition.services.

Endpoints: performance-obligations, revenue-schedules, journal-entries, accounting-periods (+ close,
reopen, checklist — by id, or by month on the collection for a month that has no row yet), fx-rates,
accounts (the chart), and under revenue/: recognize (the month-end run), waterfall, deferred-rollforward,
by-period, trial-balance and gl-export (JSON or CSV).

Who sees what: the revenue records are finance's. Reading needs the recognition view permissions —
finance (`recognition.*`) and admins hold them; sales and customer success do not, so every endpoint
here answers them 403. Writes: FX rates for finance and admins; the chart of accounts for admins only
(every account's role decides where the platform posts); closing a month needs
`recognition.close_period` and reopening the admin role — both are also checked by the services, whose
refusals (PermissionDeniedError) are 403s. Months are `YYYY-MM` everywhere: "2027-13", or a `from`
after `to`, is a 400 naming the parameter. A refused request changes nothing.
"""
from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

from django.db.models import DecimalField, Prefetch, ProtectedError, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.utils import timezone
from django.utils.dateparse import parse_date
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from quotes.filters import StableOrderingFilter
from revops.kernel import money, roles
from revops.kernel.api.renderers import CSVExportMixin, field
from revops.kernel.dates import add_months
from revops.kernel.errors import Conflict, ValidationFailed
from revops.kernel.permissions import RolePermission

from . import serializers as s
from .filters import AccountingPeriodFilter, FxRateFilter, JournalEntryFilter, ObligationFilter, parse_month
from .models import (
    Account,
    AccountingPeriod,
    FxRate,
    JournalEntry,
    JournalLine,
    PerformanceObligation,
    ScheduleLine,
)
from .services import reports
from .services.journal import reporting_currency
from .services.periods import close_checklist, month_end, period_close, period_reopen
from .services.posting import recognize_through

ZERO = Decimal(0)
MAX_REPORT_MONTHS = 120
GL_PAGE_DEFAULT = 5000
GL_PAGE_MAX = 50000
WATERFALL_BY = ("contract", "customer", "product")
DIMENSIONS = ("product", "customer", "segment", "family")
CSV_TEXT_COLUMNS = ("memo", "account_name", "source_key")


# --- rendering ---------------------------------------------------------------------------------------

class CSVRenderer(BaseRenderer):
    """Lets `?format=csv` (or `Accept: text/csv`) reach the report views, which write the CSV themselves."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, bytes | str):
            return data
        return JSONRenderer().render(data)  # an error body, should one be rendered here


class JSONErrorsMixin:
    """Errors are JSON even when the CSV was asked for (API.md: one error body)."""

    def perform_content_negotiation(self, request, force=False):
        try:
            return super().perform_content_negotiation(request, force)
        except (Http404, NotFound):  # DRF's answer to an unknown ?format=
            raise ValidationFailed("format must be json or csv", fields={"format": ["must be json or csv"]}) from None

    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return response


def _safe_cell(value):
    """Text a spreadsheet would run as a formula (=, +, -, @ first) is quoted with a leading apostrophe."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _csv_text(rows: list[list]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows(rows)
    return buffer.getvalue()


class _Echo:
    def write(self, value: str) -> str:
        return value


# --- parameters --------------------------------------------------------------------------------------

def _month_param(request, name: str, default: date | None = None) -> date:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        if default is None:
            raise ValidationFailed(f"{name} is required", fields={name: ["required: a month, YYYY-MM"]})
        return default
    month = parse_month(raw)
    if month is None:
        raise ValidationFailed(f"{name} {raw!r} is not a month", fields={name: ["must be a month, YYYY-MM (e.g. 2027-01)"]})
    return month


def _date_param(request, name: str, default: date | None = None) -> date:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        if default is None:
            raise ValidationFailed(f"{name} is required", fields={name: ["required: a date, YYYY-MM-DD"]})
        return default
    try:
        day = parse_date(raw)
    except ValueError:
        day = None
    if day is None:
        raise ValidationFailed(f"{name} {raw!r} is not a date", fields={name: ["must be a date, YYYY-MM-DD"]})
    return day


def _choice_param(request, name: str, choices: tuple[str, ...], default: str) -> str:
    value = request.query_params.get(name) or default
    if value not in choices:
        raise ValidationFailed(f"{name} must be one of {', '.join(choices)}",
                               fields={name: [f"must be one of {', '.join(choices)}"]})
    return value


def _month_window(request) -> tuple[date, date]:
    """`from` … `to` as months (default: this month and the next 11); at most 120 months."""
    first = _month_param(request, "from", timezone.localdate().replace(day=1))
    last = _month_param(request, "to", add_months(first, 11))
    if last < first:
        raise ValidationFailed("`to` is before `from`", fields={"to": ["must be on or after `from`"]})
    if (last.year - first.year) * 12 + last.month - first.month >= MAX_REPORT_MONTHS:
        raise ValidationFailed(f"at most {MAX_REPORT_MONTHS} months per report",
                               fields={"to": [f"at most {MAX_REPORT_MONTHS} months after `from`"]})
    return first, last


def _ym(day: date) -> str:
    return f"{day:%Y-%m}"


MONTH_SCHEMA = {"type": "string", "pattern": r"^\d{4}-\d{2}$"}
FROM_MONTH = OpenApiParameter("from", MONTH_SCHEMA, description="First month, YYYY-MM (default: this month).")
TO_MONTH = OpenApiParameter("to", MONTH_SCHEMA, description="Last month, YYYY-MM (default: 11 months after `from`).")
FORMAT = OpenApiParameter("format", OpenApiTypes.STR, enum=["json", "csv"],
                          description="`csv` answers text/csv (also `Accept: text/csv`).")


# --- performance obligations and schedules -----------------------------------------------------------

def obligation_list() -> QuerySet[PerformanceObligation]:
    """Obligations with contract and product loaded and what is recognized and still planned summed in
    the same query: a page costs a fixed number of queries."""
    amount = DecimalField(max_digits=19, decimal_places=3)
    zero = Value(ZERO, output_field=amount)
    return PerformanceObligation.objects.select_related("contract", "product").annotate(
        recognized_amount=Coalesce(Sum("schedule__amount", filter=Q(schedule__status=ScheduleLine.Status.RECOGNIZED)),
                                   zero, output_field=amount),
        planned_amount=Coalesce(Sum("schedule__amount", filter=Q(schedule__status=ScheduleLine.Status.PLANNED)),
                                zero, output_field=amount))


OBLIGATION_ORDERING = ["id", "contract", "item", "start_date", "end_date", "allocated_price", "status", "version"]
READ_OBLIGATIONS = ["recognition.view_performanceobligation", "recognition.view_scheduleline"]


@extend_schema_view(
    list=extend_schema(
        summary="List performance obligations",
        description="One per distinct contract line and version (a contract modification replaces the active "
                    "ones and starts new versions). Money in the contract's currency: `ssp`, `allocated_price`, "
                    "`recognized_to_date` and `remaining` (recognized + remaining = allocated). Filters: "
                    "`contract`, `customer`, `product`, `status` (repeatable), `pattern`, `currency`, `version`, "
                    "`start_date_from`/`start_date_to`, `end_date_from`/`end_date_to`, `active_on`. Finance and "
                    "admins only."),
    retrieve=extend_schema(summary="Get a performance obligation"),
)
class PerformanceObligationViewSet(viewsets.ReadOnlyModelViewSet):
    """Performance obligations: allocated price and what has been recognized."""

    queryset = PerformanceObligation.objects.all()  # permissions and the schema; rows come from get_queryset
    serializer_class = s.PerformanceObligationSerializer
    filter_backends = [DjangoFilterBackend, StableOrderingFilter]
    filterset_class = ObligationFilter
    ordering_fields = OBLIGATION_ORDERING
    ordering = ["contract", "item", "version", "id"]
    action_permissions = {"list": READ_OBLIGATIONS, "retrieve": READ_OBLIGATIONS}

    def get_queryset(self):
        return obligation_list()


@extend_schema_view(
    list=extend_schema(
        summary="List revenue schedules",
        description="One per performance obligation: its monthly lines `{\"period\": \"YYYY-MM\", \"amount\", "
                    "\"status\": \"planned|recognized\"}` in the contract's currency, oldest first. Lines cancelled "
                    "by a modification or termination are left out. Same filters as the obligations "
                    "(`contract`, `customer`, `status`, ...)."),
    retrieve=extend_schema(summary="Get an obligation's revenue schedule",
                           description="By the obligation's id."),
)
class RevenueScheduleViewSet(CSVExportMixin, viewsets.ReadOnlyModelViewSet):
    queryset = PerformanceObligation.objects.prefetch_related(
        Prefetch("schedule", ScheduleLine.objects.exclude(status=ScheduleLine.Status.CANCELLED).order_by("period", "id"),
                 to_attr="visible_schedule"))
    serializer_class = s.RevenueScheduleSerializer
    filter_backends = [DjangoFilterBackend, StableOrderingFilter]
    filterset_class = ObligationFilter
    ordering_fields = OBLIGATION_ORDERING
    ordering = ["contract", "item", "version", "id"]
    action_permissions = {"list": READ_OBLIGATIONS, "retrieve": READ_OBLIGATIONS}
    # ?format=csv: one row per visible schedule line of the filtered obligations, streamed
    csv_filename = "revenue-schedules"
    csv_columns = [
        ("obligation_id", field("obligation_id")), ("contract_id", field("obligation.contract_id")),
        ("contract", field("obligation.contract.number")), ("customer_id", field("obligation.contract.customer_id")),
        ("customer", field("obligation.contract.customer.name")), ("product", field("obligation.product.sku")),
        ("period", lambda x: f"{x.period:%Y-%m}"), ("currency", field("obligation.currency")),
        ("amount", lambda x: money.quantize(x.amount, x.obligation.currency)), ("status", field("status")),
    ]

    def csv_records(self, queryset):
        return (ScheduleLine.objects.filter(obligation__in=queryset.order_by().values("pk"))
                .exclude(status=ScheduleLine.Status.CANCELLED)
                .select_related("obligation__contract__customer", "obligation__product")
                .order_by("obligation__contract_id", "obligation__item", "obligation__version", "period", "id")
                .iterator(chunk_size=self.csv_chunk_size))


# --- journal -----------------------------------------------------------------------------------------

@extend_schema_view(
    list=extend_schema(
        summary="List journal entries",
        description="Balanced double entries posted from invoices, payments, credit notes and the recognition "
                    "run, each with its lines (account code and name, debit and credit in the entry's currency "
                    "and in the reporting currency). A late item posted after its month closed names that month "
                    "in `corrects_period`. Filters: `source`, `source_key`, `contract`, `customer`, `currency`, "
                    "`account` (code), `date_from`/`date_to`, `period` and `corrects_period` (YYYY-MM), `late`. "
                    "Newest first; ordering e.g. `?ordering=date`. Finance and admins only."),
    retrieve=extend_schema(summary="Get a journal entry"),
)
class JournalEntryViewSet(viewsets.ReadOnlyModelViewSet):
    """The journal: read only (entries post from business events; corrections are new entries)."""

    queryset = JournalEntry.objects.select_related("period", "corrects_period").prefetch_related(
        Prefetch("lines", JournalLine.objects.select_related("account").order_by("id")))
    serializer_class = s.JournalEntrySerializer
    filter_backends = [DjangoFilterBackend, StableOrderingFilter]
    filterset_class = JournalEntryFilter
    ordering_fields = ["id", "date", "source", "created_at"]
    ordering = ["-date", "-id"]


# --- accounting periods ------------------------------------------------------------------------------

@extend_schema_view(
    list=extend_schema(summary="List accounting periods",
                       description="Months that have entries or were closed, oldest first. Filters: `status`, "
                                   "`period_from`/`period_to` (YYYY-MM)."),
    retrieve=extend_schema(summary="Get an accounting period"),
)
class AccountingPeriodViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Months: open, or closed after the checklist (nothing posts into a closed month)."""

    queryset = AccountingPeriod.objects.all()
    serializer_class = s.AccountingPeriodSerializer
    filter_backends = [DjangoFilterBackend, StableOrderingFilter]
    filterset_class = AccountingPeriodFilter
    ordering_fields = ["id", "start", "status", "closed_at"]
    ordering = ["start"]
    lookup_value_regex = "[0-9]+"
    action_permissions = {
        "close": ["recognition.close_period"],
        "close_month": ["recognition.close_period"],
        "reopen": ["recognition.reopen_period"],
        "reopen_month": ["recognition.reopen_period"],
        "checklist": ["recognition.view_accountingperiod"],
        "checklist_month": ["recognition.view_accountingperiod"],
    }

    def _answer(self, period: AccountingPeriod, status_code: int = status.HTTP_200_OK) -> Response:
        period = AccountingPeriod.objects.get(pk=period.pk)
        return Response(s.AccountingPeriodSerializer(period, context=self.get_serializer_context()).data,
                        status=status_code)

    def _month_from_body(self, serializer_class, *, required: bool = True):
        serializer = serializer_class(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if required and data.get("period") is None:
            raise ValidationFailed("name the month: period, YYYY-MM", fields={"period": ["required: YYYY-MM"]})
        return data

    CLOSE_DESCRIPTION = (
        "Runs the checklist — no draft, pending or approved invoices created in the month, the recognition run "
        "complete for it, the deferred revenue roll-forward tying to the Deferred Revenue account — and closes "
        "the month: nothing posts into it again (late items go to the first open month, naming it in "
        "`corrects_period`). A failed check is a 400 `close_checklist_failed` whose `fields` name each failed "
        "check; a month that has not ended is a 400 on `period`; an earlier month with entries still open, or "
        "a month already closed, is a 409. Needs `recognition.close_period` (finance, admins).")

    @extend_schema(summary="Close this accounting period", description=CLOSE_DESCRIPTION, request=None,
                   responses=s.AccountingPeriodSerializer)
    @action(detail=True, methods=["post"], filter_backends=[])
    def close(self, request, pk=None):
        period = self.get_object()
        return self._answer(period_close(month=period.start, by=request.user))

    @extend_schema(operation_id="accounting_periods_close_month", summary="Close a month by its name (`{\"period\": \"YYYY-MM\"}`)",
                   description=CLOSE_DESCRIPTION + " The month need not have a row yet: 201 when the period is "
                                                   "created by closing it, 200 otherwise.",
                   request=s.ClosePeriodSerializer,
                   responses={201: s.AccountingPeriodSerializer, 200: s.AccountingPeriodSerializer})
    @action(detail=False, methods=["post"], url_path="close", filter_backends=[])
    def close_month(self, request):
        month = self._month_from_body(s.ClosePeriodSerializer)["period"]
        existed = AccountingPeriod.objects.filter(start=month).exists()
        period = period_close(month=month, by=request.user)
        return self._answer(period, status.HTTP_200_OK if existed else status.HTTP_201_CREATED)

    REOPEN_DESCRIPTION = ("A closed month opens again for corrections; `reason` is required (400) and recorded "
                          "with who and when in the period's `checklist` and the audit trail. The admin role only "
                          "(403 for everyone else, finance included). A month that is not closed is a 409.")

    @extend_schema(summary="Reopen this closed accounting period", description=REOPEN_DESCRIPTION,
                   request=s.ReopenPeriodSerializer, responses=s.AccountingPeriodSerializer)
    @action(detail=True, methods=["post"], filter_backends=[])
    def reopen(self, request, pk=None):
        period = self.get_object()
        data = self._month_from_body(s.ReopenPeriodSerializer, required=False)
        return self._answer(period_reopen(month=period.start, by=request.user, reason=data["reason"]))

    @extend_schema(operation_id="accounting_periods_reopen_month",
                   summary="Reopen a closed month by its name (`{\"period\": \"YYYY-MM\", \"reason\"}`)",
                   description=REOPEN_DESCRIPTION, request=s.ReopenPeriodSerializer,
                   responses=s.AccountingPeriodSerializer)
    @action(detail=False, methods=["post"], url_path="reopen", filter_backends=[])
    def reopen_month(self, request):
        data = self._month_from_body(s.ReopenPeriodSerializer)
        return self._answer(period_reopen(month=data["period"], by=request.user, reason=data["reason"]))

    def _checklist(self, period: AccountingPeriod) -> Response:
        checks = close_checklist(period)
        return Response({"period": _ym(period.start), "status": period.status,
                         "ready": all(c["ok"] for c in checks.values()), "checks": checks})

    CHECKLIST_DESCRIPTION = ("The close checklist as it stands now: each check with `ok` and a `detail`; `ready` "
                             "when all pass. Nothing is written.")

    @extend_schema(summary="This period's close checklist", description=CHECKLIST_DESCRIPTION,
                   responses=s.ChecklistSerializer)
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def checklist(self, request, pk=None):
        return self._checklist(self.get_object())

    @extend_schema(operation_id="accounting_periods_checklist_month", summary="A month's close checklist (`?period=YYYY-MM`)", description=CHECKLIST_DESCRIPTION,
                   parameters=[OpenApiParameter("period", MONTH_SCHEMA, required=True, description="YYYY-MM")],
                   responses=s.ChecklistSerializer)
    @action(detail=False, methods=["get"], url_path="checklist", filter_backends=[], pagination_class=None)
    def checklist_month(self, request):
        month = _month_param(request, "period")
        period = AccountingPeriod.objects.filter(start=month).first() or AccountingPeriod(start=month,
                                                                                         end=month_end(month))
        return self._checklist(period)


# --- FX rates and the chart of accounts --------------------------------------------------------------

@extend_schema_view(
    list=extend_schema(summary="List FX rates",
                       description="1 unit of `currency` = `rate` units of the reporting currency, from `date` on "
                                   "(postings take the latest rate on or before their date). Newest first. Filters: "
                                   "`currency`, `date`, `date_from`/`date_to`."),
    retrieve=extend_schema(summary="Get an FX rate"),
    create=extend_schema(summary="Enter an FX rate (finance, admins)",
                         description="`rate` greater than 0 (400 otherwise); one rate per currency and day; not for "
                                     "the reporting currency. Posted entries keep the rate they were posted at."),
    update=extend_schema(summary="Replace an FX rate (finance, admins)"),
    partial_update=extend_schema(summary="Change an FX rate (finance, admins)",
                                 description="Applies to postings from now on; posted entries keep their rate."),
    destroy=extend_schema(summary="Delete an FX rate (finance, admins)"),
)
class FxRateViewSet(viewsets.ModelViewSet):
    queryset = FxRate.objects.all()
    serializer_class = s.FxRateSerializer
    filter_backends = [DjangoFilterBackend, StableOrderingFilter]
    filterset_class = FxRateFilter
    ordering_fields = ["id", "date", "currency"]
    ordering = ["-date", "currency", "id"]


class ChartPermission(RolePermission):
    """Reading the chart: `recognition.view_account`; changing it: the admin role."""

    message = "changing the chart of accounts needs the admin role"

    def has_permission(self, request, view) -> bool:
        if not super().has_permission(request, view):
            return False
        return request.method in ("GET", "HEAD", "OPTIONS") or roles.has_role(request.user, roles.ADMIN)


ACCOUNT_POSTING_TERMS = ("kind", "role", "family")


@extend_schema_view(
    list=extend_schema(summary="List the chart of accounts",
                       description="Each account's `role` says what the platform posts to it (receivable, cash, "
                                   "unbilled, deferred, tax, credit, revenue — revenue per product `family`, empty "
                                   "for the default). Filters: `kind`, `role`, `active`."),
    retrieve=extend_schema(summary="Get an account"),
    create=extend_schema(summary="Add an account (admins)",
                         description="One account per role and family (400 on `role`); `family` only on revenue "
                                     "accounts."),
    update=extend_schema(summary="Replace an account (admins)"),
    partial_update=extend_schema(summary="Change an account (admins)",
                                 description="Code, name and `active` may change; an account with journal lines "
                                             "keeps its kind, role and family (409) so posted history stays put."),
    destroy=extend_schema(summary="Delete an account never posted to (admins)",
                          description="An account with journal lines is a 409: set `active: false` instead."),
)
class AccountViewSet(viewsets.ModelViewSet):
    queryset = Account.objects.all()
    serializer_class = s.AccountSerializer
    permission_classes = [ChartPermission]
    filter_backends = [DjangoFilterBackend, StableOrderingFilter]
    filterset_fields = ["kind", "role", "active", "family"]
    ordering_fields = ["id", "code", "name", "kind", "role"]
    ordering = ["code", "id"]

    def perform_update(self, serializer):
        account = serializer.instance
        changed = [f for f in ACCOUNT_POSTING_TERMS if f in serializer.validated_data
                   and serializer.validated_data[f] != getattr(account, f)]
        if changed and JournalLine.objects.filter(account=account).exists():
            raise Conflict(f"{account} has journal lines; its {', '.join(changed)} cannot change — add a new account "
                           "and deactivate this one", fields={f: ["the account has journal lines"] for f in changed})
        serializer.save()

    def perform_destroy(self, instance):
        try:
            instance.delete()
        except ProtectedError:
            raise Conflict(f"{instance} has journal lines; deactivate it (active: false) instead") from None


# --- the recognition run and reports -----------------------------------------------------------------

def waterfall_body(first: date, last: date, by: str) -> dict:
    data = reports.waterfall(first=first, last=last, by=by)
    totals: dict[str, dict] = {}
    rows = []
    for row in data["rows"]:
        cur = row["currency"]
        per = totals.setdefault(cur, {m: ZERO for m in data["months"]})
        for m, v in row["months"].items():
            per[m] += v
        rows.append({"id": row["id"], "label": row["label"], "currency": cur,
                     "months": {m: str(v) for m, v in row["months"].items()}, "total": str(row["total"])})
    return {"from": _ym(first), "to": _ym(last), "by": by, "months": data["months"], "rows": rows,
            "totals": [{"currency": cur, "months": {m: str(money.quantize(v, cur)) for m, v in per.items()},
                        "total": str(money.quantize(sum(per.values(), ZERO), cur))}
                       for cur, per in sorted(totals.items())]}


def waterfall_csv(body: dict) -> str:
    by, months = body["by"], body["months"]
    rows = [[f"{by}_id", by, "currency", *months, "total"]]
    rows += [[r["id"], _safe_cell(r["label"] or ""), r["currency"], *(r["months"][m] for m in months), r["total"]]
             for r in body["rows"]]
    rows += [["", "Total", t["currency"], *(t["months"][m] for m in months), t["total"]] for t in body["totals"]]
    return _csv_text(rows)


def gl_csv_stream(first: date, last: date, after_id: int | None):
    writer = csv.writer(_Echo(), lineterminator="\r\n")
    yield writer.writerow(reports.GL_COLUMNS)
    for row in reports.gl_rows(first=first, last=last, after_id=after_id):
        yield writer.writerow([_safe_cell(row[c]) if c in CSV_TEXT_COLUMNS else row[c] for c in reports.GL_COLUMNS])


class RevenueViewSet(JSONErrorsMixin, viewsets.ViewSet):
    """The month-end recognition run and the revenue reports."""

    action_permissions = {
        "recognize": ["recognition.add_journalentry", "recognition.change_scheduleline"],
        "waterfall": ["recognition.view_scheduleline"],
        "deferred_rollforward": ["recognition.view_journalentry"],
        "by_period": ["recognition.view_journalentry"],
        "trial_balance": ["recognition.view_journalentry", "recognition.view_account"],
        "gl_export": ["recognition.view_journalentry"],
    }

    @extend_schema(
        operation_id="revenue_recognize",
        summary="Run revenue recognition through a day",
        description="Posts every planned schedule line of the months that have ended by `through` (Dr Deferred "
                    "revenue — or Unbilled receivable for what is not billed yet — Cr Revenue per product "
                    "family, dated the month's last day). Idempotent: a line posts once, so running it again "
                    "posts 0. Lines of a closed month post late into the first open one. `through` may not be "
                    "after today (400). The daily task does the same. Needs `recognition.add_journalentry` "
                    "(finance, admins).",
        request=s.RecognizeSerializer, responses=s.RecognizeResultSerializer)
    @action(detail=False, methods=["post"])
    def recognize(self, request):
        serializer = s.RecognizeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        through = serializer.validated_data["through"]
        today = timezone.localdate()
        if through > today:
            raise ValidationFailed(f"through {through} is after today ({today}): revenue is recognized for months "
                                   "that have ended", fields={"through": ["must not be after today"]})
        return Response({"through": through.isoformat(), "posted": recognize_through(day=through)})

    @extend_schema(
        operation_id="revenue_waterfall",
        summary="Deferred revenue waterfall",
        description="Revenue still to be recognized (planned schedule lines) per month from `from` to `to` "
                    "(YYYY-MM, at most 120 months), one row per contract, customer or product (`by`) and "
                    "currency, with `totals` per currency. Money in each row's currency. `format=csv` answers "
                    "text/csv: `<by>_id, <by>, currency, <months…>, total`, then a `Total` row per currency.",
        parameters=[FROM_MONTH, TO_MONTH,
                    OpenApiParameter("by", OpenApiTypes.STR, enum=list(WATERFALL_BY), description="Default contract."),
                    FORMAT],
        responses={(200, "application/json"): s.WaterfallSerializer,
                   (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="The same table as CSV.")})
    @action(detail=False, methods=["get"], renderer_classes=[JSONRenderer, CSVRenderer])
    def waterfall(self, request):
        first, last = _month_window(request)
        by = _choice_param(request, "by", WATERFALL_BY, "contract")
        body = waterfall_body(first, last, by)
        if request.accepted_renderer.format == "csv":
            response = HttpResponse(waterfall_csv(body), content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="waterfall-{body["from"]}-{body["to"]}.csv"'
            return response
        return Response(body)

    @extend_schema(
        operation_id="revenue_deferred_rollforward",
        summary="Deferred revenue roll-forward for a month",
        description="Per currency: opening + billings − recognized ± adjustments (credit notes, late items) = "
                    "closing, and whether closing ties to the Deferred Revenue account at the month end "
                    "(`ledger_balance`, `ties`). Balances are credit − debit, in the transaction currency.",
        parameters=[OpenApiParameter("period", MONTH_SCHEMA, description="YYYY-MM (default: this month).")],
        responses=s.RollforwardSerializer)
    @action(detail=False, methods=["get"], url_path="deferred-rollforward")
    def deferred_rollforward(self, request):
        month = _month_param(request, "period", timezone.localdate().replace(day=1))
        data = reports.deferred_rollforward(period=month)
        rows = [{k: (str(v) if isinstance(v, Decimal) else v) for k, v in row.items()} for row in data["currencies"]]
        return Response({"period": data["period"], "ties": all(r["ties"] for r in rows), "currencies": rows})

    @extend_schema(
        operation_id="revenue_by_period",
        summary="Recognized revenue by month and dimension",
        description="Credits less debits on the revenue accounts per month (the accounting period posted in) and "
                    "`dimension` — product, customer, segment (customer size) or family (the revenue account's "
                    "product family) — in the reporting currency, with per-month `totals`.",
        parameters=[FROM_MONTH, TO_MONTH,
                    OpenApiParameter("dimension", OpenApiTypes.STR, enum=list(DIMENSIONS),
                                     description="Default product.")],
        responses=s.RevenueBySerializer)
    @action(detail=False, methods=["get"], url_path="by-period")
    def by_period(self, request):
        first, last = _month_window(request)
        dimension = _choice_param(request, "dimension", DIMENSIONS, "product")
        cur = reporting_currency()
        rows = reports.revenue_by(first=first, last=month_end(last), dimension=dimension)
        totals: dict[str, Decimal] = {}
        for r in rows:
            totals[r["month"]] = totals.get(r["month"], ZERO) + r["amount"]
        return Response({
            "from": _ym(first), "to": _ym(last), "dimension": dimension, "currency": cur,
            "rows": [{"month": r["month"], "label": str(r[dimension]), "amount": str(money.quantize(r["amount"], cur))}
                     for r in rows],
            "totals": {m: str(money.quantize(v, cur)) for m, v in totals.items()},
            "total": str(money.quantize(sum(totals.values(), ZERO), cur)),
        })

    @extend_schema(
        operation_id="revenue_trial_balance",
        summary="Trial balance",
        description="Per account: debits, credits and balance (debit − credit) in the reporting currency of "
                    "every entry dated up to `as_of` (default today); `balanced` when debits equal credits.",
        parameters=[OpenApiParameter("as_of", OpenApiTypes.DATE, description="Default: today.")],
        responses=s.TrialBalanceSerializer)
    @action(detail=False, methods=["get"], url_path="trial-balance")
    def trial_balance(self, request):
        as_of = _date_param(request, "as_of", timezone.localdate())
        cur = reporting_currency()
        data = reports.trial_balance(as_of=as_of)

        def q(v):
            return str(money.quantize(v, cur))

        return Response({
            "as_of": data["as_of"], "currency": cur,
            "rows": [{**r, "debit": q(r["debit"]), "credit": q(r["credit"]), "balance": q(r["balance"])}
                     for r in data["rows"]],
            "total_debit": q(data["total_debit"]), "total_credit": q(data["total_credit"]),
            "balanced": data["balanced"],
        })

    @extend_schema(
        operation_id="revenue_gl_export",
        summary="General ledger export (one row per journal line)",
        description="Journal lines of the entries dated `from` … `to` (YYYY-MM-DD; default this month so far), "
                    "in entry order, in the ERP layout: "
                    f"`{', '.join(reports.GL_COLUMNS)}`. `format=csv` streams the whole range as text/csv with "
                    "that header (text cells starting with =, +, -, @ are prefixed with an apostrophe). JSON "
                    "answers `{columns, rows, next_after}` a page at a time (`limit` lines, default 5,000, "
                    "at most 50,000, never splitting an entry): ask again with `after=<next_after>` until it is "
                    "null. `after` also resumes a CSV export after an entry id.",
        parameters=[OpenApiParameter("from", OpenApiTypes.DATE, description="First day (default: 1st of this month)."),
                    OpenApiParameter("to", OpenApiTypes.DATE, description="Last day, inclusive (default: today)."),
                    OpenApiParameter("after", OpenApiTypes.INT, description="Only entries with a greater id."),
                    OpenApiParameter("limit", OpenApiTypes.INT, description="JSON: lines per page."),
                    FORMAT],
        responses={(200, "application/json"): s.GlExportSerializer,
                   (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="GL_COLUMNS, one line each.")})
    @action(detail=False, methods=["get"], url_path="gl-export", renderer_classes=[JSONRenderer, CSVRenderer])
    def gl_export(self, request):
        today = timezone.localdate()
        first = _date_param(request, "from", today.replace(day=1))
        last = _date_param(request, "to", max(today, first))
        if last < first:
            raise ValidationFailed("`to` is before `from`", fields={"to": ["must be on or after `from`"]})
        after = self._int_param(request, "after", None, 0)
        if request.accepted_renderer.format == "csv":
            response = StreamingHttpResponse(gl_csv_stream(first, last, after), content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="gl-{first}-{last}.csv"'
            return response
        limit = self._int_param(request, "limit", GL_PAGE_DEFAULT, 1, GL_PAGE_MAX)
        rows, more = [], False
        lines = reports.gl_rows(first=first, last=last, after_id=after)
        try:
            for row in lines:
                if len(rows) >= limit and row["entry_id"] != rows[-1]["entry_id"]:
                    more = True
                    break
                rows.append(row)
        finally:
            lines.close()
        return Response({"columns": reports.GL_COLUMNS, "rows": rows,
                         "next_after": rows[-1]["entry_id"] if more else None})

    @staticmethod
    def _int_param(request, name: str, default: int | None, minimum: int, maximum: int | None = None) -> int | None:
        raw = request.query_params.get(name)
        if raw is None or raw == "":
            return default
        if not raw.isdigit() or int(raw) < minimum or (maximum is not None and int(raw) > maximum):
            bound = f"from {minimum}" + (f" to {maximum}" if maximum is not None else "")
            raise ValidationFailed(f"{name} must be a whole number {bound}",
                                   fields={name: [f"must be a whole number {bound}"]})
        return int(raw)


def register(router) -> None:
    router.register("performance-obligations", PerformanceObligationViewSet, basename="performance-obligation")
    router.register("revenue-schedules", RevenueScheduleViewSet, basename="revenue-schedule")
    router.register("journal-entries", JournalEntryViewSet, basename="journal-entry")
    router.register("accounting-periods", AccountingPeriodViewSet, basename="accounting-period")
    router.register("fx-rates", FxRateViewSet, basename="fx-rate")
    router.register("accounts", AccountViewSet, basename="account")
    router.register("revenue", RevenueViewSet, basename="revenue")

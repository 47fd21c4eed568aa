from django import forms
from django.contrib import admin, messages

from revops.kernel.errors import DomainError

from .models import (
    Amendment,
    Contract,
    ContractEvent,
    ContractLine,
    ContractQuote,
    ProrationCharge,
    RenewalAlert,
)


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class NewContractLineInline(admin.TabularInline):
    """Lines of a contract being entered (imported deals); written by contract_create, not by the admin."""

    model = ContractLine
    extra = 2
    fields = ("product", "quantity", "unit_price", "period")
    verbose_name = "line"

    def has_change_permission(self, request, obj=None):
        return obj is None


class NewContractForm(forms.ModelForm):
    term_months = forms.IntegerField(min_value=1, initial=12, help_text="The end date follows from it.")

    class Meta:
        model = Contract
        fields = ("customer", "owner", "currency", "start_date", "billing_frequency", "billing_anchor_day",
                  "payment_terms", "auto_renew", "renewal_term_months", "renewal_uplift_percent",
                  "renewal_notice_days")


class ContractLineInline(ReadOnlyInline):
    model = ContractLine
    fields = ("item", "version", "product", "quantity", "unit_price", "amount", "period", "start_date", "end_date",
              "amendment")
    readonly_fields = fields


class AmendmentInline(ReadOnlyInline):
    model = Amendment
    fields = ("number", "kind", "effective_date", "proration_total", "reason", "created_by", "created_at")
    readonly_fields = fields


class RenewalAlertInline(ReadOnlyInline):
    model = RenewalAlert
    fields = ("offset_days", "due_date", "sent_at", "arr_at_risk")
    readonly_fields = fields


class ContractEventInline(ReadOnlyInline):
    model = ContractEvent
    fields = ("at", "kind", "actor", "detail")
    readonly_fields = fields


@admin.register(Contract)
class ContractAdmin(admin.ModelAdmin):
    """Lines, amendments and status change through the contract services (pages, API); renewal
    settings can be edited here."""

    list_display = ("number", "customer", "status", "start_date", "end_date", "currency", "arr", "tcv",
                    "auto_renew", "owner")
    list_filter = ("status", "auto_renew", "currency", "billing_frequency")
    search_fields = ("number", "customer__name")
    date_hierarchy = "end_date"
    list_select_related = ("customer", "owner")
    inlines = [ContractLineInline, AmendmentInline, RenewalAlertInline, ContractEventInline]
    fields = ("number", "customer", "quote", "owner", "currency", "status", "start_date", "end_date",
              "billing_frequency", "payment_terms", "auto_renew", "renewal_term_months", "renewal_uplift_percent",
              "renewal_notice_days", "renewal_alert_offsets", "renewed_from", "renewal_quote", "terminated_on",
              "termination_reason", "tcv", "arr", "mrr")
    readonly_fields = ("number", "customer", "quote", "currency", "status", "start_date", "end_date",
                       "billing_frequency", "payment_terms", "renewed_from", "renewal_quote", "terminated_on",
                       "termination_reason", "tcv", "arr", "mrr")

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:  # adding: the service builds the contract
            kwargs["form"] = NewContractForm
            kwargs["fields"] = None
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        return list(NewContractForm.Meta.fields) + ["term_months"] if obj is None else super().get_fields(request, obj)

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def get_inlines(self, request, obj=None):
        return [NewContractLineInline] if obj is None else self.inlines

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
        # adding: nothing yet — save_related creates the contract with its lines through the service

    def save_related(self, request, form, formsets, change):
        if change:
            return super().save_related(request, form, formsets, change)
        from .services.creation import LineSpec, contract_create

        data = form.cleaned_data
        specs = [LineSpec(f.cleaned_data["product"], f.cleaned_data["quantity"], f.cleaned_data["unit_price"],
                          f.cleaned_data.get("period") or None)
                 for fs in formsets for f in fs.forms
                 if f.cleaned_data and not f.cleaned_data.get("DELETE") and f.cleaned_data.get("product")]
        terms = {k: data[k] for k in ("owner", "billing_anchor_day", "payment_terms", "auto_renew",
                                      "renewal_term_months", "renewal_uplift_percent", "renewal_notice_days")}
        try:
            contract = contract_create(customer=data["customer"], start_date=data["start_date"],
                                       term_months=data["term_months"], lines=specs, by=request.user,
                                       billing_frequency=data["billing_frequency"], currency=data["currency"], **terms)
        except DomainError as exc:
            fields = "; ".join(f"{k}: {', '.join(v)}" for k, v in exc.fields.items())
            messages.error(request, f"Nothing was saved: {exc.message}" + (f" ({fields})" if fields else ""))
            return
        form.instance.pk = contract.pk
        form.instance.number = contract.number
        messages.info(request, f"{contract.number} was created and activated through the contract service.")


    def response_add(self, request, obj, post_url_continue=None):
        if obj.pk is None:  # the service refused: back to the form, the message says why
            from django.http import HttpResponseRedirect

            return HttpResponseRedirect(request.path)
        return super().response_add(request, obj, post_url_continue)

    def construct_change_message(self, request, form, formsets, add=False):
        if add:  # the inlines were not saved by the admin: the service wrote the lines
            return [{"added": {}}]
        return super().construct_change_message(request, form, formsets, add)

    def log_addition(self, request, obj, message):
        if obj.pk is not None:
            return super().log_addition(request, obj, message)
        return None


@admin.register(ProrationCharge)
class ProrationChargeAdmin(admin.ModelAdmin):
    list_display = ("contract", "description", "period_start", "period_end", "amount", "currency", "billed")
    list_filter = ("billed", "currency")
    search_fields = ("contract__number", "description")

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False


@admin.register(RenewalAlert)
class RenewalAlertAdmin(admin.ModelAdmin):
    list_display = ("contract", "offset_days", "due_date", "sent_at", "arr_at_risk")
    list_filter = ("offset_days",)
    search_fields = ("contract__number", "contract__customer__name")

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False


admin.site.register(ContractQuote)

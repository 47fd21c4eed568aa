"""Admin for customers and contacts. Saves go through customers.services, like every other write, so
admin edits record the same outbox events and are refused by the same rules; the customer page shows
its audit trail."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode

from integrations.resources import ContactCsvImport, CustomerCsvImport
from revops.kernel import audit
from revops.kernel.errors import DomainError
from revops.kernel.models import AuditEntry

from . import services
from .models import Contact, Customer, CustomerComment

HISTORY_ROWS = 50


class CustomerAdminForm(forms.ModelForm):
    class Meta:
        model = Customer
        fields = services.CUSTOMER_FIELDS

    def _post_clean(self):
        super()._post_clean()
        if self.errors:
            return
        # The service's own rules (country format, external id clash, name), on the built instance,
        # so the admin shows them beside the field instead of failing on save.
        try:
            services._clean(self.instance)
        except DomainError as exc:
            if not exc.fields:
                self.add_error(None, exc.message)
            for field, msgs in exc.fields.items():
                self.add_error(field if field in self.fields else None, msgs)


class ContactForm(forms.ModelForm):
    class Meta:
        model = Contact
        fields = ("customer", "name", "email", "phone", "title", "role")

    def clean_email(self) -> str:
        # The service keeps emails lower-case; doing it here lets the unique check see duplicates.
        return (self.cleaned_data.get("email") or "").strip().lower()


class ContactInline(admin.TabularInline):
    model = Contact
    form = ContactForm
    extra = 0
    fields = ("name", "email", "phone", "title", "role", "portal_user")
    readonly_fields = ("portal_user",)
    show_change_link = True


@admin.register(Customer)
class CustomerAdmin(CustomerCsvImport, admin.ModelAdmin):  # + an Import (CSV) button
    form = CustomerAdminForm
    list_display = (
        "name",
        "external_id",
        "currency",
        "country",
        "industry",
        "size",
        "region",
        "acquisition_channel",
        "tax_exempt",
        "owner",
        "created_at",
    )
    list_select_related = ("owner",)
    search_fields = ("name", "external_id", "billing_email")
    list_filter = ("industry", "size", "region", "acquisition_channel", "currency", "tax_exempt")
    date_hierarchy = "created_at"
    autocomplete_fields = ("owner",)
    readonly_fields = ("created_at", "audit_history")
    inlines = [ContactInline]
    fieldsets = (
        (
            None,
            {"fields": ("name", "external_id", "owner", "currency", "billing_email", "tax_exempt", "tax_id")},
        ),
        ("Address", {"fields": ("country", "address")}),
        ("Segmentation", {"fields": ("industry", "size", "region", "acquisition_channel")}),
        ("History", {"fields": ("created_at", "audit_history")}),
    )

    def save_model(self, request, obj, form, change):
        values = {name: getattr(obj, name) for name in services.CUSTOMER_FIELDS}
        if change:
            changed = {name: values[name] for name in form.changed_data if name in values}
            saved = services.customer_update(customer_id=obj.pk, by=request.user, **changed)
        else:
            saved = services.customer_create(by=request.user, **values)
        # The inlines and the redirect use `obj`: give it the saved row's state.
        for field in Customer._meta.concrete_fields:
            setattr(obj, field.attname, getattr(saved, field.attname))
        obj._state.adding = False

    def save_formset(self, request, form, formset, change):
        if formset.model is not Contact:
            return super().save_formset(request, form, formset, change)
        contacts = formset.save(commit=False)
        for contact in formset.deleted_objects:
            contact.delete()
        for contact in contacts:
            if contact.pk is None:
                services.contact_create(
                    customer=form.instance,
                    name=contact.name,
                    email=contact.email,
                    by=request.user,
                    phone=contact.phone,
                    title=contact.title,
                    role=contact.role,
                )
            else:
                contact.save()
        formset.save_m2m()

    @admin.display(description="Audit trail")
    def audit_history(self, obj: Customer | None) -> str:
        if obj is None or obj.pk is None:
            return "—"
        entries = list(audit.history(obj)[:HISTORY_ROWS])
        if not entries:
            return "No changes recorded."
        rows = format_html_join(
            "\n",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    entry.at.strftime("%Y-%m-%d %H:%M:%S %Z"),
                    entry.get_action_display(),
                    entry.actor.get_username() if entry.actor else "system",
                    _changes_html(entry),
                )
                for entry in entries
            ),
        )
        changelist = reverse("admin:kernel_auditentry_changelist")
        query = urlencode({"content_type__id__exact": entries[0].content_type_id, "object_id": obj.pk})
        return format_html(
            '<table class="audit-history"><thead><tr><th>When</th><th>Action</th><th>Who</th><th>Changes</th>'
            '</tr></thead><tbody>{}</tbody></table><p><a href="{}?{}">All audit entries for this customer</a></p>',
            rows,
            changelist,
            query,
        )


def _changes_html(entry: AuditEntry) -> str:
    items = sorted((entry.changes or {}).items())
    if not items:
        return "—"
    return format_html_join(
        "",
        "<div><code>{}</code>: {} &rarr; {}</div>",
        (
            (field, _shown(pair[0] if pair else None), _shown(pair[1] if pair else None))
            for field, pair in items
        ),
    )


def _shown(value) -> str:
    return "∅" if value in (None, "") else str(value)


@admin.register(Contact)
class ContactAdmin(ContactCsvImport, admin.ModelAdmin):  # + an Import (CSV) button
    form = ContactForm
    list_display = ("name", "email", "customer", "role", "title", "portal_user")
    list_select_related = ("customer", "portal_user")
    search_fields = ("name", "email", "customer__name")
    list_filter = ("role",)
    autocomplete_fields = ("customer",)
    readonly_fields = ("portal_user",)
    actions = ["grant_portal_access"]

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        fields = {name: getattr(obj, name) for name in ("phone", "title", "role")}
        saved = services.contact_create(
            customer=obj.customer, name=obj.name, email=obj.email, by=request.user, **fields
        )
        obj.pk = saved.pk
        obj.email = saved.email
        obj._state.adding = False

    @admin.action(description="Give portal access (login = email)")
    def grant_portal_access(self, request, queryset):
        granted = 0
        for contact in queryset:
            try:
                services.portal_access_grant(contact=contact)
                granted += 1
            except DomainError as exc:
                self.message_user(request, f"{contact}: {exc.message}", messages.ERROR)
        if granted:
            self.message_user(
                request, f"{granted} contact(s) can now sign in to the portal.", messages.SUCCESS
            )


@admin.register(CustomerComment)
class CustomerCommentAdmin(admin.ModelAdmin):
    """Comments on the shared customer timeline, read-only here: they are written on the customer page or
    through the API (analytics.services.timeline.customer_comment_add), which parses the @-mentions and
    notifies; an admin may delete an inappropriate one."""

    list_display = ("created_at", "customer", "author", "excerpt", "mentioned")
    list_select_related = ("customer", "author")
    search_fields = ("body", "customer__name", "author__username")
    date_hierarchy = "created_at"
    readonly_fields = ("customer", "author", "body", "mentions", "created_at")
    fields = readonly_fields

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("mentions")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Comment")
    def excerpt(self, obj: CustomerComment) -> str:
        return obj.body if len(obj.body) <= 80 else obj.body[:79] + "…"

    @admin.display(description="Mentions")
    def mentioned(self, obj: CustomerComment) -> str:
        return ", ".join(f"@{u.username}" for u in obj.mentions.all()) or "—"

"""Customer pages: list (with htmx live search), the customer page — the Customer 360 every team shares:
account, contacts, MRR and health, quotes, contracts, billing, usage, alerts and the shared timeline with
comments — create and edit.

Views stay thin: reads come from `customers.selectors`, `CustomerFilter` and
`analytics.services.customer360` (which also decides what each role sees); writes go through
`customers.services` and `analytics.services.timeline.customer_comment_add`, whose field errors are
shown beside the form's fields.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_POST

from analytics.services import customer360, timeline
from revops.kernel import audit
from revops.kernel.errors import DomainError
from revops.kernel.views import staff_required

from . import selectors, services
from .filters import CustomerFilter
from .forms import CommentForm, ContactForm, CustomerForm, CustomerSearchForm, apply_domain_errors
from .models import Customer

PAGE_SIZE = 25
HISTORY_LIMIT = 50
TIMELINE_PAGE = 20


def _wants_partial(request) -> bool:
    """An htmx request for the results only (a history restore needs the whole page)."""
    return bool(request.htmx) and not request.htmx.history_restore_request


def _choices(queryset, field: str) -> list[str]:
    return list(queryset.exclude(**{field: ""}).order_by(field).values_list(field, flat=True).distinct())


@staff_required
def customer_list(request):
    visible = selectors.customers_visible_to(user=request.user)
    filterset = CustomerFilter(request.GET, queryset=visible.select_related("owner"))
    page = Paginator(filterset.qs, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "filtered": any(request.GET.get(name) for name in CustomerSearchForm.base_fields),
    }
    if _wants_partial(request):
        response = render(request, "customers/_results.html", context)
    else:
        context["search_form"] = CustomerSearchForm(
            request.GET, industries=_choices(visible, "industry"), currencies=_choices(visible, "currency")
        )
        response = render(request, "customers/list.html", context)
    patch_vary_headers(response, ["HX-Request"])  # same URL, two representations
    return response


def _customer_or_404(request, pk: int) -> Customer:
    return get_object_or_404(selectors.customers_visible_to(user=request.user).select_related("owner"), pk=pk)


def _render_detail(request, customer: Customer, contact_form: ContactForm | None = None,
                   comment_form: CommentForm | None = None, status: int = 200):
    """The customer page: the Customer 360, cut to the viewer's role (customer360.visibility_for)."""
    context = {
        "customer": customer,
        "contacts": list(customer.contacts.all()),
        "history": list(audit.history(customer)[:HISTORY_LIMIT]),
        "contact_form": contact_form or ContactForm(),
        "comment_form": comment_form or CommentForm(),
        "c360": customer360.customer_360(customer=customer, user=request.user, timeline_limit=TIMELINE_PAGE),
    }
    return render(request, "customers/detail.html", context, status=status)


@staff_required
def customer_detail(request, pk: int):
    return _render_detail(request, _customer_or_404(request, pk))


@staff_required
def customer_360(request, pk: int):
    """/customers/<id>/360/: the customer page is the 360; one canonical address."""
    customer = _customer_or_404(request, pk)
    return redirect("customers:detail", pk=customer.pk)


@staff_required
@require_GET
def customer_timeline(request, pk: int):
    """More of the timeline (htmx "Show more"): `?offset=`; the same role filter as the page."""
    customer = _customer_or_404(request, pk)
    try:
        offset = max(0, int(request.GET.get("offset", "0")))
    except ValueError:
        offset = 0
    seen = customer360.visibility_for(request.user)
    page = timeline.customer_timeline(customer_id=customer.pk, limit=TIMELINE_PAGE, offset=offset, with_count=False,
                                      **seen.timeline_filter)
    return render(request, "customers/_timeline.html", {"customer": customer, "timeline": page})


@staff_required(permission="customers.add_customercomment")
@require_POST
def comment_create(request, pk: int):
    customer = _customer_or_404(request, pk)
    form = CommentForm(request.POST)
    if form.is_valid():
        try:
            comment = timeline.customer_comment_add(customer_id=customer.pk, author=request.user,
                                                    body=form.cleaned_data["body"])
        except DomainError as exc:
            apply_domain_errors(form, exc)
        else:
            mentioned = list(comment.mentions.values_list("username", flat=True))
            note = f" Mentioned: {', '.join('@' + m for m in mentioned)}." if mentioned else ""
            messages.success(request, f"Comment added.{note}")
            return redirect(f"{reverse('customers:detail', args=[customer.pk])}#comment-{comment.pk}")
    return _render_detail(request, customer, comment_form=form, status=400)


@staff_required(permission="customers.add_customer")
def customer_create(request):
    form = CustomerForm(request.POST or None, initial={"currency": "USD", "owner": request.user.pk})
    if request.method == "POST" and form.is_valid():
        try:
            customer = services.customer_create(by=request.user, **form.cleaned_data)
        except DomainError as exc:
            apply_domain_errors(form, exc)
        else:
            messages.success(request, f"Customer {customer.name} created.")
            return redirect("customers:detail", pk=customer.pk)
    return render(request, "customers/form.html", {"form": form, "customer": None})


@staff_required(permission="customers.change_customer")
def customer_edit(request, pk: int):
    customer = _customer_or_404(request, pk)
    form = CustomerForm(request.POST or None, initial=CustomerForm.initial_for(customer))
    if request.method == "POST" and form.is_valid():
        if not form.has_changed():
            messages.info(request, "Nothing changed.")
            return redirect("customers:detail", pk=customer.pk)
        changes = {name: form.cleaned_data[name] for name in form.changed_data}
        try:
            services.customer_update(customer_id=customer.pk, by=request.user, **changes)
        except DomainError as exc:
            apply_domain_errors(form, exc)
        else:
            messages.success(request, f"Customer {customer.name} saved.")
            return redirect("customers:detail", pk=customer.pk)
    return render(request, "customers/form.html", {"form": form, "customer": customer})


@staff_required(permission="customers.add_contact")
@require_POST
def contact_create(request, pk: int):
    customer = _customer_or_404(request, pk)
    form = ContactForm(request.POST)
    if form.is_valid():
        try:
            contact = services.contact_create(customer=customer, by=request.user, **form.cleaned_data)
        except DomainError as exc:
            apply_domain_errors(form, exc)
        else:
            messages.success(request, f"Contact {contact.name} added.")
            return redirect("customers:detail", pk=customer.pk)
    return _render_detail(request, customer, contact_form=form)

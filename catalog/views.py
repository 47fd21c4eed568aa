"""Catalog pages: products (with their prices, tiers, bundle options and rules), price books, and an
htmx "try a quantity" calculator that shows what `catalog.pricing.calculate` charges."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, render
from django.utils.cache import patch_vary_headers

from revops.kernel import roles
from revops.kernel.errors import DomainError
from revops.kernel.views import staff_required

from . import page_queries, pricing
from .filters import ProductFilter
from .forms import CalculatorForm, ProductSearchForm
from .models import Price, PriceBook, Product

PAGE_SIZE = 25
PRICE_PAGE_SIZE = 50


def _wants_partial(request) -> bool:
    return bool(request.htmx) and not request.htmx.history_restore_request


@staff_required
def product_list(request):
    filterset = ProductFilter(request.GET, queryset=page_queries.products())
    page = Paginator(filterset.qs, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"page": page, "filtered": any(request.GET.get(name) for name in ProductSearchForm.base_fields)}
    if _wants_partial(request):
        response = render(request, "catalog/_product_results.html", context)
    else:
        context["search_form"] = ProductSearchForm(request.GET, families=page_queries.product_families())
        response = render(request, "catalog/product_list.html", context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@staff_required
def product_detail(request, pk: int):
    product = get_object_or_404(Product.objects.select_related("meter"), pk=pk)
    context = {
        "product": product,
        "price_rows": page_queries.price_rows(page_queries.product_prices(product)),
        "bundle_options": page_queries.bundle_options(product),
        "rules": page_queries.product_rules(product),
        "can_see_costs": roles.can_see_costs(request.user),
    }
    return render(request, "catalog/product_detail.html", context)


@staff_required
def price_calculate(request, pk: int):
    """GET ?quantity=[&base_amount=] -> the amount and its breakdown (a partial for htmx)."""
    try:
        price = page_queries.price_for_calculator(pk)
    except Price.DoesNotExist:
        raise Http404("no such price") from None
    form = CalculatorForm(request.GET)
    result = error = None
    if form.is_valid():
        try:
            result = pricing.calculate(
                price, form.cleaned_data["quantity"], base_amount=form.cleaned_data["base_amount"]
            )
        except DomainError as exc:
            error = exc.message
    context = {"price": price, "form": form, "result": result, "error": error}
    template = "catalog/_price_result.html" if _wants_partial(request) else "catalog/price_calculate.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@staff_required
def price_book_list(request):
    return render(request, "catalog/price_book_list.html", {"books": list(page_queries.price_books())})


@staff_required
def price_book_detail(request, pk: int):
    book = get_object_or_404(PriceBook, pk=pk)
    page = Paginator(page_queries.price_book_prices(book), PRICE_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"book": book, "page": page, "price_rows": page_queries.price_rows(page.object_list)}
    return render(request, "catalog/price_book_detail.html", context)

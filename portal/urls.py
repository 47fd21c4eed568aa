"""The customer portal's pages, under /portal/."""
from django.urls import path

from . import views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("invoices/", views.invoices, name="invoices"),
    path("invoices/<int:pk>/", views.invoice_detail, name="invoice"),
    path("invoices/<int:pk>/pdf/", views.invoice_pdf, name="invoice_pdf"),
    path("payments/", views.payments, name="payments"),
    path("usage/", views.usage, name="usage"),
    path("quotes/", views.quotes, name="quotes"),
    path("quotes/<int:pk>/pdf/", views.quote_pdf, name="quote_pdf"),
]

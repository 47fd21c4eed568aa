"""Finance pages (staff): /billing/…"""

from django.urls import path

from . import views

app_name = "billing"
urlpatterns = [
    path("invoices/", views.invoice_list, name="invoices"),
    path("invoices/approvals/", views.approvals, name="approvals"),
    path("invoices/approve/", views.invoices_approve_bulk, name="invoices_approve"),
    path("invoices/issue/", views.invoices_issue_bulk, name="invoices_issue"),
    path("invoices/<int:pk>/", views.invoice_detail, name="invoice"),
    path("invoices/<int:pk>/approve/", views.invoice_approve_view, name="invoice_approve"),
    path("invoices/<int:pk>/issue/", views.invoice_issue_view, name="invoice_issue"),
    path("invoices/<int:pk>/void/", views.invoice_void_view, name="invoice_void"),
    path("invoices/<int:pk>/uncollectible/", views.invoice_uncollectible_view, name="invoice_uncollectible"),
    path("invoices/<int:pk>/payments/", views.invoice_payment_view, name="invoice_payment"),
    path("invoices/<int:pk>/credit-notes/", views.invoice_credit_note_view, name="invoice_credit_note"),
    path("invoices/<int:pk>/pdf/", views.invoice_pdf, name="invoice_pdf"),
    path("invoices/<int:pk>/pdf/render/", views.invoice_pdf_retry, name="invoice_pdf_retry"),
    path("bill-runs/", views.bill_runs, name="bill_runs"),
    path("bill-runs/new/", views.bill_run_start, name="bill_run_start"),
    path("bill-runs/<int:pk>/", views.bill_run_detail, name="bill_run"),
    path("bill-runs/<int:pk>/progress/", views.bill_run_progress, name="bill_run_progress"),
    path("ar-aging/", views.ar_aging, name="ar_aging"),
    path("dunning/", views.dunning_status, name="dunning"),
    path("payments/", views.payment_list, name="payments"),
    path("payments/new/", views.payment_create, name="payment_create"),
    path("payments/<int:pk>/", views.payment_detail, name="payment"),
]

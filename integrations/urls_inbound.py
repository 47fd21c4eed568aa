"""Pages of the inbound part of integrations: the inbox (admins) and ERP exports (finance, admins)."""
from django.urls import path

from . import views_erp, views_inbound

urlpatterns: list = [
    path("inbox/", views_inbound.inbox, name="inbox"),
    path("inbox/<int:pk>/", views_inbound.inbox_message, name="inbox_message"),
    path("inbox/<int:pk>/retry/", views_inbound.inbox_retry, name="inbox_retry"),
    path("erp-exports/", views_erp.erp_exports, name="erp_exports"),
    path("erp-exports/<int:pk>/download/", views_erp.erp_export_download, name="erp_export_download"),
]

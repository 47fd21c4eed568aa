"""Pages of the profitability area (see analytics/urls.py, namespace "analytics")."""
from django.urls import path

from . import views_profitability as v

urlpatterns: list = [
    path("profitability/", v.profitability, name="profitability"),
    path("profitability/segments/", v.segments, name="profitability_segments"),
    path("profitability/trends/", v.trends, name="profitability_trends"),
    path("profitability/acquisition/", v.acquisition, name="acquisition"),
    path("profitability/acquisition/spend/", v.spend_create, name="acquisition_spend_create"),
    path("profitability/acquisition/spend/upload/", v.spend_upload, name="acquisition_spend_upload"),
    path("profitability/acquisition/spend/<int:pk>/delete/", v.spend_delete, name="acquisition_spend_delete"),
    path("profitability/costs/", v.service_costs, name="service_costs"),
    path("profitability/costs/<int:pk>/delete/", v.service_cost_delete, name="service_cost_delete"),
    path("data-health/", v.data_health_page, name="data_health"),
]

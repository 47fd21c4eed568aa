from django.urls import path

from . import urls_customer360, urls_insights, urls_profitability, views

app_name = "analytics"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("tiles/", views.tiles, name="tiles"),
    path("movements/", views.movements, name="movements"),
    *urls_profitability.urlpatterns,
    *urls_customer360.urlpatterns,
    *urls_insights.urlpatterns,
]

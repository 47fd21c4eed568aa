from django.urls import path

from . import stream, urls_customer360, urls_insights, urls_profitability, views, views_charts

app_name = "analytics"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("tiles/", views.tiles, name="tiles"),
    path("stream/", stream.stream, name="stream"),
    path("charts/<str:name>/", views_charts.chart, name="chart"),
    path("drill/<str:name>/", views.drill, name="drill"),
    path("movements/", views.movements, name="movements"),
    *urls_profitability.urlpatterns,
    *urls_customer360.urlpatterns,
    *urls_insights.urlpatterns,
]

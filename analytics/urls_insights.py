"""Pages of the insights area (see analytics/urls.py)."""
from django.urls import path

from . import views_insights

urlpatterns: list = [
    path("insights/", views_insights.insights, name="insights"),
    path("insights/suggestions/", views_insights.suggestions, name="insights_suggestions"),
]

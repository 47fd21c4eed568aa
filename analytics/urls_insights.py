"""Pages of the insights area (see analytics/urls.py)."""
urlpatterns: list = []

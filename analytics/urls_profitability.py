"""Pages of the profitability area (see analytics/urls.py)."""
urlpatterns: list = []

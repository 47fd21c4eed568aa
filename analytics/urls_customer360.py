"""Pages of the customer360 area (see analytics/urls.py)."""
urlpatterns: list = []

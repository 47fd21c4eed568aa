"""/api/v1/ routes of the customer360 area (added to revops/api_urls.py)."""


def urlpatterns() -> list:
    return []

"""/api/v1/ routes of the profitability area (added to revops/api_urls.py)."""


def urlpatterns() -> list:
    return []

"""/api/v1/ routes of the insights area (added to revops/api_urls.py)."""


def urlpatterns() -> list:
    return []

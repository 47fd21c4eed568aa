"""/api/v1/ routes of the inbound part of integrations."""


def urlpatterns() -> list:
    return []

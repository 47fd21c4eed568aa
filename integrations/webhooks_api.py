"""/api/v1/ routes of the webhooks part of integrations."""


def urlpatterns() -> list:
    return []

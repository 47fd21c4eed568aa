"""Pages of the webhooks part of integrations."""
urlpatterns: list = []

"""Pages of the inbound part of integrations."""
urlpatterns: list = []

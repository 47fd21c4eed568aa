"""Integration pages (admins; finance for ERP exports)."""
from . import urls_inbound, urls_webhooks

app_name = "integrations"
urlpatterns = [*urls_webhooks.urlpatterns, *urls_inbound.urlpatterns]

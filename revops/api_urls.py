"""/api/v1/: every app's viewsets on one router."""
from django.urls import path
from rest_framework.routers import DefaultRouter

from analytics import api as analytics_api
from analytics import customer360_api, forecast_api, insights_api, profitability_api, targets_api
from billing import api as billing_api
from catalog import api as catalog_api
from contracts import api as contracts_api
from customers import api as customers_api
from integrations import inbound_api, webhooks_api
from portal import api as portal_api
from quotes import api as quotes_api
from recognition import api as recognition_api
from revops.kernel.api.auth import ObtainTokenView

router = DefaultRouter()
customers_api.register(router)
catalog_api.register(router)
quotes_api.register(router)
contracts_api.register(router)
billing_api.register(router)
portal_api.register(router)
recognition_api.register(router)

urlpatterns = [
    path("auth/token/", ObtainTokenView.as_view(), name="api-token"),
    *analytics_api.urlpatterns(),
    *targets_api.urlpatterns(),
    *forecast_api.urlpatterns(),
    *profitability_api.urlpatterns(),
    *customer360_api.urlpatterns(),
    *insights_api.urlpatterns(),
    *webhooks_api.urlpatterns(),
    *inbound_api.urlpatterns(),
    *router.urls,
]

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from revops.kernel import views as kernel_views

urlpatterns = [
    path("", kernel_views.home, name="home"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("customers/", include("customers.urls")),
    path("catalog/", include("catalog.urls")),
    path("quotes/", include("quotes.urls")),
    path("contracts/", include("contracts.urls")),
    path("analytics/", include("analytics.urls")),
    path("integrations/", include("integrations.urls")),
    path("billing/", include("billing.urls")),
    path("revenue/", include("recognition.urls")),
    path("notifications/", include("revops.kernel.notification_urls")),
    path("portal/", include("portal.urls")),
    path("", include("quotes.public_urls")),
    path("api/v1/", include("revops.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("healthz", kernel_views.healthz, name="healthz"),
]

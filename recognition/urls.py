"""Revenue recognition pages (finance): /revenue/…"""

from django.urls import path

from . import views

app_name = "recognition"
urlpatterns = [
    path("", views.home, name="home"),
    path("periods/", views.periods, name="periods"),
    path("periods/<str:month>/close/", views.period_close_view, name="period_close"),
    path("periods/<str:month>/reopen/", views.period_reopen_view, name="period_reopen"),
    path("waterfall/", views.waterfall, name="waterfall"),
    path("rollforward/", views.rollforward, name="rollforward"),
    path("by-period/", views.revenue_by_period, name="by_period"),
    path("trial-balance/", views.trial_balance_view, name="trial_balance"),
    path("journal/", views.journal, name="journal"),
    path("journal/<int:pk>/", views.journal_entry, name="entry"),
    path("gl-export/", views.gl_export, name="gl_export"),
    path("contracts/<int:pk>/", views.contract_revenue, name="contract"),
]

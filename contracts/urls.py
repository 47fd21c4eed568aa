"""Contract pages (staff): /contracts/…"""

from django.urls import path

from . import views

app_name = "contracts"
urlpatterns = [
    path("", views.contract_list, name="list"),
    path("renewals/", views.renewals, name="renewals"),
    path("<int:pk>/", views.contract_detail, name="detail"),
    path("<int:pk>/lines/", views.contract_lines, name="lines"),
    path("<int:pk>/amend/", views.amend, name="amend"),
    path("<int:pk>/renew/", views.renew, name="renew"),
    path("<int:pk>/terminate/", views.terminate, name="terminate"),
    path("<int:pk>/renewal-quote/", views.prepare_renewal_quote, name="renewal_quote"),
]

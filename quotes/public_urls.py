"""Pages customers reach without logging in: the signed, expiring quote acceptance link."""
from django.urls import path

from . import acceptance_views

urlpatterns = [
    path("q/<str:token>/", acceptance_views.acceptance, name="quote_acceptance"),
    path("q/<str:token>/accept/", acceptance_views.accept, name="quote_acceptance_accept"),
    path("q/<str:token>/decline/", acceptance_views.decline, name="quote_acceptance_decline"),
    path("q/<str:token>/pdf/", acceptance_views.acceptance_pdf, name="quote_acceptance_pdf"),
]

"""Pages customers reach without logging in: the signed, expiring quote acceptance link."""
from django.urls import path

from . import acceptance_views

urlpatterns = [
    path("q/<str:token>/", acceptance_views.acceptance, name="quote_acceptance"),
]

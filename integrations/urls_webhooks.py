"""Pages of the webhooks part of integrations (admins only): /integrations/webhooks/…"""
from django.urls import path

from . import views_webhooks as views

urlpatterns: list = [
    path("webhooks/", views.webhook_list, name="webhooks"),
    path("webhooks/<int:pk>/", views.webhook_endpoint, name="webhook_endpoint"),
    path("webhooks/<int:pk>/test/", views.webhook_test, name="webhook_test"),
    path("webhooks/deliveries/<int:pk>/replay/", views.webhook_replay, name="webhook_replay"),
]

from django.urls import path

app_name = "contracts"
urlpatterns: list = []

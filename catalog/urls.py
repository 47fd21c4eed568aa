from django.urls import path

from . import views

app_name = "catalog"
urlpatterns = [
    path("", views.product_list, name="products"),
    path("products/<int:pk>/", views.product_detail, name="product"),
    path("prices/<int:pk>/calculate/", views.price_calculate, name="price_calculate"),
    path("price-books/", views.price_book_list, name="price_books"),
    path("price-books/<int:pk>/", views.price_book_detail, name="price_book"),
]

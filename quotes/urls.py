"""Quote pages (staff): /quotes/…"""
from django.urls import path

from . import views

app_name = "quotes"
urlpatterns = [
    path("", views.quote_list, name="list"),
    path("new/", views.quote_create, name="create"),
    path("approvals/", views.approvals, name="approvals"),
    path("<int:pk>/", views.quote_detail, name="detail"),
    path("<int:pk>/terms/", views.quote_terms, name="terms"),
    path("<int:pk>/lines/", views.line_add, name="line_add"),
    path("<int:pk>/lines/options/", views.bundle_options, name="bundle_options"),
    path("<int:pk>/lines/<int:line_id>/", views.line_update, name="line_update"),
    path("<int:pk>/lines/<int:line_id>/remove/", views.line_remove, name="line_remove"),
    path("<int:pk>/submit/", views.quote_submit, name="submit"),
    path("<int:pk>/send/", views.quote_send, name="send"),
    path("<int:pk>/revise/", views.quote_revise, name="revise"),
    path("<int:pk>/approve/", views.quote_approve, name="approve"),
    path("<int:pk>/reject/", views.quote_reject, name="reject"),
    path("<int:pk>/pdf/", views.quote_pdf, name="pdf"),
]

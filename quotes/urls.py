
app_name = "quotes"
urlpatterns: list = []

from django.urls import path

from aftersale.tracking import views

# Short paths: they appear in every email, many times.
urlpatterns = [
    path("c/<str:token>/", views.click, name="tracking-click"),
    path("o/<str:token>.gif", views.open_pixel, name="tracking-open"),
    path("u/<str:token>/", views.unsubscribe, name="tracking-unsubscribe"),
    path("f/<str:token>/", views.feedback, name="recommendation-feedback"),
]

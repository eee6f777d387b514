from django.urls import path

from aftersale.messaging import views

urlpatterns = [
    path("i/countdown/<str:token>.png", views.countdown, name="messaging-countdown"),
]

from django.urls import path

from aftersale.recommendations import views

# A short path: two of these sit under every product in an email.
urlpatterns = [
    path("f/<str:token>/", views.feedback, name="recommendation-feedback"),
]

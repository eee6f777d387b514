from django.contrib.auth import views as auth_views
from django.urls import path

from aftersale.dashboard import views

app_name = "dashboard"

urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="dashboard/login.html", redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.overview, name="overview"),
    path("<slug:slug>/recommendations/", views.recommendations, name="recommendations"),
    path(
        "<slug:slug>/recommendations/runs/<int:run_id>/chart.png",
        views.evaluation_chart,
        name="evaluation-chart",
    ),
]

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from crm import views

admin.site.site_header = "Meridian CRM administration"
admin.site.site_title = "Meridian CRM"

urlpatterns = [
    path("", views.home, name="home"),
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="registration/login.html", redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("crm.api_urls")),
    path("reports/", include("reporting.urls")),
]

handler403 = "crm.views.permission_denied"
handler404 = "crm.views.page_not_found"

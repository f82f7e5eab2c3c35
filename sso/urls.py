from __future__ import annotations

from django.urls import path

from sso import views

app_name = "sso"

urlpatterns = [
    path("", views.sso_start, name="start"),
    path("callback/", views.sso_callback, name="callback"),
    path("<slug:slug>/", views.sso_organization, name="organization"),
    path("<slug:slug>/login/", views.sso_login, name="login"),
]

# Joined to the set-up namespace by the shell (meridian.urls).
setup_urlpatterns = [
    path("sso/", views.setup_sso, name="sso"),
]

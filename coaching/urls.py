"""Pages of coaching (``coaching:``) and its set-up page (joined to ``setup:``)."""

from __future__ import annotations

from django.urls import path

from coaching import views

app_name = "coaching"

urlpatterns = [
    path("", views.session_list, name="list"),
    path("new/", views.session_create, name="create"),
    path("new/deals/", views.opportunity_options, name="opportunity_options"),
    path("<int:pk>/", views.session_detail, name="detail"),
    path("<int:pk>/edit/", views.session_edit, name="edit"),
    path("<int:pk>/acknowledge/", views.session_acknowledge, name="acknowledge"),
    path("<int:pk>/actions/", views.action_add, name="action_add"),
    path("actions/<int:pk>/mark/", views.action_mark, name="action_mark"),
]

setup_urlpatterns = [path("coaching/", views.setup_coaching, name="coaching")]

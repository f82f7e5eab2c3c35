"""Pages of the accounts app, mounted at /accounts/."""

from __future__ import annotations

from django.urls import path

from accounts import views
from crm import history_views

app_name = "accounts"

urlpatterns = [
    path("", views.account_list, name="list"),
    path("tasks/", views.my_tasks, name="tasks"),
    path("search/", views.account_search, name="search"),
    path("duplicates/", views.account_duplicates, name="duplicates"),
    path("new/inline/", views.account_inline_create, name="inline_create"),
    path("activities/<int:pk>/done/", views.activity_done, name="activity_done"),
    path("<int:pk>/history/", history_views.account_history, name="history"),
    path("<int:pk>/", views.account_detail, name="detail"),
    path("<int:pk>/edit/", views.account_edit, name="edit"),
    path("<int:pk>/activities/", views.activity_create, name="activity_create"),
]

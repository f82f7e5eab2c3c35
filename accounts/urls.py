"""Pages of the accounts app, mounted at /accounts/."""

from __future__ import annotations

from django.urls import path

from accounts import join_views, setup_views, views

app_name = "accounts"

urlpatterns = [
    path("", views.account_list, name="list"),
    path("search/", views.account_search, name="search"),
    path("duplicates/", views.account_duplicates, name="duplicates"),
    path("new/inline/", views.account_inline_create, name="inline_create"),
    path("new/inline/join/", join_views.join_inline, name="join_inline"),
    path("join-requests/", join_views.join_requests, name="join_requests"),
    path(
        "join-requests/<int:pk>/<str:decision>/",
        join_views.join_request_decide,
        name="join_request_decide",
    ),
    path("<int:pk>/join/", join_views.join_request_create, name="join_request_create"),
    path("activities/<int:pk>/done/", views.activity_done, name="activity_done"),
    path("<int:pk>/edit/", views.account_edit, name="edit"),
    path("<int:pk>/activities/", views.activity_create, name="activity_create"),
]

# Mounted under /setup/ by the root urls, in the "setup" namespace with the other set-up pages.
setup_urlpatterns = [
    path("agreements/", setup_views.setup_agreements, name="agreements"),
    path("teams/", setup_views.setup_teams, name="teams"),
    path("teams/<int:pk>/", setup_views.setup_team, name="team"),
    path(
        "teams/members/<int:pk>/remove/", setup_views.setup_team_member_remove, name="team_remove"
    ),
]

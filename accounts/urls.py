"""Pages of the accounts app, mounted at /accounts/."""

from __future__ import annotations

from django.urls import path

from accounts import contact_views, join_views, setup_views, views

app_name = "accounts"

urlpatterns = [
    path("", views.account_list, name="list"),
    path("contacts/", contact_views.contact_list, name="contacts"),
    path("contacts/new/", contact_views.contact_create, name="contact_create"),
    path("contacts/<int:pk>/edit/", contact_views.contact_edit, name="contact_edit"),
    path("contacts/<int:pk>/archive/", contact_views.contact_archive, name="contact_archive"),
    path("contacts/<int:pk>/merge/", contact_views.contact_merge, name="contact_merge"),
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
    path("<int:pk>/plans/new/", views.plan_create, name="plan_create"),
    path("plans/<int:pk>/", views.plan_detail, name="plan"),
    path("plan-actions/<int:pk>/", views.plan_action_edit, name="plan_action"),
]

# Mounted under /setup/ by the root urls, in the "setup" namespace with the other set-up pages.
setup_urlpatterns = [
    path("segment-rules/", setup_views.setup_segment_rules, name="segment_rules"),
    path(
        "segment-rules/<int:pk>/delete/",
        setup_views.setup_segment_rule_delete,
        name="segment_rule_delete",
    ),
    path("agreements/", setup_views.setup_agreements, name="agreements"),
    path("teams/", setup_views.setup_teams, name="teams"),
    path("teams/<int:pk>/", setup_views.setup_team, name="team"),
    path(
        "teams/members/<int:pk>/remove/", setup_views.setup_team_member_remove, name="team_remove"
    ),
]

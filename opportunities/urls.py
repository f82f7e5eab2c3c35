"""Pages of the opportunities app, mounted at /opportunities/."""

from __future__ import annotations

from django.urls import path

from opportunities import contact_views, customer_views, setup_views, views

app_name = "opportunities"

urlpatterns = [
    path("", views.opportunity_list, name="list"),
    path("new/", views.opportunity_create, name="create"),
    path("preview/", views.opportunity_preview, name="preview"),
    path("board/", views.board, name="board"),
    path("conflicts/", views.conflict_list, name="conflicts"),
    path("conflicts/<int:pk>/", views.conflict_detail, name="conflict"),
    path("conflicts/acknowledge/", views.conflict_bulk_acknowledge, name="conflicts_acknowledge"),
    path("team/", views.team_overview, name="team"),
    path("data-quality/", views.data_quality, name="data_quality"),
    path("<int:pk>/", views.opportunity_detail, name="detail"),
    path("<int:pk>/edit/", views.opportunity_edit, name="edit"),
    path("<int:pk>/move/", views.opportunity_move, name="move"),
    path("<int:pk>/activities/", views.opportunity_log_activity, name="log_activity"),
    path("<int:pk>/contact-roles/", views.opportunity_add_contact_role, name="add_contact_role"),
    path(
        "<int:pk>/contact-roles/<int:role_pk>/remove/",
        views.opportunity_remove_contact_role,
        name="remove_contact_role",
    ),
]

# Mounted under /setup/ by the root urls, in the "setup" namespace with the other set-up pages.
setup_urlpatterns = [
    path("processes/stages/<int:pk>/remap/", setup_views.setup_stage_remap, name="stage_remap"),
    path("price-book/", setup_views.setup_price_book, name="price_book"),
]

# The 360° page and a contact's page (its deal roles) read deals, so they live here; the shell
# mounts them in the accounts namespace (``accounts:detail`` at /accounts/<id>/,
# ``accounts:contact`` at /accounts/contacts/<id>/) beside the accounts app's own pages.
account_urlpatterns = [
    path("<int:pk>/", customer_views.account_detail, name="detail"),
    path("<int:pk>/activities/", customer_views.activity_create, name="activity_create"),
    # The 360°'s sections below the fold, loaded by htmx when they scroll into view, and its
    # "show all" list of the group's accounts: each checks access itself.
    path("<int:pk>/360/activities/", customer_views.account_activities, name="360_activities"),
    path("<int:pk>/360/situations/", customer_views.account_situations, name="360_situations"),
    path("<int:pk>/360/plan/", customer_views.account_plan, name="360_plan"),
    path("<int:pk>/360/contacts/", customer_views.account_contacts, name="360_contacts"),
    path("<int:pk>/companies/", customer_views.group_accounts, name="group_accounts"),
    path("contacts/<int:pk>/", contact_views.contact_detail, name="contact"),
]

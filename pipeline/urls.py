"""Pages of lead management (``pipeline:``) and the process set-up (joined into ``setup:``)."""

from __future__ import annotations

from django.urls import path

from pipeline import views

app_name = "pipeline"

urlpatterns = [
    path("leads/", views.lead_list, name="lead_list"),
    path("leads/new/", views.lead_create, name="lead_create"),
    path("leads/<int:pk>/", views.lead_detail, name="lead_detail"),
    path("leads/<int:pk>/qualify/", views.lead_qualify, name="lead_qualify"),
    path("leads/<int:pk>/disqualify/", views.lead_disqualify, name="lead_disqualify"),
    path("leads/<int:pk>/assign/", views.lead_assign, name="lead_assign"),
    path("leads/<int:pk>/convert/", views.lead_convert, name="lead_convert"),
    path("campaigns/", views.campaign_list, name="campaign_list"),
    path("campaigns/new/", views.campaign_create, name="campaign_create"),
    path("campaigns/<int:pk>/", views.campaign_detail, name="campaign_detail"),
    path("campaigns/<int:pk>/members.csv", views.campaign_export, name="campaign_export"),
]

# Mounted under /setup/ by crm/urls.py, in the "setup" namespace with the kernel's set-up pages.
setup_urlpatterns = [
    path("stages/", views.setup_stages, name="stages"),
    path("stages/<int:pk>/edit/", views.setup_stage_edit, name="stage_edit"),
    path("processes/", views.setup_processes, name="processes"),
    path("processes/new/", views.setup_process_create, name="process_create"),
    path("processes/stages/<int:pk>/remap/", views.setup_stage_remap, name="stage_remap"),
    path("agreements/", views.setup_agreements, name="agreements"),
    path("teams/", views.setup_teams, name="teams"),
    path("teams/<int:pk>/", views.setup_team, name="team"),
    path("teams/members/<int:pk>/remove/", views.setup_team_member_remove, name="team_remove"),
]

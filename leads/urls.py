"""Pages of lead management (``leads:``): the leads inbox, the hand-over and campaigns."""

from __future__ import annotations

from django.urls import path

from leads import views

app_name = "leads"

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
    path("accounts/<int:pk>/marketing/", views.account_marketing, name="account_marketing"),
    path(
        "accounts/<int:pk>/marketing/pause/",
        views.account_marketing_pause,
        name="account_marketing_pause",
    ),
    path(
        "accounts/<int:pk>/marketing/pauses/<int:pause>/end/",
        views.account_marketing_end,
        name="account_marketing_end",
    ),
]

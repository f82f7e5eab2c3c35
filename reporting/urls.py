from __future__ import annotations

from django.urls import path

from reporting import segment_views, views

app_name = "reporting"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("targets/", views.targets, name="targets"),
    path("segments/", segment_views.segments, name="segments"),
    path("campaigns/<int:pk>/figures/", views.campaign_figures, name="campaign_figures"),
    path("exports/", views.export_list, name="exports"),
    path("exports/<uuid:uuid>/", views.export_detail, name="export_detail"),
    path("exports/<uuid:uuid>/status/", views.export_status, name="export_status"),
    path("exports/<uuid:uuid>/download/", views.export_download, name="export_download"),
]

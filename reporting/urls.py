from __future__ import annotations

from django.urls import path

from reporting import deviation_views, segment_views, views

app_name = "reporting"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("targets/", views.targets, name="targets"),
    path("segments/", segment_views.segments, name="segments"),
    path("campaigns/<int:pk>/figures/", views.campaign_figures, name="campaign_figures"),
    path("alerts/", deviation_views.alert_list, name="alerts"),
    path("alerts/<int:pk>/acknowledge/", deviation_views.alert_acknowledge, name="alert_ack"),
    path("exports/", views.export_list, name="exports"),
    path("exports/<uuid:uuid>/", views.export_detail, name="export_detail"),
    path("exports/<uuid:uuid>/status/", views.export_status, name="export_status"),
    path("exports/<uuid:uuid>/download/", views.export_download, name="export_download"),
]

# Mounted under /setup/ by the shell (meridian/urls.py), in its ``setup`` namespace.
setup_urlpatterns = [
    path("deviation-alerts/", deviation_views.deviation_settings, name="deviation_alerts"),
]

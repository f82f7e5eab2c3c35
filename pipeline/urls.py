"""Pages of the process set-up, joined into the ``setup:`` namespace by the root urls."""

from __future__ import annotations

from django.urls import path

from pipeline import views

# Mounted under /setup/ by the root urls, in the "setup" namespace with the other set-up pages.
setup_urlpatterns = [
    path("stages/", views.setup_stages, name="stages"),
    path("stages/<int:pk>/edit/", views.setup_stage_edit, name="stage_edit"),
    path("processes/", views.setup_processes, name="processes"),
    path("processes/new/", views.setup_process_create, name="process_create"),
]

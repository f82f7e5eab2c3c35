from django.urls import path

from privacy import views

app_name = "privacy"

urlpatterns = [
    path("retention/", views.retention, name="retention"),
    path("<str:kind>/<int:pk>/", views.person_data, name="person"),
    path("<str:kind>/<int:pk>/erase/", views.person_erase, name="erase"),
]

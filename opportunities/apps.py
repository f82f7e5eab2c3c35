from django.apps import AppConfig


class OpportunitiesConfig(AppConfig):
    name = "opportunities"
    default_auto_field = "django.db.models.BigAutoField"

from django.apps import AppConfig


class LeadsConfig(AppConfig):
    name = "leads"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The app's visibility policies register themselves with the kernel's registry.
        from leads import policies  # noqa: F401

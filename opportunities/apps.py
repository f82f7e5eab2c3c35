from django.apps import AppConfig


class OpportunitiesConfig(AppConfig):
    name = "opportunities"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The app's visibility policies register themselves with the kernel's registry.
        from opportunities import policies  # noqa: F401

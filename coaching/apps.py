from django.apps import AppConfig


class CoachingConfig(AppConfig):
    name = "coaching"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The app's visibility policies register themselves with the kernel's registry.
        from coaching import policies  # noqa: F401

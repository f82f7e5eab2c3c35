from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The app's visibility policies register themselves with the kernel's registry.
        from accounts import policies  # noqa: F401

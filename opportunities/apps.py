from django.apps import AppConfig


class OpportunitiesConfig(AppConfig):
    name = "opportunities"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The app's visibility policies register themselves with the kernel's registry.
        # Linking an account into a group (or out of one) re-runs the group's conflict check.
        from accounts.signals import account_regrouped
        from opportunities import policies  # noqa: F401
        from opportunities.tasks import on_account_regrouped

        account_regrouped.connect(on_account_regrouped, dispatch_uid="meridian-regrouped")

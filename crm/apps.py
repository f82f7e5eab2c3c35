from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = "Meridian kernel"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        import crm.db.lookups  # noqa: F401  (registers __any_of)
        from crm.rls import on_post_migrate

        post_migrate.connect(on_post_migrate, dispatch_uid="meridian-rls")

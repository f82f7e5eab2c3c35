from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = "Meridian kernel"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        import crm.db.lookups  # noqa: F401  (registers __any_of)
        from crm.composite_keys import on_post_migrate as sync_composite_keys
        from crm.rls import on_post_migrate

        post_migrate.connect(on_post_migrate, dispatch_uid="meridian-rls")
        post_migrate.connect(sync_composite_keys, dispatch_uid="meridian-composite-keys")

        # A password change or deactivation revokes the user's API tokens, on every path.
        from django.db.models.signals import post_save, pre_save

        from crm.models import User
        from crm.signals import remember_credential_change, revoke_tokens_after_credential_change

        pre_save.connect(remember_credential_change, sender=User, dispatch_uid="meridian-cred")
        post_save.connect(
            revoke_tokens_after_credential_change, sender=User, dispatch_uid="meridian-cred"
        )

        # A new session starts active (the idle timeout counts from the sign-in).
        from django.contrib.auth.signals import user_logged_in

        from crm.middleware import SessionIdleTimeoutMiddleware

        user_logged_in.connect(
            SessionIdleTimeoutMiddleware.note_sign_in, dispatch_uid="meridian-idle"
        )
        from crm.identity import remember_session_org

        user_logged_in.connect(remember_session_org, dispatch_uid="meridian-session-org")

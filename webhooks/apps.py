from __future__ import annotations

from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from crm.events import domain_event
        from webhooks.events import on_domain_event

        domain_event.connect(on_domain_event, dispatch_uid="webhooks.on_domain_event")

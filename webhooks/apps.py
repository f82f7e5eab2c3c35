from __future__ import annotations

from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from crm.events import domain_event, domain_events
        from webhooks.events import on_domain_event, on_domain_events

        domain_event.connect(on_domain_event, dispatch_uid="webhooks.on_domain_event")
        domain_events.connect(on_domain_events, dispatch_uid="webhooks.on_domain_events")

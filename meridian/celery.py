"""The Celery app. Broker and backend come from REDIS_URL (see settings); without it tasks run
eagerly in-process, so `make run` needs no Redis."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "meridian.settings")

app = Celery("meridian")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

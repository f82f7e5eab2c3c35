from django.apps import AppConfig


class MeridianConfig(AppConfig):
    """The project shell: settings, root urls, the Celery app and the pages that join the apps."""

    name = "meridian"

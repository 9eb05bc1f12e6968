from django.apps import AppConfig


class ObservabilityConfig(AppConfig):
    name = "marketplace.observability"
    label = "observability"

    def ready(self) -> None:
        # Connects the Celery signals that carry the request id into tasks and count their runs,
        # in web processes (publishing) and workers (running) alike.
        from marketplace.observability import task_signals  # noqa: F401

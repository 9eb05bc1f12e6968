from django.apps import AppConfig


class OutboxConfig(AppConfig):
    name = "marketplace.outbox"
    label = "outbox"
    verbose_name = "Task outbox"

    def ready(self) -> None:
        from marketplace.observability.collector import register_gauge
        from marketplace.outbox.relay import outbox_lag_seconds

        register_gauge(
            "marketplace_outbox_lag_seconds",
            "Age of the oldest task message not yet published to the broker (0 when none).",
            outbox_lag_seconds,
        )

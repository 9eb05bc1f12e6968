from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    label = "notifications"

    def ready(self) -> None:
        # The outbox writer runs inside every audited change's transaction (audit knows no
        # listener by name; see marketplace.audit.listeners).
        from marketplace.audit.listeners import listen
        from notifications.outbox import outbox_on_audit_event

        listen(outbox_on_audit_event)

from django.contrib import admin

from notifications.models import Delivery, Event, NotificationPreference, WebhookEndpoint


@admin.register(Event)
class EventAdmin(admin.ModelAdmin[Event]):
    list_display = ["public_id", "type", "organization", "created_at", "relayed_at"]
    list_filter = ["type"]
    search_fields = ["public_id"]


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin[WebhookEndpoint]):
    list_display = ["id", "organization", "url", "active", "consecutive_failures", "disabled_at"]
    list_filter = ["active"]
    exclude = ["secret", "previous_secret"]


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin[Delivery]):
    list_display = ["id", "event", "endpoint", "user", "status", "attempts", "next_attempt_at"]
    list_filter = ["status"]


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(admin.ModelAdmin[NotificationPreference]):
    list_display = ["user", "email"]

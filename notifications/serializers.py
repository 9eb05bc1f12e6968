"""HTTP shapes of webhooks, deliveries and e-mail preferences (API.md "Events, webhooks")."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from notifications.catalog import EVENT_TYPES
from notifications.models import Delivery, WebhookEndpoint

_TYPES = sorted(EVENT_TYPES)


class WebhookSerializer(serializers.ModelSerializer[WebhookEndpoint]):
    event_types = serializers.ListField(child=serializers.ChoiceField(choices=_TYPES))

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "url",
            "event_types",
            "active",
            "created_at",
            "updated_at",
            "disabled_at",
            "consecutive_failures",
        ]
        read_only_fields = fields


class WebhookCreatedSerializer(WebhookSerializer):
    secret = serializers.CharField(help_text="`whsec_` + base64 key; shown only here.")

    class Meta(WebhookSerializer.Meta):
        fields = [*WebhookSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class WebhookCreateSerializer(serializers.Serializer[dict[str, Any]]):
    url = serializers.CharField(max_length=2000)
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=_TYPES), allow_empty=False, max_length=len(_TYPES)
    )
    active = serializers.BooleanField(required=False, default=True)


class WebhookUpdateSerializer(serializers.Serializer[dict[str, Any]]):
    url = serializers.CharField(max_length=2000, required=False)
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=_TYPES),
        allow_empty=False,
        max_length=len(_TYPES),
        required=False,
    )
    active = serializers.BooleanField(required=False)


class SecretSerializer(serializers.Serializer[dict[str, Any]]):
    secret = serializers.CharField()


class DeliverySerializer(serializers.ModelSerializer[Delivery]):
    event_id = serializers.CharField(source="event.public_id")
    event_type = serializers.CharField(source="event.type")

    class Meta:
        model = Delivery
        fields = [
            "id",
            "event_id",
            "event_type",
            "status",
            "attempts",
            "response_status",
            "latency_ms",
            "last_error",
            "next_attempt_at",
            "delivered_at",
            "created_at",
        ]
        read_only_fields = fields


class PreferenceSerializer(serializers.Serializer[dict[str, Any]]):
    email = serializers.EmailField(
        allow_blank=True, required=False, help_text="Empty: the account's address."
    )
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=_TYPES), max_length=len(_TYPES)
    )

"""Response shapes of the audit API (built as dicts where not from an AuditEvent)."""

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from marketplace.audit.models import AuditEvent


class ActorSerializer(serializers.Serializer[dict[str, Any]]):
    user = serializers.CharField(allow_null=True, help_text="Username, or null for the system.")
    user_id = serializers.IntegerField(allow_null=True)
    organization = serializers.IntegerField(allow_null=True, help_text="Organisation id.")
    organization_name = serializers.CharField(allow_blank=True)


class AuditEventSerializer(serializers.ModelSerializer[AuditEvent]):
    actor = serializers.SerializerMethodField()

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "stream",
            "sequence",
            "occurred_at",
            "actor",
            "action",
            "object_type",
            "object_id",
            "data",
            "hash",
            "prev_hash",
        ]

    @extend_schema_field(ActorSerializer)
    def get_actor(self, event: AuditEvent) -> dict[str, Any]:
        return {
            "user": event.actor_username or None,
            "user_id": event.actor_user_id,
            "organization": event.actor_organization_id,
            "organization_name": event.actor_organization_name,
        }


class InvalidEventSerializer(serializers.Serializer[dict[str, Any]]):
    stream = serializers.CharField()
    sequence = serializers.IntegerField()
    event_id = serializers.IntegerField()
    reason = serializers.CharField()


class VerifySerializer(serializers.Serializer[dict[str, Any]]):
    valid = serializers.BooleanField()
    events_checked = serializers.IntegerField()
    streams_checked = serializers.IntegerField()
    first_invalid = InvalidEventSerializer(required=False)

import django_filters

from marketplace.audit.models import AuditEvent
from marketplace.common.filters import UtcDateTimeFilter


class AuditEventFilter(django_filters.FilterSet):
    action = django_filters.CharFilter(help_text="Exact action, e.g. `organization.approved`.")
    action_prefix = django_filters.CharFilter(
        field_name="action", lookup_expr="startswith", help_text="e.g. `organization.`"
    )
    object_type = django_filters.CharFilter()
    object_id = django_filters.CharFilter()
    stream = django_filters.CharFilter()
    organization = django_filters.NumberFilter(
        field_name="actor_organization_id", help_text="Acting organisation id."
    )
    user = django_filters.NumberFilter(field_name="actor_user_id", help_text="Acting user id.")
    occurred_after = UtcDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = UtcDateTimeFilter(field_name="occurred_at", lookup_expr="lt")

    class Meta:
        model = AuditEvent
        fields: list[str] = []

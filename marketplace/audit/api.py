"""Audit log for compliance: list with filters, CSV export, chain verification."""

from __future__ import annotations

import json
from typing import Any

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from marketplace.audit import selectors
from marketplace.audit.filters import AuditEventFilter
from marketplace.audit.models import AuditEvent
from marketplace.audit.serializers import AuditEventSerializer, VerifySerializer
from marketplace.common.csv import streaming_csv_response
from marketplace.common.permissions import IsPlatform
from marketplace.common.schema import problems

CSV_HEADER = [
    "id",
    "stream",
    "sequence",
    "occurred_at",
    "actor_user_id",
    "actor_username",
    "actor_organization_id",
    "actor_organization_name",
    "action",
    "object_type",
    "object_id",
    "data",
    "hash",
    "prev_hash",
]

FORMAT_PARAM = OpenApiParameter(
    "format",
    OpenApiTypes.STR,
    enum=["json", "csv"],
    description="`csv` streams every matching event (no pagination).",
)


class AuditEventViewSet(mixins.ListModelMixin, viewsets.GenericViewSet[AuditEvent]):
    """Compliance officers and platform admins read the whole log."""

    serializer_class = AuditEventSerializer
    permission_classes = [IsPlatform]
    filterset_class = AuditEventFilter
    ordering_fields = ["id", "occurred_at", "sequence"]
    ordering = ["id"]

    def get_queryset(self) -> QuerySet[AuditEvent]:
        return selectors.audit_event_list()

    @extend_schema(
        summary="List audit events",
        parameters=[FORMAT_PARAM],
        responses={200: AuditEventSerializer(many=True), **problems(400, 401, 403)},
    )
    def list(  # type: ignore[override]  # also answers CSV, a streaming response
        self, request: Request, *args: Any, **kwargs: Any
    ) -> Response | StreamingHttpResponse:
        if request.query_params.get("format") == "csv":
            events = self.filter_queryset(self.get_queryset())
            rows = (
                [
                    e.id,
                    e.stream,
                    e.sequence,
                    e.occurred_at.isoformat(),
                    e.actor_user_id,
                    e.actor_username,
                    e.actor_organization_id,
                    e.actor_organization_name,
                    e.action,
                    e.object_type,
                    e.object_id,
                    json.dumps(e.data, sort_keys=True),
                    e.hash,
                    e.prev_hash,
                ]
                for e in events.iterator(chunk_size=2000)
            )
            return streaming_csv_response("audit-events.csv", CSV_HEADER, rows)
        return super().list(request, *args, **kwargs)

    @extend_schema(
        summary="Verify every hash chain",
        filters=False,
        parameters=[OpenApiParameter("stream", OpenApiTypes.STR, description="Only this stream.")],
        responses={200: VerifySerializer, **problems(401, 403)},
    )
    @action(detail=False, methods=["get"], filterset_class=None, pagination_class=None)
    def verify(self, request: Request) -> Response:
        result = selectors.audit_verify(stream=request.query_params.get("stream") or None)
        return Response(result.as_dict())

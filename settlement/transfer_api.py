"""HTTP endpoints of the transfer registry and of each transfer's loan schedule (read only:
transfers are written by the worker, ``settlement.transfers.loans_transfer``)."""

from __future__ import annotations

from typing import Any, cast

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from listings import services as listing_services
from listings.models import Loan
from listings.ownership import transfer_loans, transfer_schedule_csv
from marketplace.accounts.requests import request_user
from marketplace.common.csv import streaming_csv_response
from marketplace.common.schema import problems
from settlement.models import Transfer
from settlement.transfer_filters import TransferFilter
from settlement.transfer_selectors import transfer_visible_to
from settlement.transfer_serializers import (
    TRANSFER_CSV_HEADER,
    ScheduleLoanSerializer,
    TransferSerializer,
    transfer_csv_row,
)


def _format_param(what: str) -> OpenApiParameter:
    return OpenApiParameter(
        "format",
        OpenApiTypes.STR,
        enum=["json", "csv"],
        description=f"`csv` streams every {what} (no pagination).",
    )


@extend_schema_view(
    retrieve=extend_schema(
        summary="One transfer-registry record (parties, platform)",
        responses={200: TransferSerializer, **problems(401, 404)},
    ),
)
class TransferViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Transfer]
):
    """The transfer registry: what a compliance officer files with the regulator."""

    serializer_class = TransferSerializer
    filterset_class = TransferFilter
    ordering_fields = ["transferred_at", "id"]
    ordering = ["-id"]

    def get_queryset(self) -> QuerySet[Transfer]:
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return Transfer.objects.none()
        return transfer_visible_to(user=request_user(self.request))

    @extend_schema(
        summary="Transfer registry: platform all, parties their own",
        parameters=[_format_param("matching transfer")],
        responses={200: TransferSerializer(many=True), **problems(400, 401)},
    )
    def list(  # type: ignore[override]  # also answers CSV, a streaming response
        self, request: Request, *args: Any, **kwargs: Any
    ) -> Response | StreamingHttpResponse:
        if request.query_params.get("format") == "csv":
            transfers = self.filter_queryset(self.get_queryset())
            rows = (transfer_csv_row(t) for t in transfers.iterator(chunk_size=2000))
            return streaming_csv_response("transfers.csv", TRANSFER_CSV_HEADER, rows)
        return super().list(request, *args, **kwargs)

    @extend_schema(
        summary="The loan schedule of a transfer, ordered by loan_id (parties, platform)",
        parameters=[_format_param("loan of the transfer")],
        filters=False,
        responses={200: ScheduleLoanSerializer(many=True), **problems(401, 404)},
    )
    @action(detail=True, methods=["get"], filter_backends=[], filterset_class=None)
    def loans(self, request: Request, pk: str | None = None) -> Response | StreamingHttpResponse:
        transfer = self.get_object()
        if request.query_params.get("format") == "csv":
            self._record_access(transfer, row_count=transfer.loan_count, export=True)
            response = StreamingHttpResponse(
                transfer_schedule_csv(transfer_id=transfer.pk),
                content_type="text/csv; charset=utf-8",
            )
            name = f"transfer-{transfer.pk}-loan-schedule.csv"
            response["Content-Disposition"] = f'attachment; filename="{name}"'
            return response
        # This action pages Loan rows; DRF's types bind a viewset to one model.
        loans_view = cast("GenericAPIView[Loan]", self)
        page = loans_view.paginate_queryset(transfer_loans(transfer_id=transfer.pk))
        assert page is not None  # DEFAULT_PAGINATION_CLASS is set
        self._record_access(transfer, row_count=len(page), export=False)
        return self.get_paginated_response(ScheduleLoanSerializer(page, many=True).data)

    def _record_access(self, transfer: Transfer, *, row_count: int, export: bool) -> None:
        # Loan-level rows, like the data room's: every view and export is an audit event.
        listing_services.data_room_record_access(
            actor=request_user(self.request),
            package=transfer.package,
            filters={"transfer": transfer.pk},
            row_count=row_count,
            export=export,
        )

"""HTTP endpoints of settlement: the settlements, payment and the offer to the runner-up."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from marketplace.accounts.requests import request_user
from marketplace.common.codes import ErrorCode as CommonCode
from marketplace.common.errors import NotFound
from marketplace.common.permissions import IsDisposalOfficer, IsPlatform
from marketplace.common.schema import problems
from settlement import selectors
from settlement.codes import ErrorCode
from settlement.filters import SettlementFilter
from settlement.models import Settlement
from settlement.payments import settlement_confirm_payment
from settlement.runner_up import settlement_offer_runner_up
from settlement.serializers import ConfirmPaymentSerializer, SettlementSerializer


@extend_schema_view(
    list=extend_schema(
        summary="Settlements: platform all, parties their own",
        responses={200: SettlementSerializer(many=True), **problems(400, 401)},
    ),
    retrieve=extend_schema(
        summary="Settlement detail (parties, platform)",
        responses={200: SettlementSerializer, **problems(401, 404)},
    ),
)
class SettlementViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Settlement]
):
    serializer_class = SettlementSerializer
    filterset_class = SettlementFilter
    ordering_fields = ["due_at", "created_at", "id"]
    ordering = ["-id"]

    def get_queryset(self) -> QuerySet[Settlement]:
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return Settlement.objects.none()
        return selectors.settlement_visible_to(user=request_user(self.request))

    def get_permissions(self) -> list[BasePermission]:
        if self.action == "confirm_payment":
            return [IsPlatform()]
        if self.action == "offer_runner_up":
            return [IsDisposalOfficer()]  # the seller's organisation is checked by the service
        return [IsAuthenticated()]

    def _settlement_id(self) -> int:
        """The id in the path, of a settlement the caller may see (404 otherwise)."""
        try:
            settlement_id = int(self.kwargs["pk"])
        except (ValueError, TypeError) as exc:
            raise NotFound("No such settlement.") from exc
        if not self.get_queryset().filter(pk=settlement_id).exists():
            raise NotFound("No such settlement.")
        return settlement_id

    def _representation(self, settlement_id: int) -> dict[str, object]:
        return dict(SettlementSerializer(self.get_queryset().get(pk=settlement_id)).data)

    @extend_schema(
        summary="Confirm the buyer's payment of the balance due (platform): -> paid",
        description=(
            "`amount` must equal `balance_due` exactly, else 409 `amount_mismatch` with "
            "`expected_amount`; the transfer of ownership is enqueued once the payment commits."
        ),
        request=ConfirmPaymentSerializer,
        responses={
            200: SettlementSerializer,
            **problems(
                400,
                401,
                403,
                404,
                409,
                codes={409: [ErrorCode.AMOUNT_MISMATCH, CommonCode.INVALID_STATE]},
            ),
        },
    )
    @action(detail=True, methods=["post"], url_path="confirm-payment", filterset_class=None)
    def confirm_payment(self, request: Request, pk: str | None = None) -> Response:
        settlement_id = self._settlement_id()
        data = ConfirmPaymentSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        settlement_confirm_payment(
            actor=request_user(request),
            settlement_id=settlement_id,
            amount=data.validated_data["amount"],
            reference=data.validated_data["reference"],
        )
        return Response(self._representation(settlement_id))

    @extend_schema(
        summary="Offer a defaulted sale to the runner-up (the seller): a new settlement",
        request=None,
        responses={
            201: SettlementSerializer,
            **problems(
                401,
                403,
                404,
                409,
                codes={409: [ErrorCode.NO_RUNNER_UP, CommonCode.INVALID_STATE]},
            ),
        },
    )
    @action(detail=True, methods=["post"], url_path="offer-runner-up", filterset_class=None)
    def offer_runner_up(self, request: Request, pk: str | None = None) -> Response:
        settlement_id = self._settlement_id()
        offer = settlement_offer_runner_up(actor=request_user(request), settlement_id=settlement_id)
        return Response(self._representation(offer.pk), status=status.HTTP_201_CREATED)

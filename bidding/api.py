"""HTTP endpoints of bidding: auctions, registrations, deposits and bids."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from bidding import selectors
from bidding.codes import ErrorCode
from bidding.filters import AuctionFilter
from bidding.models import Auction, Registration
from bidding.serializers import (
    AuctionCreateSerializer,
    AuctionSerializer,
    BidCreateSerializer,
    BidListItemSerializer,
    BidSerializer,
    RegistrationCreateSerializer,
    RegistrationSerializer,
)
from bidding.services.auctions import AuctionTerms, auction_create
from bidding.services.bids import bid_place
from bidding.services.closing import auction_cancel
from bidding.services.registrations import (
    registration_confirm_deposit,
    registration_create,
)
from listings.selectors import package_visible_to
from marketplace.accounts.models import User
from marketplace.accounts.requests import request_user
from marketplace.common import ratelimit
from marketplace.common.errors import NotFound
from marketplace.common.permissions import (
    COMPLIANCE_OFFICER,
    DISPOSAL_OFFICER,
    HasRole,
    IsBidder,
    IsDisposalOfficer,
    IsPlatform,
)
from marketplace.common.schema import problems
from marketplace.observability import metrics

if TYPE_CHECKING:
    # What DRF's stubs call a permission instance (anything with has_permission).
    from rest_framework.permissions import _SupportsHasPermission

BID_ERRORS = problems(
    400,
    401,
    403,
    404,
    409,
    429,
    429,
    codes={
        400: ["invalid_value"],
        403: [
            ErrorCode.NOT_REGISTERED,
            ErrorCode.DEPOSIT_NOT_CONFIRMED,
            ErrorCode.BUYER_NOT_ELIGIBLE,
        ],
        409: [ErrorCode.AUCTION_NOT_OPEN, ErrorCode.BID_TOO_LOW, ErrorCode.ALREADY_LEADING],
    },
)


def auction_representation(
    auction: Auction, user: User, registration: Registration | object | None = selectors.LOOK_UP
) -> dict[str, Any]:
    view = selectors.auction_view(user=user, auction=auction, registration=registration)
    out = AuctionSerializer(view).data
    if "reserve_price" not in view:
        out.pop("reserve_price")  # never shown to buyers
    return out


@extend_schema_view(
    list=extend_schema(
        summary="List auctions of packages the caller may see",
        responses={200: AuctionSerializer(many=True), **problems(400, 401)},
    ),
    retrieve=extend_schema(
        summary="Auction detail, as the caller may see it",
        responses={200: AuctionSerializer, **problems(401, 404)},
    ),
)
class AuctionViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Auction]
):
    # The actions answer a per-caller dict (selectors.auction_view), never the bare model; this
    # serializer describes it to the schema and the browsable API.
    serializer_class = AuctionSerializer  # type: ignore[assignment]
    filterset_class = AuctionFilter
    ordering_fields = ["ends_at", "starts_at", "created_at", "id"]
    ordering = ["ends_at", "id"]

    def get_queryset(self) -> QuerySet[Auction]:
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return Auction.objects.none()
        return selectors.auction_visible_to(user=request_user(self.request))

    def get_permissions(self) -> Sequence[_SupportsHasPermission]:
        # Every role rule is declared here, before any lookup, so that an idempotent replay
        # (marketplace.common.idempotency) checks it too; services check the organisation.
        if self.action == "create":
            return [IsDisposalOfficer()]
        if self.action == "cancel":
            return [HasRole.of(DISPOSAL_OFFICER, COMPLIANCE_OFFICER)()]
        if self.action in {"bids", "registrations"} and self.request.method == "POST":
            return [IsBidder()]
        return super().get_permissions()

    def _auction(self) -> Auction:
        try:
            return self.get_queryset().get(pk=int(self.kwargs["pk"]))
        except (Auction.DoesNotExist, ValueError, TypeError) as exc:
            raise NotFound("No such auction.") from exc

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        assert page is not None  # DEFAULT_PAGINATION_CLASS is set
        user = request_user(request)
        registrations = selectors.registrations_of_caller(user=user, auctions=page)
        return self.get_paginated_response(
            [auction_representation(a, user, registrations.get(a.pk)) for a in page]
        )

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(auction_representation(self._auction(), request_user(request)))

    @extend_schema(
        summary="Put an approved package up for auction (its seller)",
        request=AuctionCreateSerializer,
        responses={201: AuctionSerializer, **problems(400, 401, 403, 404, 409)},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = AuctionCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        package_id = values.pop("package")
        user = request_user(request)
        if not package_visible_to(user=user).filter(pk=package_id).exists():
            raise NotFound("No such package.")
        auction = auction_create(actor=user, package_id=package_id, terms=AuctionTerms(**values))
        auction = self.get_queryset().get(pk=auction.pk)
        return Response(auction_representation(auction, user), status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Cancel before close (seller or compliance); deposits released",
        request=None,
        responses={200: AuctionSerializer, **problems(401, 403, 404, 409)},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        auction = self._auction()
        user = request_user(request)
        auction_cancel(actor=user, auction_id=auction.pk)
        return Response(auction_representation(self._auction(), user))

    @extend_schema(
        methods=["GET"],
        summary="Registrations: all (seller, platform), own (buyer)",
        responses={200: RegistrationSerializer(many=True), **problems(401, 404)},
    )
    @extend_schema(
        methods=["POST"],
        summary="Register (bidder): accept the NDA",
        request=RegistrationCreateSerializer,
        responses={
            201: RegistrationSerializer,
            **problems(
                400,
                401,
                403,
                404,
                409,
                codes={
                    403: [ErrorCode.BUYER_NOT_ELIGIBLE],
                    409: [ErrorCode.AUCTION_NOT_OPEN, "invalid_state"],
                },
            ),
        },
    )
    @action(detail=True, methods=["get", "post"], filterset_class=None)
    def registrations(self, request: Request, pk: str | None = None) -> Response:
        auction = self._auction()
        if request.method == "GET":
            registrations = selectors.registrations_visible_to(
                user=request_user(request), auction=auction
            )
            # This action pages Registration rows; DRF's types bind a viewset to one model.
            page = cast("GenericAPIView[Registration]", self).paginate_queryset(registrations)
            return self.get_paginated_response(RegistrationSerializer(page, many=True).data)
        data = RegistrationCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        registration = registration_create(
            actor=request_user(request),
            auction_id=auction.pk,
            accept_nda=data.validated_data["accept_nda"],
        )
        registration = Registration.objects.select_related("buyer").get(pk=registration.pk)
        return Response(RegistrationSerializer(registration).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        methods=["GET"],
        summary="Bids, as the caller may see them",
        responses={200: BidListItemSerializer(many=True), **problems(401, 403, 404)},
    )
    @extend_schema(
        methods=["POST"],
        summary="Place a bid (bidder with an approved registration)",
        request=BidCreateSerializer,
        responses={201: BidSerializer, **BID_ERRORS},
    )
    @action(detail=True, methods=["get", "post"], filterset_class=None)
    def bids(self, request: Request, pk: str | None = None) -> Response:
        if request.method == "POST":
            # The hot path: bid_place reads what it needs itself (an auction open for bids is
            # public, and only registered buyers may bid), so no visibility query runs first.
            ratelimit.check(ratelimit.BIDS, str(request_user(request).pk))
            data = BidCreateSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            try:
                auction_id = int(self.kwargs["pk"])  # as _auction reads it
            except (TypeError, ValueError) as exc:
                raise NotFound("No such auction.") from exc
            bid = bid_place(
                actor=request_user(request),
                auction_id=auction_id,
                amount=data.validated_data["amount"],
            )
            return Response(BidSerializer(bid).data, status=status.HTTP_201_CREATED)
        auction = self._auction()
        rows = selectors.bids_visible_to(user=request_user(request), auction=auction)
        page = self.paginate_queryset(rows)
        # many=True takes the page's list of rows; DRF's stubs type a Serializer's instance as one.
        items = BidListItemSerializer(page, many=True)  # type: ignore[arg-type]
        return self.get_paginated_response(items.data)

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        if self.action == "bids" and request.method == "POST":
            metrics.bid_answered(response)  # accepted, or refused with its code
        return super().finalize_response(request, response, *args, **kwargs)


class ConfirmDepositView(APIView):
    permission_classes = [IsPlatform]

    @extend_schema(
        summary="Confirm a buyer's deposit (platform): pending_deposit -> approved",
        request=None,
        responses={200: RegistrationSerializer, **problems(401, 403, 404, 409)},
    )
    def post(self, request: Request, pk: int) -> Response:
        registration = registration_confirm_deposit(actor=request_user(request), registration_id=pk)
        registration = Registration.objects.select_related("buyer").get(pk=registration.pk)
        return Response(RegistrationSerializer(registration).data)

"""Ledger API: entries and balances (scoped: the platform sees all, organisations their own),
and the verification for compliance."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, mixins, viewsets
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from marketplace.accounts.models import User
from marketplace.common.permissions import IsPlatform
from marketplace.common.schema import problems
from marketplace.ledger import selectors
from marketplace.ledger.filters import BalanceFilter, EntryFilter
from marketplace.ledger.models import AccountKind, Entry
from marketplace.ledger.serializers import (
    BalanceSerializer,
    EntrySerializer,
    LedgerVerifySerializer,
)
from marketplace.ledger.verify import ledger_verify

BALANCE_PARAMETERS = [
    OpenApiParameter("organization", OpenApiTypes.INT, description="Organisation id."),
    OpenApiParameter("account", OpenApiTypes.STR, enum=AccountKind.values, description="Kind."),
    OpenApiParameter("currency", OpenApiTypes.STR, description="ISO 4217 code."),
]


def _visible_entries(request: Request) -> QuerySet[Entry]:
    user = request.user
    assert isinstance(user, User)  # IsAuthenticated ran first
    return selectors.entry_visible_to(user=user)


class EntryViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Entry]
):
    """Ledger entries: the platform sees every organisation's, others only their own (another
    organisation's entry is a 404, as if it did not exist)."""

    serializer_class = EntrySerializer
    permission_classes = [IsAuthenticated]
    filterset_class = EntryFilter
    ordering_fields = ["id", "created_at"]
    ordering = ["id"]

    def get_queryset(self) -> QuerySet[Entry]:
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return Entry.objects.none()
        return _visible_entries(self.request)

    @extend_schema(
        summary="Ledger entries: platform all, organisations their own",
        responses={200: EntrySerializer(many=True), **problems(400, 401)},
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(
        summary="One ledger entry (platform, or the entry's organisation)",
        responses={200: EntrySerializer, **problems(401, 404)},
    )
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().retrieve(request, *args, **kwargs)


class BalanceView(generics.GenericAPIView[Entry]):
    """Account balances: the platform sees every organisation's, others only their own. A
    plain list (one row per organisation, account and currency), not paginated."""

    permission_classes = [IsAuthenticated]
    filterset_class = BalanceFilter
    filter_backends = [DjangoFilterBackend]
    pagination_class = None

    def get_queryset(self) -> QuerySet[Entry]:
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return Entry.objects.none()
        return _visible_entries(self.request)

    @extend_schema(
        summary="Ledger balances: platform all, organisations their own",
        filters=False,
        parameters=BALANCE_PARAMETERS,
        responses={200: BalanceSerializer(many=True), **problems(400, 401)},
    )
    def get(self, request: Request) -> Response:
        rows = selectors.balance_list(entries=self.filter_queryset(self.get_queryset()))
        return Response([BalanceSerializer(row).data for row in rows])


class LedgerVerifyView(APIView):
    """Compliance and platform admins prove the ledger balances."""

    permission_classes = [IsPlatform]

    @extend_schema(
        summary="Verify the ledger",
        responses={200: LedgerVerifySerializer, **problems(401, 403)},
    )
    def get(self, request: Request) -> Response:
        return Response(LedgerVerifySerializer(ledger_verify().as_dict()).data)

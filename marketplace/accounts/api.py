"""HTTP endpoints for tokens, the caller, organisations and their members."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.contrib.auth import authenticate
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.authentication import BaseAuthentication
from rest_framework.decorators import action
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from marketplace.accounts import selectors, services
from marketplace.accounts.login_guard import login_guarded
from marketplace.accounts.models import Organization
from marketplace.accounts.requests import request_token, request_user
from marketplace.accounts.serializers import (
    MemberCreateSerializer,
    MemberSerializer,
    MeSerializer,
    OrganizationCreateSerializer,
    OrganizationSerializer,
    ReasonSerializer,
    TokenRequestSerializer,
    TokenResponseSerializer,
)
from marketplace.common.permissions import IsCompliance, IsPlatform, IsPlatformAdmin
from marketplace.common.schema import READ_ERRORS, problems


class TokenView(APIView):
    """Exchange a username and password for an API token (expiring, stored hashed)."""

    authentication_classes: Sequence[type[BaseAuthentication]] = []
    permission_classes = [AllowAny]

    @extend_schema(
        request=TokenRequestSerializer,
        responses={200: TokenResponseSerializer, **problems(400, 401, 429, 503)},
        auth=[],
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        data = TokenRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        username, password = data.validated_data["username"], data.validated_data["password"]
        # Limited per address and username, with a bounded lockout (login_guard).
        user = login_guarded(
            request, username, lambda: authenticate(request, username=username, password=password)
        )
        if user is None or not user.is_active or user.organization_id is None:
            raise AuthenticationFailed("Invalid username or password.")
        token, secret = services.token_issue(user=user)
        return Response({"token": secret, "expires_at": token.expiry}, status=status.HTTP_200_OK)

    def get_authenticate_header(self, request: Request) -> str:
        return "Token"


class LogoutView(APIView):
    """Revoke the token that authenticated this request."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={204: None, **problems(401)}, tags=["auth"])
    def post(self, request: Request) -> Response:
        services.token_revoke(user=request_user(request), token=request_token(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    """The caller: username, role and organisation."""

    @extend_schema(responses={200: MeSerializer, **problems(401)}, tags=["auth"])
    def get(self, request: Request) -> Response:
        return Response(MeSerializer(request_user(request)).data)


@extend_schema_view(
    list=extend_schema(
        summary="List organisations (platform users)",
        responses={200: OrganizationSerializer(many=True), **problems(401, 403)},
    ),
    retrieve=extend_schema(
        summary="Organisation detail (platform users, or one's own)",
        responses={200: OrganizationSerializer, **problems(*READ_ERRORS)},
    ),
    create=extend_schema(
        summary="Create an organisation (platform users)",
        request=OrganizationCreateSerializer,
        responses={201: OrganizationSerializer, **problems(400, 401, 403)},
    ),
)
class OrganizationViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet[Organization],
):
    serializer_class = OrganizationSerializer
    filterset_fields = ["kind", "eligibility", "licence_type"]
    ordering_fields = ["id", "name", "created_at"]

    def get_queryset(self) -> QuerySet[Organization]:
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return Organization.objects.none()
        return selectors.organization_visible_to(user=request_user(self.request))

    def get_permissions(self) -> list[BasePermission]:
        if self.action in {"list", "create"}:
            return [IsPlatform()]
        if self.action == "members":
            return [IsPlatformAdmin()]
        if self.action in {"approve", "reject", "suspend"}:
            return [IsCompliance()]
        return [IsAuthenticated()]

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = OrganizationCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        org = services.organization_create(actor=request_user(request), **data.validated_data)
        return Response(OrganizationSerializer(org).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Create a user in this organisation (platform_admin)",
        request=MemberCreateSerializer,
        responses={201: MemberSerializer, **problems(400, 401, 403, 404)},
    )
    @action(detail=True, methods=["post"])
    def members(self, request: Request, pk: str | None = None) -> Response:
        org = self.get_object()
        data = MemberCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.member_create(
            actor=request_user(request), organization_id=org.pk, **data.validated_data
        )
        return Response(MemberSerializer(user).data, status=status.HTTP_201_CREATED)

    def _transition(self, request: Request, service: Callable[..., Organization]) -> Response:
        org = self.get_object()
        data = ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        org = service(
            actor=request_user(request),
            organization_id=org.pk,
            reason=data.validated_data["reason"],
        )
        return Response(OrganizationSerializer(org).data)

    @extend_schema(
        summary="Approve a buyer (compliance): pending|suspended -> approved",
        request=ReasonSerializer,
        responses={200: OrganizationSerializer, **problems(400, 401, 403, 404, 409)},
    )
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str | None = None) -> Response:
        return self._transition(request, services.organization_approve)

    @extend_schema(
        summary="Reject a buyer (compliance): pending -> rejected",
        request=ReasonSerializer,
        responses={200: OrganizationSerializer, **problems(400, 401, 403, 404, 409)},
    )
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str | None = None) -> Response:
        return self._transition(request, services.organization_reject)

    @extend_schema(
        summary="Suspend a buyer (compliance): approved -> suspended",
        request=ReasonSerializer,
        responses={200: OrganizationSerializer, **problems(400, 401, 403, 404, 409)},
    )
    @action(detail=True, methods=["post"])
    def suspend(self, request: Request, pk: str | None = None) -> Response:
        return self._transition(request, services.organization_suspend)

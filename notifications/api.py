"""HTTP endpoints of notifications: an organisation's webhook endpoints and their deliveries
(API.md "Events, webhooks, live stream"), and a user's e-mail preferences."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from marketplace.accounts.models import Eligibility
from marketplace.accounts.requests import request_user
from marketplace.common.errors import NotFound
from marketplace.common.schema import problems
from notifications import selectors
from notifications.codes import ErrorCode
from notifications.models import Delivery, WebhookEndpoint
from notifications.serializers import (
    DeliverySerializer,
    PreferenceSerializer,
    SecretSerializer,
    WebhookCreatedSerializer,
    WebhookCreateSerializer,
    WebhookSerializer,
    WebhookUpdateSerializer,
)
from notifications.services import preferences, webhooks


class OfApprovedOrganization(BasePermission):
    """Any user of an approved organisation (API.md: webhooks are for one's own organisation)."""

    message = "Only users of an approved organisation manage webhooks."

    def has_permission(self, request: Request, view: APIView) -> bool:
        organization = getattr(request.user, "organization", None)
        return organization is not None and organization.eligibility == Eligibility.APPROVED


_WRITE = problems(400, 401, 403, 404, codes={400: [ErrorCode.INVALID_URL]})


@extend_schema_view(
    list=extend_schema(
        summary="The organisation's webhook endpoints (never their secrets)",
        responses={200: WebhookSerializer(many=True), **problems(401, 403)},
    ),
    retrieve=extend_schema(
        summary="One webhook endpoint",
        responses={200: WebhookSerializer, **problems(401, 403, 404)},
    ),
    create=extend_schema(
        summary="Add a webhook endpoint; its signing secret is in this answer only",
        request=WebhookCreateSerializer,
        responses={
            201: WebhookCreatedSerializer,
            **problems(400, 401, 403, codes={400: [ErrorCode.INVALID_URL]}),
        },
    ),
    partial_update=extend_schema(
        summary="Change url, event_types or active (active again resets the failure count)",
        request=WebhookUpdateSerializer,
        responses={200: WebhookSerializer, **_WRITE},
    ),
    destroy=extend_schema(
        summary="Delete a webhook endpoint", responses={204: None, **problems(401, 403, 404)}
    ),
)
class WebhookViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet[WebhookEndpoint],
):
    serializer_class = WebhookSerializer
    filter_backends: list[type] = []
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_permissions(self) -> list[BasePermission]:
        return [IsAuthenticated(), OfApprovedOrganization()]

    def get_queryset(self) -> QuerySet[WebhookEndpoint]:
        if getattr(self, "swagger_fake_view", False):
            return WebhookEndpoint.objects.none()
        return selectors.webhook_visible_to(user=request_user(self.request))

    def _endpoint_id(self) -> int:
        try:
            endpoint_id = int(self.kwargs["pk"])
        except (TypeError, ValueError) as exc:
            raise NotFound("No such webhook endpoint.") from exc
        if not self.get_queryset().filter(pk=endpoint_id).exists():
            raise NotFound("No such webhook endpoint.")
        return endpoint_id

    def create(self, request: Request, *args: object, **kwargs: object) -> Response:
        serializer = WebhookCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint, secret = webhooks.webhook_create(
            actor=request_user(request), **serializer.validated_data
        )
        body = WebhookCreatedSerializer(endpoint).data
        return Response({**body, "secret": secret}, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args: object, **kwargs: object) -> Response:
        endpoint_id = self._endpoint_id()
        serializer = WebhookUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = webhooks.webhook_update(
            actor=request_user(request),
            endpoint_id=endpoint_id,
            changes=dict(serializer.validated_data),
        )
        return Response(WebhookSerializer(endpoint).data)

    def destroy(self, request: Request, *args: object, **kwargs: object) -> Response:
        webhooks.webhook_delete(actor=request_user(request), endpoint_id=self._endpoint_id())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="A new signing secret; the old one also signs for 24 hours",
        request=None,
        responses={200: SecretSerializer, **problems(401, 403, 404)},
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request: Request, pk: str | None = None) -> Response:
        secret = webhooks.webhook_rotate_secret(
            actor=request_user(request), endpoint_id=self._endpoint_id()
        )
        return Response({"secret": secret})

    @extend_schema(
        summary="Delivery attempts of this endpoint, newest first",
        responses={200: DeliverySerializer(many=True), **problems(401, 403, 404)},
    )
    @action(detail=True, methods=["get"])
    def deliveries(self, request: Request, pk: str | None = None) -> Response:
        endpoint_id = self._endpoint_id()
        queryset: QuerySet[Delivery] = selectors.delivery_of_endpoint(
            user=request_user(request), endpoint_id=endpoint_id
        )
        # The view's model is the endpoint; this page is of its deliveries.
        page: list[Delivery] | None = self.paginate_queryset(queryset)  # type: ignore[arg-type]
        data = DeliverySerializer(page if page is not None else queryset, many=True).data
        return self.get_paginated_response(data) if page is not None else Response(data)

    @extend_schema(
        summary="Send a delivery's event again (same event id)",
        request=None,
        responses={202: None, **problems(401, 403, 404)},
    )
    @action(
        detail=True,
        methods=["post"],
        url_path=r"deliveries/(?P<delivery_id>[^/.]+)/redeliver",
    )
    def redeliver(self, request: Request, pk: str | None = None, delivery_id: str = "") -> Response:
        endpoint_id = self._endpoint_id()
        try:
            delivery = int(delivery_id)
        except ValueError as exc:
            raise NotFound("No such delivery.") from exc
        webhooks.delivery_redeliver(
            actor=request_user(request), endpoint_id=endpoint_id, delivery_id=delivery
        )
        return Response(status=status.HTTP_202_ACCEPTED)


class NotificationPreferenceView(APIView):
    """The caller's e-mail address for notifications and the event types it receives there."""

    @extend_schema(responses={200: PreferenceSerializer, **problems(401)}, tags=["me"])
    def get(self, request: Request) -> Response:
        email, types = preferences.preference_of(request_user(request))
        return Response({"email": email, "event_types": types})

    @extend_schema(
        request=PreferenceSerializer,
        responses={200: PreferenceSerializer, **problems(400, 401)},
        tags=["me"],
    )
    def put(self, request: Request) -> Response:
        serializer = PreferenceSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        email, types = preferences.preference_set(
            user=request_user(request),
            email=serializer.validated_data.get("email"),
            event_types=serializer.validated_data["event_types"],
        )
        return Response({"email": email, "event_types": types})

"""Liveness and readiness probes."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class HealthzView(APIView):
    """The process is alive."""

    authentication_classes: Sequence[type[BaseAuthentication]] = []
    permission_classes = [AllowAny]

    @extend_schema(
        auth=[],
        tags=["health"],
        responses={200: inline_serializer("Health", {"status": serializers.CharField()})},
    )
    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})


def _check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # any failure means not ready
        return f"{type(exc).__name__}: {exc}"
    return None


def _check_broker() -> str | None:
    import redis
    from django.conf import settings

    try:
        client = redis.Redis.from_url(
            settings.CELERY_BROKER_URL, socket_connect_timeout=2, socket_timeout=2
        )
        client.ping()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


class ReadyzView(APIView):
    """The database and the broker are reachable: 200, else 503 with what failed."""

    authentication_classes: Sequence[type[BaseAuthentication]] = []
    permission_classes = [AllowAny]

    @extend_schema(
        auth=[],
        tags=["health"],
        responses={
            200: inline_serializer(
                "Readiness",
                {
                    "status": serializers.CharField(),
                    "checks": serializers.DictField(child=serializers.CharField()),
                },
            ),
            503: inline_serializer(
                "NotReady",
                {
                    "status": serializers.CharField(),
                    "checks": serializers.DictField(child=serializers.CharField()),
                },
            ),
        },
    )
    def get(self, request: Request) -> Response:
        checks = {"database": _check_database(), "broker": _check_broker()}
        ready = all(v is None for v in checks.values())
        return Response(
            {
                "status": "ok" if ready else "unavailable",
                "checks": {k: v or "ok" for k, v in checks.items()},
            },
            status=200 if ready else 503,
        )

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
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    try:
        # No retries: redis-py's default retries a refused connection for seconds.
        client = redis.Redis.from_url(
            settings.CELERY_BROKER_URL,
            socket_connect_timeout=2,
            socket_timeout=2,
            retry=Retry(NoBackoff(), 0),
        )
        client.ping()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _outbox_lag() -> float | None:
    from marketplace.outbox.relay import outbox_lag_seconds

    try:
        return round(outbox_lag_seconds(), 3)
    except Exception:
        return None


class ReadyzView(APIView):
    """The database and the broker are reachable: 200, else 503 with what failed. Also says
    how old the oldest message waiting in the task outbox is (seconds; null if unknown)."""

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
                    "outbox_lag_seconds": serializers.FloatField(allow_null=True),
                },
            ),
            503: inline_serializer(
                "NotReady",
                {
                    "status": serializers.CharField(),
                    "checks": serializers.DictField(child=serializers.CharField()),
                    "outbox_lag_seconds": serializers.FloatField(allow_null=True),
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
                "outbox_lag_seconds": _outbox_lag() if checks["database"] is None else None,
            },
            status=200 if ready else 503,
        )

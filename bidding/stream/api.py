"""What the sync web server (gunicorn) answers on the stream's path.

The stream itself is served by the ASGI process (``bidding.stream.app``); a sync worker would be
held for as long as a stream stays open. Here the caller is authenticated and the auction found
as on the stream (401, 404), then told where the stream is served: 421 ``stream_not_served_here``
with ``stream_url``, at once, so the path never holds a worker.
"""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from bidding.errors import StreamNotServedHere
from bidding.selectors import auction_visible_to
from marketplace.accounts.requests import request_user
from marketplace.common.errors import NotFound
from marketplace.common.schema import ProblemSerializer, problems

_EVENT_STREAM = (
    'Server-Sent Events (API.md "Live stream"): `price`, `extended` and `closed` messages, '
    "each with `id:` (for `Last-Event-ID`), `event:` and `data:` (JSON); a comment line every "
    "15 s. Served by the ASGI process; 204 when a reconnecting client already has the final "
    "message."
)


class AuctionStreamView(APIView):
    @extend_schema(
        summary="Live stream of the auction (Server-Sent Events)",
        parameters=[
            OpenApiParameter(
                name="Last-Event-ID",
                location=OpenApiParameter.HEADER,
                required=False,
                type=int,
                description="The id of the last message received: resume after it.",
            )
        ],
        responses={
            (200, "text/event-stream"): OpenApiResponse(
                OpenApiTypes.STR, description=_EVENT_STREAM
            ),
            204: OpenApiResponse(description="The stream has ended: stop reconnecting."),
            **problems(400, 401, 404),
            (421, "application/problem+json"): OpenApiResponse(
                ProblemSerializer,
                description="Asked of the sync web server: `stream_not_served_here`; the "
                "member stream_url says where the stream is served.",
            ),
        },
    )
    def get(self, request: Request, pk: int) -> Response:
        user = request_user(request)
        if not auction_visible_to(user=user).filter(pk=pk).exists():
            raise NotFound("No such auction.")
        base = settings.STREAM_URL or request.build_absolute_uri("/").rstrip("/")
        raise StreamNotServedHere(extra={"stream_url": f"{base}{request.path}"})

"""Refuse oversized request bodies before anything reads them."""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

from marketplace.common.errors import problem_response


class RequestSizeLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return problem_response(400, "validation_error", "Invalid Content-Length header.")
        if length > settings.MAX_REQUEST_BYTES:
            return problem_response(
                413,
                "payload_too_large",
                f"The request body is {length} bytes; the limit is {settings.MAX_REQUEST_BYTES}.",
            )
        return self.get_response(request)

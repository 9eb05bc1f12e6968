"""Refuse oversized request bodies before anything reads them (413 problem+json)."""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

from marketplace.common.codes import ErrorCode
from marketplace.common.errors import problem


class RequestSizeLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return problem(ErrorCode.VALIDATION_ERROR, "Invalid Content-Length header.")
        limit = _limit_for(request)
        if length > limit:
            return problem(
                ErrorCode.PAYLOAD_TOO_LARGE,
                f"The request body is {length} bytes; the limit is {limit}.",
            )
        return self.get_response(request)


def _limit_for(request: HttpRequest) -> int:
    """Uploads (multipart: files are streamed to disk) may be as large as MAX_REQUEST_BYTES; any
    other body is read into memory, up to DATA_UPLOAD_MAX_MEMORY_SIZE (Django's own limit, which
    it enforces while reading with a 400: refused here first, with a 413)."""
    if request.META.get("CONTENT_TYPE", "").startswith("multipart/form-data"):
        return int(settings.MAX_REQUEST_BYTES)
    return min(int(settings.MAX_REQUEST_BYTES), int(settings.DATA_UPLOAD_MAX_MEMORY_SIZE))

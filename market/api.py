"""HTTP endpoints of market data: the price index, a package's valuation and its risk."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from bidding.models import Registration, RegistrationStatus
from listings import selectors as listing_selectors
from listings.models import Package
from market import index
from market.codes import ErrorCode
from market.serializers import PriceIndexSerializer, RiskSerializer, ValuationSerializer
from market.valuation import package_valuation
from marketplace.accounts.models import Eligibility, OrganizationKind, User
from marketplace.accounts.requests import request_user
from marketplace.common.csv import streaming_csv_response
from marketplace.common.errors import Forbidden, NotFound, ValidationFailed
from marketplace.common.permissions import is_platform
from marketplace.common.schema import problems

INDEX_PARAMETERS = [
    OpenApiParameter(
        "group_by",
        OpenApiTypes.STR,
        description="Comma-separated, one or more of " + ", ".join(index.GROUP_COLUMNS),
    ),
    OpenApiParameter("quarter_from", OpenApiTypes.STR, description="e.g. 2025Q1 (inclusive)"),
    OpenApiParameter("quarter_to", OpenApiTypes.STR, description="e.g. 2026Q2 (inclusive)"),
    OpenApiParameter("product_type", OpenApiTypes.STR, description="Deals of that segment."),
    OpenApiParameter("currency", OpenApiTypes.STR, description="ISO 4217: deals in it only."),
    OpenApiParameter("format", OpenApiTypes.STR, enum=["json", "csv"]),
]


def _require_approved(user: User) -> None:
    org = user.organization
    if org is None or org.eligibility != Eligibility.APPROVED:
        raise Forbidden("Market data is open to users of approved organisations.")


def _visible_package(user: User, pk: int) -> Package:
    try:
        return listing_selectors.package_get_visible(user=user, package_id=pk)
    except Package.DoesNotExist as exc:
        raise NotFound("No such package.") from exc


class PriceIndexView(APIView):
    @extend_schema(
        summary="Price index of completed sales (cells under 3 deals or 3 sellers suppressed)",
        parameters=INDEX_PARAMETERS,
        responses={200: PriceIndexSerializer, **problems(400, 401, 403)},
    )
    def get(self, request: Request) -> HttpResponseBase:
        _require_approved(request_user(request))
        params = request.query_params
        fmt = params.get("format", "json")
        query, errors = index.index_query_parse(params)
        if fmt not in ("json", "csv"):
            errors["format"] = ["json or csv"]
        if query is None or errors:
            raise ValidationFailed("Invalid price index parameters.", errors=errors)
        rows = index.price_index_cached(query)
        if fmt == "csv":
            header = [*query.group_by, "suppressed", *index.FIGURES]
            return streaming_csv_response(
                "price-index.csv", header, index.index_csv_rows(query.group_by, rows)
            )
        return Response(
            {
                "group_by": list(query.group_by),
                "minimum_deals": index.MIN_CELL_DEALS,
                "minimum_sellers": index.MIN_CELL_SELLERS,
                "results": rows,
            }
        )


def valuation_allowed(user: User, package: Package) -> bool:
    """Seller, platform, and approved buyers registered on an auction of the package."""
    if is_platform(user) or package.seller_id == user.organization_id:
        return True
    org = user.organization
    if org is None or org.kind != OrganizationKind.BUYER or org.eligibility != Eligibility.APPROVED:
        return False
    return (
        Registration.objects.filter(auction__package_id=package.pk, buyer_id=org.pk)
        .exclude(status=RegistrationStatus.WITHDRAWN)
        .exists()
    )


class ValuationView(APIView):
    @extend_schema(
        summary="Indicative valuation (seller, platform, registered buyers)",
        responses={
            200: ValuationSerializer,
            **problems(401, 403, 404, 409, codes={409: [ErrorCode.INSUFFICIENT_DATA]}),
        },
    )
    def get(self, request: Request, pk: int) -> Response:
        user = request_user(request)
        package = _visible_package(user, pk)
        if not valuation_allowed(user, package):
            raise Forbidden(
                "The valuation is open to the seller, the platform and registered buyers."
            )
        return Response(package_valuation(package=package))


# The answer before a tape is imported: every key of a computed report, no figure, no flag.
NO_RISK_YET: dict[str, Any] = {"flags": []} | dict.fromkeys(
    (
        "concentration",
        "vintage_spread_years",
        "share_over_5_years_overdue",
        "share_in_litigation_or_enforcement",
        "borrowers_in_other_packages",
        "data_quality",
        "computed_at",
    )
)


class RiskView(APIView):
    @extend_schema(
        summary="Risk signals computed at import (anyone who may see the package)",
        responses={200: RiskSerializer, **problems(401, 404)},
    )
    def get(self, request: Request, pk: int) -> Response:
        package = _visible_package(request_user(request), pk)
        risk: dict[str, Any] = package.risk or {}
        return Response(risk or NO_RISK_YET)

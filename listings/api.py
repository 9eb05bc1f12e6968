"""HTTP endpoints of listings: packages, loan tapes, disclosure and the data room."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from django.conf import settings
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from listings import selectors, services
from listings.codes import ErrorCode
from listings.filters import LoanFilter, PackageFilter
from listings.models import Loan, Package
from listings.serializers import (
    LOAN_FIELDS,
    LoanSerializer,
    LoanTapeImportSerializer,
    PackageApproveSerializer,
    PackageCreateSerializer,
    PackageRejectSerializer,
    PackageSerializer,
    PackageUpdateSerializer,
    StratificationSerializer,
    TapeAcceptedSerializer,
    TapeUploadSerializer,
)
from listings.services.packages import TapeTooLarge
from marketplace.accounts.requests import request_user
from marketplace.common import ratelimit
from marketplace.common.codes import ErrorCode as CommonCode
from marketplace.common.csv import streaming_csv_response
from marketplace.common.errors import Forbidden, NotFound
from marketplace.common.parsers import JSONParser
from marketplace.common.permissions import (
    IsCompliance,
    IsDisposalOfficer,
    is_platform,
)
from marketplace.common.schema import problems

if TYPE_CHECKING:
    # What DRF's stubs call a permission instance (anything with has_permission).
    from rest_framework.permissions import _SupportsHasPermission

ACTION_ERRORS = problems(400, 401, 403, 404, 409)


@extend_schema_view(
    list=extend_schema(
        summary="List packages visible to the caller",
        responses={200: PackageSerializer(many=True), **problems(400, 401)},
    ),
    retrieve=extend_schema(
        summary="Package summary", responses={200: PackageSerializer, **problems(401, 404)}
    ),
)
class PackageViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Package]
):
    serializer_class = PackageSerializer
    filterset_class = PackageFilter
    ordering_fields = ["created_at", "total_balance", "loan_count", "id"]
    ordering = ["-created_at", "-id"]
    http_method_names = ["get", "post", "patch", "head", "options"]
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    def get_queryset(self) -> QuerySet[Package]:
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            if self.action == "loans":  # the schema reads the loans filters off Loan
                return Loan.objects.none()  # type: ignore[return-value]  # schema only
            return Package.objects.none()
        return selectors.package_visible_to(user=request_user(self.request)).select_related(
            "latest_tape"
        )

    def get_permissions(self) -> Sequence[_SupportsHasPermission]:
        if self.action in {"create", "submit", "withdraw", "partial_update"}:
            return [IsDisposalOfficer()]
        if self.action == "loan_tape" and self.request.method == "POST":
            return [IsDisposalOfficer()]  # refused before the package is looked up, as above
        if self.action in {"approve", "reject"}:
            return [IsCompliance()]
        return super().get_permissions()

    def _package(self) -> Package:
        try:
            return selectors.package_get_visible(
                user=request_user(self.request), package_id=self.kwargs["pk"]
            )
        except (Package.DoesNotExist, ValueError, TypeError) as exc:
            raise NotFound("No such package.") from exc

    def get_object(self) -> Package:
        return self._package()

    @extend_schema(
        summary="Create a draft package (disposal officer of a bank)",
        request=PackageCreateSerializer,
        responses={201: PackageSerializer, **problems(400, 401, 403)},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = PackageCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        package = services.package_create(actor=request_user(request), **data.validated_data)
        return Response(PackageSerializer(package).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Edit a draft (seller)",
        request=PackageUpdateSerializer,
        responses={200: PackageSerializer, **ACTION_ERRORS},
    )
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        package = self._package()
        data = PackageUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        package = services.package_update(
            actor=request_user(request), package_id=package.pk, changes=data.validated_data
        )
        return Response(PackageSerializer(package).data)

    def _respond(self, package: Package) -> Response:
        package = self.get_queryset().get(pk=package.pk)
        return Response(PackageSerializer(package).data)

    @extend_schema(
        summary="Submit for compliance review (seller): draft -> pending_review",
        request=None,
        responses={200: PackageSerializer, **ACTION_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def submit(self, request: Request, pk: str | None = None) -> Response:
        package = self._package()
        return self._respond(
            services.package_submit(actor=request_user(request), package_id=package.pk)
        )

    @extend_schema(
        summary="Approve (compliance): pending_review -> approved",
        request=PackageApproveSerializer,
        responses={200: PackageSerializer, **ACTION_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str | None = None) -> Response:
        package = self._package()
        data = PackageApproveSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._respond(
            services.package_approve(
                actor=request_user(request), package_id=package.pk, note=data.validated_data["note"]
            )
        )

    @extend_schema(
        summary="Reject with a reason (compliance): pending_review -> draft",
        request=PackageRejectSerializer,
        responses={200: PackageSerializer, **ACTION_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str | None = None) -> Response:
        package = self._package()
        data = PackageRejectSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._respond(
            services.package_reject(
                actor=request_user(request),
                package_id=package.pk,
                reason=data.validated_data["reason"],
            )
        )

    @extend_schema(
        summary="Withdraw (seller): draft|pending_review|approved -> withdrawn",
        request=None,
        responses={200: PackageSerializer, **ACTION_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def withdraw(self, request: Request, pk: str | None = None) -> Response:
        package = self._package()
        return self._respond(
            services.package_withdraw(actor=request_user(request), package_id=package.pk)
        )

    @extend_schema(
        summary="Stratification tables",
        responses={200: StratificationSerializer, **problems(401, 404)},
    )
    @action(detail=True, methods=["get"], filterset_class=None, pagination_class=None)
    def stratification(self, request: Request, pk: str | None = None) -> Response:
        package = self._package()
        names = StratificationSerializer().fields.keys()
        empty: dict[str, list[Any]] = {name: [] for name in names}
        return Response(package.stratification or empty)

    @extend_schema(
        methods=["GET"],
        summary="Latest loan tape import (seller, platform)",
        responses={200: LoanTapeImportSerializer, **problems(401, 403, 404)},
    )
    @extend_schema(
        methods=["POST"],
        summary="Upload a loan tape (seller, draft only): CSV or XLSX",
        request={"multipart/form-data": TapeUploadSerializer},
        responses={
            202: TapeAcceptedSerializer,
            **problems(
                400,
                401,
                403,
                404,
                409,
                413,
                415,
                429,
                codes={
                    400: [ErrorCode.UNSUPPORTED_FILE_TYPE, "validation_error"],
                    413: [CommonCode.PAYLOAD_TOO_LARGE],
                },
            ),
        },
    )
    @action(
        detail=True,
        methods=["get", "post"],
        url_path="loan-tape",
        filterset_class=None,
        pagination_class=None,
    )
    def loan_tape(self, request: Request, pk: str | None = None) -> Response:
        package = self._package()
        user = request_user(request)
        is_seller = selectors.package_is_seller(user=user, package=package)
        if request.method == "GET":
            if not (is_seller or is_platform(user)):
                raise Forbidden("Only the seller and the platform see loan tape imports.")
            tape = selectors.loan_tape_latest(package=package)
            if tape is None:
                raise NotFound("No loan tape was uploaded for this package.")
            return Response(LoanTapeImportSerializer(tape).data)

        if not (is_seller and user.role == "disposal_officer"):
            raise Forbidden("Only the seller uploads its loan tape.")
        # Refused before the body is read; the service checks the stored file itself.
        if int(request.META.get("CONTENT_LENGTH") or 0) > settings.LOAN_TAPE_MAX_BYTES:
            raise TapeTooLarge()
        ratelimit.check(ratelimit.UPLOADS, str(user.organization_id))
        data = TapeUploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        tape = services.loan_tape_upload(
            actor=user, package_id=package.pk, upload=data.validated_data["file"]
        )
        return Response({"id": tape.pk, "status": tape.status}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="Loan-level rows (data room): seller, platform, registered buyers",
        parameters=[
            OpenApiParameter(
                "format",
                OpenApiTypes.STR,
                enum=["json", "csv"],
                description="`csv` streams every matching row.",
            ),
            OpenApiParameter(
                "owner",
                OpenApiTypes.STR,
                enum=["me"],
                description="Only loans the caller's organisation owns.",
            ),
        ],
        filters=True,
        responses={
            200: LoanSerializer(many=True),
            **problems(400, 401, 403, 404, codes={403: [ErrorCode.NDA_REQUIRED]}),
        },
    )
    @action(
        detail=True,
        methods=["get"],
        filterset_class=LoanFilter,
        filter_backends=[DjangoFilterBackend],
    )
    def loans(self, request: Request, pk: str | None = None) -> Response | StreamingHttpResponse:
        package = self._package()
        user = request_user(request)
        owner_me = request.query_params.get("owner") == "me"
        loans = selectors.data_room_loans(user=user, package=package, owner_me=owner_me)
        # This action filters and pages Loan rows; DRF's types bind a viewset to one model.
        loans_view = cast("GenericAPIView[Loan]", self)
        loans = loans_view.filter_queryset(loans)
        filters = {k: v for k, v in request.query_params.items() if k not in {"page"}}
        if request.query_params.get("format") == "csv":
            count = loans.count()
            services.data_room_record_access(
                actor=user, package=package, filters=filters, row_count=count, export=True
            )
            rows = (
                [loan.loan_id, loan.borrower_ref, *(getattr(loan, f) for f in LOAN_FIELDS[2:])]
                for loan in loans.iterator(chunk_size=5000)
            )
            return streaming_csv_response(f"package-{package.pk}-loans.csv", LOAN_FIELDS, rows)
        page = loans_view.paginate_queryset(loans)
        assert page is not None  # DEFAULT_PAGINATION_CLASS is set
        services.data_room_record_access(
            actor=user, package=package, filters=filters, row_count=len(page), export=False
        )
        return self.get_paginated_response(LoanSerializer(page, many=True).data)

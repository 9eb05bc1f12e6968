"""HTTP endpoints of settlement (read side; payment and transfer come with their issue)."""

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, viewsets

from marketplace.common.schema import problems
from settlement import selectors
from settlement.filters import SettlementFilter
from settlement.models import Settlement
from settlement.serializers import SettlementSerializer


@extend_schema_view(
    list=extend_schema(
        summary="Settlements: platform all, parties their own",
        responses={200: SettlementSerializer(many=True), **problems(400, 401)},
    ),
    retrieve=extend_schema(
        summary="Settlement detail (parties, platform)",
        responses={200: SettlementSerializer, **problems(401, 404)},
    ),
)
class SettlementViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = SettlementSerializer
    filterset_class = SettlementFilter
    ordering_fields = ["due_at", "created_at", "id"]
    ordering = ["-id"]

    def get_queryset(self) -> QuerySet[Settlement]:
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return Settlement.objects.none()
        return selectors.settlement_visible_to(user=self.request.user)

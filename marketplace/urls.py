"""URL map. The only module of the core that knows the domain apps."""

from pathlib import Path

import drf_spectacular_sidecar
from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path, re_path
from django.views.static import serve
from drf_spectacular.renderers import (
    OpenApiJsonRenderer,
    OpenApiJsonRenderer2,
    OpenApiYamlRenderer,
    OpenApiYamlRenderer2,
)
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from bidding.api import AuctionViewSet, ConfirmDepositView
from bidding.stream.api import AuctionStreamView
from listings.api import PackageViewSet
from marketplace.accounts.api import LogoutView, MeView, OrganizationViewSet, TokenView
from marketplace.audit.api import AuditEventViewSet
from marketplace.common.health import HealthzView, ReadyzView
from marketplace.ledger.api import BalanceView, EntryViewSet, LedgerVerifyView
from marketplace.observability.views import metrics_view
from notifications.api import NotificationPreferenceView, WebhookViewSet
from settlement.api import SettlementViewSet
from settlement.transfer_api import TransferViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
# No `.json` suffix twins of every route: the API is JSON, and each route is one matrix row.
router.include_format_suffixes = False
router.register("organizations", OrganizationViewSet, basename="organization")
router.register("audit-events", AuditEventViewSet, basename="audit-event")
router.register("packages", PackageViewSet, basename="package")
router.register("auctions", AuctionViewSet, basename="auction")
router.register("settlements", SettlementViewSet, basename="settlement")
router.register("transfers", TransferViewSet, basename="transfer")
router.register("ledger/entries", EntryViewSet, basename="ledger-entry")
router.register("webhooks", WebhookViewSet, basename="webhook")

api_v1: list[URLPattern | URLResolver] = [
    path("auth/token/", TokenView.as_view(), name="auth-token"),
    path("auth/logout/", LogoutView.as_view(), name="auth-logout"),
    path("me/", MeView.as_view(), name="me"),
    path(
        "me/notification-preferences/",
        NotificationPreferenceView.as_view(),
        name="me-notification-preferences",
    ),
    # JSON unless the client asks for YAML (Accept: application/yaml).
    path(
        "schema/",
        SpectacularAPIView.as_view(
            renderer_classes=[
                OpenApiJsonRenderer,
                OpenApiJsonRenderer2,
                OpenApiYamlRenderer,
                OpenApiYamlRenderer2,
            ]
        ),
        name="schema",
    ),
    path(
        "registrations/<int:pk>/confirm-deposit/",
        ConfirmDepositView.as_view(),
        name="registration-confirm-deposit",
    ),
    path("ledger/balances/", BalanceView.as_view(), name="ledger-balances"),
    path("ledger/verify/", LedgerVerifyView.as_view(), name="ledger-verify"),
    path("", include("market.urls")),
    # Served by the ASGI process (marketplace/asgi.py); gunicorn answers where it is.
    path("auctions/<int:pk>/stream/", AuctionStreamView.as_view(), name="auction-stream"),
    path("", include(router.urls)),
]

# Swagger UI's pinned files (drf-spectacular-sidecar, SWAGGER_UI_DIST="SIDECAR"), served here:
# production serves no other static files (Dockerfile), and the docs must not need a CDN.
SIDECAR_ROOT = Path(drf_spectacular_sidecar.__file__).parent / "static"

urlpatterns = [
    path("api/v1/", include(api_v1)),
    re_path(
        r"^static/(?P<path>drf_spectacular_sidecar/.+)$",
        serve,
        {"document_root": SIDECAR_ROOT},
        name="docs-assets",
    ),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("healthz", HealthzView.as_view(), name="healthz"),
    path("readyz", ReadyzView.as_view(), name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
]

handler400 = "marketplace.common.errors.handler400"
handler403 = "marketplace.common.errors.handler403"
handler404 = "marketplace.common.errors.handler404"
handler500 = "marketplace.common.errors.handler500"

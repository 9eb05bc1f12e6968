"""Demo organisations and users, created idempotently through the services (so, audited)."""

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from marketplace.accounts import services
from marketplace.accounts.models import Eligibility, Organization, User

DEMO_PASSWORD = "demo-pass-2026"  # noqa: S105  (published demo credentials, never production)

PLATFORM = (
    "NPL Marketplace",
    "platform",
    "",
    [("admin", "platform_admin"), ("compliance", "compliance_officer")],
)
# The market: personal NPL transfers by Chinese banks to asset management companies (AMCs).
# Every name is fictional.
ORGANIZATIONS = [
    ("Jinhai Commercial Bank", "bank", "", [("jinhai_officer", "disposal_officer")]),
    ("Yuxiu City Commercial Bank", "bank", "", [("yuxiu_officer", "disposal_officer")]),
    ("Tianheng Asset Management", "buyer", "national_amc", [("tianheng_bidder", "bidder")]),
    (
        "Lujiang Capital Partners",
        "buyer",
        "financial_investment_company",
        [("lujiang_bidder", "bidder")],
    ),
    ("Xijiang Local AMC", "buyer", "local_amc", [("xijiang_bidder", "bidder")]),
]
APPROVED_BUYERS = {"Tianheng Asset Management", "Lujiang Capital Partners"}


class Command(BaseCommand):
    help = "Create demo organisations and users (idempotent) and print their credentials."

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            platform, _, _ = services.platform_bootstrap(username="admin", password=DEMO_PASSWORD)
            self._members(platform, PLATFORM[3])
            compliance = User.objects.get(username="compliance")
            for name, kind, licence, members in ORGANIZATIONS:
                org = Organization.objects.filter(name=name).first()
                if org is None:
                    org = services.organization_create(
                        actor=None,
                        name=name,
                        kind=kind,
                        licence_type=licence,
                        registration_number=f"REG-{len(name):02d}{sum(map(ord, name)):06d}",
                    )
                self._members(org, members)
                if name in APPROVED_BUYERS and org.eligibility == Eligibility.PENDING:
                    services.organization_approve(
                        actor=compliance, organization_id=org.pk, reason="demo: licence verified"
                    )
        self.stdout.write(f"Demo users (password for all: {DEMO_PASSWORD})")
        for user in User.objects.select_related("organization").order_by("organization_id", "id"):
            if user.organization is None:
                continue
            org = user.organization
            self.stdout.write(
                f"  {user.username:<20} {user.role:<20} {org.name} ({org.kind}"
                + (f", {org.eligibility}" if org.kind == "buyer" else "")
                + ")"
            )

    def _members(self, org: Organization, members: list[tuple[str, str]]) -> None:
        for username, role in members:
            if not User.objects.filter(username=username).exists():
                services.member_create(
                    actor=None,
                    organization_id=org.pk,
                    username=username,
                    password=DEMO_PASSWORD,
                    role=role,
                )

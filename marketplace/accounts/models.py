"""Organisations and their users. One role per user; the organisation's kind bounds the role."""

from typing import ClassVar, Self, TypedDict

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models import Q


class OrganizationKind(models.TextChoices):
    BANK = "bank", "Bank (seller)"
    BUYER = "buyer", "Buyer (asset manager, investor)"
    PLATFORM = "platform", "Platform operator"


class LicenceType(models.TextChoices):
    NATIONAL_AMC = "national_amc", "National asset management company"
    LOCAL_AMC = "local_amc", "Local asset management company"
    FINANCIAL_INVESTMENT_COMPANY = "financial_investment_company", "Financial investment company"
    OTHER = "other", "Other"


class Eligibility(models.TextChoices):
    PENDING = "pending", "Pending review"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    SUSPENDED = "suspended", "Suspended"


# One eligibility transition: the eligibilities it leaves from, the one it leads to.
EligibilityRule = TypedDict("EligibilityRule", {"from": set[str], "to": str})

# Allowed eligibility transitions for buyer organisations (API.md): the one table services use.
ELIGIBILITY_TRANSITIONS: dict[str, EligibilityRule] = {
    "approve": {"from": {Eligibility.PENDING, Eligibility.SUSPENDED}, "to": Eligibility.APPROVED},
    "reject": {"from": {Eligibility.PENDING}, "to": Eligibility.REJECTED},
    "suspend": {"from": {Eligibility.APPROVED}, "to": Eligibility.SUSPENDED},
}


class Role(models.TextChoices):
    DISPOSAL_OFFICER = "disposal_officer", "Disposal officer (bank)"
    BIDDER = "bidder", "Bidder (buyer)"
    COMPLIANCE_OFFICER = "compliance_officer", "Compliance officer (platform)"
    PLATFORM_ADMIN = "platform_admin", "Platform administrator"


# Which roles each kind of organisation may have.
ROLES_BY_KIND: dict[str, set[str]] = {
    OrganizationKind.BANK: {Role.DISPOSAL_OFFICER},
    OrganizationKind.BUYER: {Role.BIDDER},
    OrganizationKind.PLATFORM: {Role.COMPLIANCE_OFFICER, Role.PLATFORM_ADMIN},
}


# The bound of a compliance decision's reason (ReasonSerializer's too).
REASON_MAX_LENGTH = 2_000


class Organization(models.Model):
    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=16, choices=OrganizationKind.choices)
    licence_type = models.CharField(max_length=32, choices=LicenceType.choices, blank=True)
    registration_number = models.CharField(max_length=64, blank=True)
    # Only buyers go through eligibility review; banks and the platform are approved on creation.
    eligibility = models.CharField(
        max_length=16, choices=Eligibility.choices, default=Eligibility.PENDING
    )
    eligibility_reason = models.CharField(max_length=REASON_MAX_LENGTH, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=OrganizationKind.values),
                name="%(app_label)s_%(class)s_kind_valid",
            ),
            models.CheckConstraint(
                condition=Q(eligibility__in=Eligibility.values),
                name="%(app_label)s_%(class)s_eligibility_valid",
            ),
            models.CheckConstraint(
                condition=Q(licence_type="") | Q(licence_type__in=LicenceType.values),
                name="%(app_label)s_%(class)s_licence_type_valid",
            ),
            models.CheckConstraint(
                condition=~Q(kind=OrganizationKind.BUYER) | ~Q(licence_type=""),
                name="%(app_label)s_%(class)s_buyer_has_licence",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    @property
    def is_platform(self) -> bool:
        return self.kind == OrganizationKind.PLATFORM


class User(AbstractUser):
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="members", null=True, blank=True
    )
    role = models.CharField(max_length=32, choices=Role.choices, blank=True)

    objects: ClassVar[UserManager[Self]] = UserManager()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(role="") | Q(role__in=Role.values),
                name="%(app_label)s_%(class)s_role_valid",
            ),
            # Every API user belongs to an organisation and has a role; only Django superusers
            # created from the shell may have neither.
            models.CheckConstraint(
                condition=Q(is_superuser=True) | (Q(organization__isnull=False) & ~Q(role="")),
                name="%(app_label)s_%(class)s_member_has_org_and_role",
            ),
        ]

    def __str__(self) -> str:
        return self.username

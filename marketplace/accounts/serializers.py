"""Request and response shapes of the accounts API.

Input serializers are ``Serializer[None]``: they validate data and are never bound to an
instance; response shapes built as dicts are ``Serializer[dict[str, Any]]``."""

from typing import Any

from rest_framework import serializers

from marketplace.accounts.models import (
    REASON_MAX_LENGTH,
    LicenceType,
    Organization,
    OrganizationKind,
    Role,
    User,
)


class TokenRequestSerializer(serializers.Serializer[None]):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=256, trim_whitespace=False)


class TokenResponseSerializer(serializers.Serializer[dict[str, Any]]):
    token = serializers.CharField()
    expires_at = serializers.DateTimeField()


class OrganizationRefSerializer(serializers.ModelSerializer[Organization]):
    class Meta:
        model = Organization
        fields = ["id", "name", "kind", "eligibility"]


class MeSerializer(serializers.ModelSerializer[User]):
    organization = OrganizationRefSerializer(allow_null=True)

    class Meta:
        model = User
        fields = ["id", "username", "role", "organization"]


class OrganizationSerializer(serializers.ModelSerializer[Organization]):
    class Meta:
        model = Organization
        fields = [
            "id",
            "name",
            "kind",
            "licence_type",
            "registration_number",
            "eligibility",
            "eligibility_reason",
            "created_at",
            "updated_at",
        ]


class OrganizationCreateSerializer(serializers.Serializer[None]):
    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=OrganizationKind.choices)
    licence_type = serializers.ChoiceField(
        choices=LicenceType.choices, required=False, allow_blank=True, default=""
    )
    registration_number = serializers.CharField(
        max_length=64, required=False, allow_blank=True, default=""
    )


class ReasonSerializer(serializers.Serializer[None]):
    reason = serializers.CharField(
        max_length=REASON_MAX_LENGTH, required=False, allow_blank=True, default=""
    )


class MemberCreateSerializer(serializers.Serializer[None]):
    username = serializers.RegexField(r"^[\w.@+-]+\Z", max_length=150)
    password = serializers.CharField(max_length=256, trim_whitespace=False, write_only=True)
    role = serializers.ChoiceField(choices=Role.choices)


class MemberSerializer(serializers.ModelSerializer[User]):
    class Meta:
        model = User
        fields = ["id", "username", "role", "organization", "date_joined"]

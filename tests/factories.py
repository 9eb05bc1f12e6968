"""factory_boy factories for the core models."""

import factory

from marketplace.accounts.models import Organization, User

PASSWORD = "correct-horse-battery"


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Organisation {n}")
    kind = "bank"
    licence_type = factory.LazyAttribute(lambda o: "national_amc" if o.kind == "buyer" else "")
    eligibility = factory.LazyAttribute(lambda o: "pending" if o.kind == "buyer" else "approved")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    organization = factory.SubFactory(OrganizationFactory)
    role = "disposal_officer"
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()

"""The code registry: every app's ErrorCode and AuditAction, each value declared once, the
generic codes' statuses declared once, and docs/CODES.md generated from it (issue 9)."""

from __future__ import annotations

import re
import types
from enum import StrEnum
from pathlib import Path

import pytest
from django.core.management import call_command

from marketplace.accounts import services as account_services
from marketplace.accounts.codes import AuditAction as AccountAction
from marketplace.accounts.models import ELIGIBILITY_TRANSITIONS
from marketplace.audit.models import AuditEvent
from marketplace.common import errors, registry, schema
from marketplace.common.codes import ERRORS, ErrorCode, ErrorSpec

CODES_MD = Path(__file__).resolve().parents[2] / "docs" / "CODES.md"


def _module(name: str, **attrs: object) -> types.ModuleType:
    module = types.ModuleType(name)
    for key, value in attrs.items():
        setattr(module, key, value)
    return module


def _app(app: str, *, codes: dict[str, str] | None = None, actions: dict[str, str] | None = None):
    attrs: dict[str, object] = {}
    if codes is not None:
        attrs["ErrorCode"] = StrEnum("ErrorCode", codes)
    if actions is not None:
        attrs["AuditAction"] = StrEnum("AuditAction", actions)
    return registry.read_module(app, _module(f"{app}.codes", **attrs))


# --------------------------------------------------------------------------- the project's


def test_registry_collects_every_installed_apps_codes_module():
    reg = registry.registry()

    assert reg.errors["invalid_state"].app == "marketplace.common"
    assert reg.errors["invalid_state"].statuses == (409,)
    assert reg.errors["idempotency_key_reused"].statuses == (422,)
    assert reg.actions["organization.approved"].app == "marketplace.accounts"
    assert {str(a) for a in AccountAction} <= set(reg.actions)
    assert {str(c) for c in ErrorCode} <= set(reg.errors)


def test_error_codes_table_is_derived_from_the_declarations():
    derived = {str(code): (spec.status, spec.detail) for code, spec in ERRORS.items()}
    assert derived == errors.ERROR_CODES
    assert set(ERRORS) == set(ErrorCode)  # every generic code has its status and detail


def test_generic_exceptions_take_status_and_detail_from_the_declaration():
    for cls, code in [
        (errors.ValidationFailed, ErrorCode.VALIDATION_ERROR),
        (errors.InvalidValue, ErrorCode.INVALID_VALUE),
        (errors.InvalidState, ErrorCode.INVALID_STATE),
        (errors.Forbidden, ErrorCode.PERMISSION_DENIED),
        (errors.NotFound, ErrorCode.NOT_FOUND),
    ]:
        assert (cls.code, cls.status_code, cls().detail) == (
            code,
            ERRORS[code].status,
            ERRORS[code].detail,
        )


def test_a_subclass_keeps_the_status_it_sets_itself():
    class Special(errors.DomainError):
        status_code = 418
        code = ErrorCode.NOT_FOUND

    assert Special.status_code == 418
    assert Special().detail == ERRORS[ErrorCode.NOT_FOUND].detail


def test_docs_codes_md_is_generated_from_the_registry():
    expected = registry.render_markdown(registry.registry())

    assert CODES_MD.read_text(encoding="utf-8") == expected, (
        "docs/CODES.md is out of date with the code registry: run `make docs`"
    )


def test_codes_command_writes_the_markdown(tmp_path, capsys):
    out = tmp_path / "CODES.md"

    call_command("codes", "--markdown", "--output", str(out))

    assert out.read_text(encoding="utf-8") == registry.render_markdown(registry.registry())


def test_schema_descriptions_list_the_generic_codes_of_each_status():
    assert schema.status_description(409) == (
        "Conflict (`invalid_state`, `idempotency_key_in_flight`, or a domain code)."
    )
    assert schema.status_description(403) == (
        "Authenticated but not allowed (`permission_denied` or a domain code)."
    )
    assert schema.status_description(401) == "No valid token (`not_authenticated`)."


@pytest.mark.django_db
@pytest.mark.parametrize("transition", sorted(ELIGIBILITY_TRANSITIONS))
def test_each_eligibility_transition_records_its_declared_action(transition, admin_user):
    rule = ELIGIBILITY_TRANSITIONS[transition]
    org = account_services.organization_create(
        actor=admin_user, name=f"Buyer {transition}", kind="buyer", licence_type="local_amc"
    )
    org.eligibility = next(iter(rule["from"]))
    org.save(update_fields=["eligibility"])

    getattr(account_services, f"organization_{transition}")(
        actor=admin_user, organization_id=org.pk
    )

    last = AuditEvent.objects.filter(object_type="organization", object_id=str(org.pk)).last()
    assert last is not None
    assert last.action in set(AccountAction)
    assert last.action == f"organization.{rule['to']}"


# --------------------------------------------------------------------------- the checks


def test_a_value_declared_by_two_apps_is_refused():
    first = _app("shop", codes={"SOLD_OUT": "sold_out"})
    second = _app("stock", codes={"SOLD_OUT": "sold_out"})

    with pytest.raises(registry.RegistryError, match="'sold_out' is declared by both shop"):
        registry.collect([first, second], {})


def test_an_action_declared_by_two_apps_is_refused():
    first = _app("shop", actions={"ORDER_PLACED": "order.placed"})
    second = _app("stock", actions={"PLACED": "order.placed"})

    with pytest.raises(registry.RegistryError, match=r"'order\.placed' is declared by both"):
        registry.collect([first, second], {})


def test_a_value_declared_twice_in_one_enum_is_refused():
    alias = StrEnum("ErrorCode", {"SOLD_OUT": "sold_out", "GONE": "sold_out"})

    with pytest.raises(registry.RegistryError, match="declares a value twice"):
        registry.read_module("shop", _module("shop.codes", ErrorCode=alias))


@pytest.mark.parametrize(
    ("codes", "actions"),
    [({"BAD": "Sold-Out"}, None), (None, {"BAD": "placed"}), (None, {"BAD": "Order.placed"})],
)
def test_values_out_of_format_are_refused(codes, actions):
    with pytest.raises(registry.RegistryError, match="does not match"):
        registry.collect([_app("shop", codes=codes, actions=actions)], {})


def test_a_code_is_described_by_its_spec_else_by_the_exceptions_raising_it():
    class SoldOut(errors.DomainError):
        status_code = 409
        code = "sold_out"
        default_detail = "Nothing left."

    specs = _app("shop", codes={"SOLD_OUT": "sold_out", "CLOSED": "closed", "ODD": "odd"})
    specs = registry.AppCodes(
        app="shop",
        error_codes=specs.error_codes,
        actions=(),
        specs={"closed": ErrorSpec(410, "The shop is closed.")},
    )

    reg = registry.collect([specs], {"sold_out": [SoldOut]})

    assert reg.errors["sold_out"].statuses == (409,)
    assert reg.errors["sold_out"].meaning == "Nothing left."
    assert reg.errors["closed"].statuses == (410,)
    assert reg.errors["odd"].statuses == ()


def test_the_system_check_reports_a_broken_registry(monkeypatch):
    def broken():
        raise registry.RegistryError("'x' is declared by both a and b")

    monkeypatch.setattr(registry, "registry", broken)

    (message,) = registry.check_codes()
    assert message.id == "common.E001"


@pytest.mark.django_db
def test_every_code_the_schema_lists_is_declared_or_raised(api):
    """The OpenAPI schema's problem responses name only codes that exist: declared in an app's
    codes.py, or at least set by an exception class (a typo in ``codes=`` would be neither)."""
    schema_json = api.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()
    known = set(registry.registry().errors) | set(registry.raisers())
    operations = [op for item in schema_json["paths"].values() for op in item.values()]
    responses = [
        response
        for operation in operations
        if isinstance(operation, dict)
        for response in operation.get("responses", {}).values()
        if "application/problem+json" in response.get("content", {})
    ]
    listed = {code for r in responses for code in re.findall(r"`([a-z_]+)`", r["description"])}

    assert {"invalid_state", "not_found", "idempotency_key_in_flight"} <= listed
    assert listed <= known, listed - known

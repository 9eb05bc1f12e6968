"""The listings registries keep the wire values of API.md and the audit log."""

from __future__ import annotations

from listings.codes import PACKAGE_TRANSITION_ACTIONS, AuditAction, ErrorCode
from listings.models import PACKAGE_TRANSITIONS
from marketplace.common.codes import ErrorCode as CommonCode

# Transitions with a service of their own, each recording its own past-tense action.
OWN_SERVICES = {"submit", "approve", "reject", "withdraw"}


def test_every_transition_driven_by_other_apps_records_its_dotted_name():
    driven = set(PACKAGE_TRANSITIONS) - OWN_SERVICES

    assert set(PACKAGE_TRANSITION_ACTIONS) == driven
    for name, action in PACKAGE_TRANSITION_ACTIONS.items():
        assert action == "package." + name  # the value recorded before the registry


def test_the_loan_tape_codes_of_api_md_are_declared():
    tape_codes = {
        "missing_column",
        "invalid_value",
        "duplicate_loan_id",
        "currency_mismatch",
        "date_after_cut_off",
        "pii_not_allowed",
        "invalid_encoding",
        "empty_tape",
        "unsupported_file_type",
        "invalid_file",
    }

    # invalid_value is common's (also the HTTP one), declared once; the rest are listings' own.
    assert tape_codes <= {code.value for code in ErrorCode} | {CommonCode.INVALID_VALUE.value}
    assert len({action.value for action in AuditAction}) == len(AuditAction)

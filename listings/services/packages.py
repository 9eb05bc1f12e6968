"""Package lifecycle: create, edit while draft, upload a tape, submit, review, withdraw, and the
transitions bidding and settlement drive. Each locks the package row and writes its audit event
in the same transaction."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from listings.codes import PACKAGE_TRANSITION_ACTIONS, AuditAction, ErrorCode
from listings.models import (
    PACKAGE_TRANSITIONS,
    LoanTapeImport,
    Package,
    PackageStatus,
    TapeStatus,
)
from listings.tape import reading
from marketplace.audit.services import record
from marketplace.common.codes import ErrorCode as CommonCode
from marketplace.common.errors import DomainError, Forbidden, InvalidState, ValidationFailed
from marketplace.common.transitions import transition_apply
from marketplace.outbox import services as outbox

if TYPE_CHECKING:
    from marketplace.accounts.models import User

EDITABLE_FIELDS = ("title", "description", "currency", "cut_off_date")
# By name: the task module imports these services.
IMPORT_TASK = "listings.loan_tape_import"


def _locked(package_id: int) -> Package:
    return Package.objects.select_for_update().get(pk=package_id)


def _transition(package: Package, name: str) -> str:
    return transition_apply(package, table=PACKAGE_TRANSITIONS, name=name, noun="a package")


def _validate_terms(currency: str | None, cut_off_date: dt.date | None) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if currency is not None and (
        len(currency) != 3 or not currency.isalpha() or not currency.isupper()
    ):
        errors["currency"] = ["Must be an ISO 4217 code such as EUR or KRW."]
    return errors


def package_create(
    *, actor: User, title: str, currency: str, cut_off_date: dt.date, description: str = ""
) -> Package:
    """A disposal officer's bank creates a draft package."""
    if actor.organization is None or actor.organization.kind != "bank":
        raise Forbidden("Only disposal officers of banks create packages.")
    errors = _validate_terms(currency, cut_off_date)
    if errors:
        raise ValidationFailed(next(iter(errors.values()))[0], errors=errors)
    with transaction.atomic():
        package = Package.objects.create(
            seller=actor.organization,
            created_by=actor,
            title=title.strip(),
            description=description or "",
            currency=currency,
            cut_off_date=cut_off_date,
        )
        record(
            action=AuditAction.PACKAGE_CREATED,
            object_type="package",
            object_id=package.pk,
            actor=actor,
            data={
                "title": package.title,
                "currency": currency,
                "cut_off_date": cut_off_date.isoformat(),
            },
        )
    return package


def package_update(*, actor: User, package_id: int, changes: dict[str, Any]) -> Package:
    """Edit a draft. Currency and cut-off date are fixed once a tape was imported against them
    (the tape was validated against them); upload the tape again after creating a new draft."""
    with transaction.atomic():
        package = _locked(package_id)
        if package.seller_id != actor.organization_id:
            raise Forbidden("Only the seller edits its package.")
        if package.status != PackageStatus.DRAFT:
            raise InvalidState(
                f"Only drafts can be edited; this package is {package.status}.",
                extra={"current_status": package.status},
            )
        changes = {k: v for k, v in changes.items() if k in EDITABLE_FIELDS}
        errors = _validate_terms(changes.get("currency"), changes.get("cut_off_date"))
        if errors:
            raise ValidationFailed(next(iter(errors.values()))[0], errors=errors)
        terms_changed = any(
            k in changes and changes[k] != getattr(package, k) for k in ("currency", "cut_off_date")
        )
        if terms_changed and package.latest_tape_id is not None:
            raise InvalidState(
                "currency and cut_off_date cannot change after a loan tape was uploaded, "
                "because the tape was validated against them.",
            )
        before = {k: _jsonable(getattr(package, k)) for k in changes}
        for key, value in changes.items():
            setattr(package, key, value)
        package.save()
        record(
            action=AuditAction.PACKAGE_UPDATED,
            object_type="package",
            object_id=package.pk,
            actor=actor,
            data={"before": before, "after": {k: _jsonable(v) for k, v in changes.items()}},
        )
    return package


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


class UnsupportedFileType(DomainError):
    status_code = 400
    code = ErrorCode.UNSUPPORTED_FILE_TYPE
    default_detail = "Loan tapes are CSV (UTF-8) or XLSX files."


class TapeTooLarge(DomainError):
    status_code = 413
    code = CommonCode.PAYLOAD_TOO_LARGE

    def __init__(self) -> None:
        super().__init__(f"Loan tapes are limited to {settings.LOAN_TAPE_MAX_BYTES} bytes.")


def loan_tape_upload(
    *, actor: User, package_id: int, upload: UploadedFile[bytes], file_type: str | None = None
) -> LoanTapeImport:
    """Store an uploaded tape and queue its import (after commit). Replaces any earlier tape
    once it succeeds; until then the previous tape and summary stay as they are.

    Refuses files over ``LOAN_TAPE_MAX_BYTES`` (413) and anything but CSV or XLSX, told by
    name and leading bytes unless ``file_type`` is given (400 ``unsupported_file_type``)."""
    size = upload.size or 0  # always set for an uploaded file; None only in the stubs
    if size > settings.LOAN_TAPE_MAX_BYTES:
        raise TapeTooLarge()
    if file_type is None:
        head = upload.read(512)
        upload.seek(0)
        file_type = reading.detect_file_type(upload.name, head)
        if file_type is None:
            raise UnsupportedFileType()
    target = _store(upload, file_type)
    try:
        with transaction.atomic():
            package = _locked(package_id)
            if package.seller_id != actor.organization_id:
                raise Forbidden("Only the seller uploads its loan tape.")
            if package.status != PackageStatus.DRAFT:
                raise InvalidState(
                    f"Loan tapes are uploaded to drafts; this package is {package.status}.",
                    extra={"current_status": package.status},
                )
            tape = LoanTapeImport.objects.create(
                package=package,
                uploaded_by=actor,
                file_name=(upload.name or "")[:255],
                file_type=file_type,
                file_size=size,
                stored_path=str(target),
            )
            package.latest_tape = tape
            package.save(update_fields=["latest_tape", "updated_at"])
            record(
                action=AuditAction.LOAN_TAPE_UPLOADED,
                object_type="package",
                object_id=package.pk,
                actor=actor,
                data={
                    "import_id": tape.pk,
                    "file_name": tape.file_name,
                    "file_type": file_type,
                    "file_size": tape.file_size,
                },
            )
            outbox.enqueue(IMPORT_TASK, tape.pk)
    except DomainError:
        reading.remove_upload(str(target))
        raise
    return tape


def _store(upload: UploadedFile[bytes], file_type: str) -> Path:
    """The upload, saved under the uploads folder (the import reads it from there)."""
    target = reading.new_upload_path(file_type)
    # Uploaded files over FILE_UPLOAD_MAX_MEMORY_SIZE are already on disk: move, don't copy.
    temporary = getattr(upload, "temporary_file_path", None)
    if temporary is not None:
        shutil.move(temporary(), target)
    else:
        with open(target, "wb") as out:
            for chunk in upload.chunks():
                out.write(chunk)
    return target


def package_submit(*, actor: User, package_id: int) -> Package:
    """draft -> pending_review, for a draft whose latest tape imported successfully."""
    with transaction.atomic():
        package = _locked(package_id)
        if package.seller_id != actor.organization_id:
            raise Forbidden("Only the seller submits its package.")
        latest = package.latest_tape
        if package.status == PackageStatus.DRAFT and (
            latest is None
            or latest.status != TapeStatus.SUCCEEDED
            or package.current_tape_id != latest.pk
        ):
            raise InvalidState(
                "Submit needs a successfully imported loan tape"
                + ("" if latest is None else f" (latest import is {latest.status})")
                + ".",
                extra={"current_status": package.status},
            )
        previous = _transition(package, "submit")
        package.save()
        record(
            action=AuditAction.PACKAGE_SUBMITTED,
            object_type="package",
            object_id=package.pk,
            actor=actor,
            data={"from": previous, "to": package.status},
        )
    return package


def package_approve(*, actor: User, package_id: int, note: str = "") -> Package:
    """Compliance: pending_review -> approved (the package becomes public)."""
    with transaction.atomic():
        package = _locked(package_id)
        previous = _transition(package, "approve")
        package.review_note = note or ""
        package.save()
        record(
            action=AuditAction.PACKAGE_APPROVED,
            object_type="package",
            object_id=package.pk,
            actor=actor,
            data={"from": previous, "to": package.status, "note": note or ""},
        )
    return package


def package_reject(*, actor: User, package_id: int, reason: str) -> Package:
    """Compliance: pending_review -> draft, with the reason the seller must address."""
    if not (reason or "").strip():
        raise ValidationFailed(
            "A reason is required.", errors={"reason": ["This field is required."]}
        )
    with transaction.atomic():
        package = _locked(package_id)
        previous = _transition(package, "reject")
        package.review_note = reason
        package.save()
        record(
            action=AuditAction.PACKAGE_REJECTED,
            object_type="package",
            object_id=package.pk,
            actor=actor,
            data={"from": previous, "to": package.status, "reason": reason},
        )
    return package


def package_withdraw(*, actor: User, package_id: int) -> Package:
    """Seller: draft | pending_review | approved -> withdrawn (never while in auction)."""
    with transaction.atomic():
        package = _locked(package_id)
        if package.seller_id != actor.organization_id:
            raise Forbidden("Only the seller withdraws its package.")
        previous = _transition(package, "withdraw")
        package.save()
        record(
            action=AuditAction.PACKAGE_WITHDRAWN,
            object_type="package",
            object_id=package.pk,
            actor=actor,
            data={"from": previous, "to": package.status},
        )
    return package


def package_transition(
    *, actor: User | None, package_id: int, name: str, data: dict[str, Any] | None = None
) -> Package:
    """For bidding and settlement: ``auction_start``, ``return_to_market``, ``sell``.

    Must be called inside the caller's transaction; locks the package row."""
    package = _locked(package_id)
    previous = _transition(package, name)
    package.save(update_fields=["status", "updated_at"])
    record(
        action=PACKAGE_TRANSITION_ACTIONS[name],
        object_type="package",
        object_id=package.pk,
        actor=actor,
        data={"from": previous, "to": package.status, **(data or {})},
    )
    return package

"""Celery entry points of listings: thin, by id, idempotent."""

from celery import shared_task

from marketplace.celery import RetryingTask


@shared_task(base=RetryingTask, name="listings.loan_tape_import")
def loan_tape_import(import_id: int) -> str:
    from listings.services import loan_tape_process

    return loan_tape_process(import_id=import_id).status


@shared_task(name="listings.loan_tape_sweep")
def loan_tape_sweep() -> int:
    """Re-queue imports left pending or interrupted (a lost message only delays an import)."""
    from listings.selectors import tape_imports_due

    due = list(tape_imports_due())
    for import_id in due:
        loan_tape_import.delay(import_id)
    return len(due)

"""Celery entry points of listings: thin, by id, idempotent. They run on the ``imports`` queue
(settings, ``CELERY_TASK_ROUTES``), never beside the time-critical tasks."""

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import connection

from marketplace.celery import RetryingTask


@shared_task(base=RetryingTask, name="listings.loan_tape_import")
def loan_tape_import(import_id: int) -> str:
    from listings.services import loan_tape_process, loan_tape_time_out

    try:
        return loan_tape_process(import_id=import_id).status
    except SoftTimeLimitExceeded:
        # Raised wherever the import was, possibly inside a database call: start afresh. (If
        # it came during a statement, Django closed the connection on the rollback; the server
        # drops that statement within a second, ``IMPORT_CLIENT_CHECK``.)
        connection.close()
        seconds = settings.TAPE_IMPORT_SOFT_TIME_LIMIT
        return loan_tape_time_out(import_id=import_id, seconds=seconds).status


@shared_task(name="listings.loan_tape_sweep")
def loan_tape_sweep() -> int:
    """Re-queue imports left pending or interrupted (a lost message only delays an import)."""
    from listings.selectors import tape_imports_due

    due = list(tape_imports_due())
    for import_id in due:
        loan_tape_import.delay(import_id)
    return len(due)

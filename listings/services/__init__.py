"""Every write of the listings app, split by use case."""

from listings.services.data_room import data_room_grant, data_room_record_access
from listings.services.packages import (
    loan_tape_upload,
    package_approve,
    package_create,
    package_reject,
    package_submit,
    package_transition,
    package_update,
    package_withdraw,
)
from listings.tape.importer import loan_tape_process, loan_tape_time_out

__all__ = [
    "data_room_grant",
    "data_room_record_access",
    "loan_tape_process",
    "loan_tape_time_out",
    "loan_tape_upload",
    "package_approve",
    "package_create",
    "package_reject",
    "package_submit",
    "package_transition",
    "package_update",
    "package_withdraw",
]

import json
from typing import Any

from django.core.management.base import BaseCommand

from marketplace.ledger.verify import ledger_verify


class Command(BaseCommand):
    help = (
        "Verify the ledger: every transaction balances and every registration's deposit state "
        "matches its ledger balance; exits 1 at the first problem."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        result = ledger_verify()
        self.stdout.write(json.dumps(result.as_dict(), indent=2))
        if not result.valid:
            raise SystemExit(1)

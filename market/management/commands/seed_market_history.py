"""``manage.py seed_market_history``: a clearly labelled synthetic history of past sales, so the
price index and the valuation show something on a fresh machine (docs/MARKET.md).

Every deal it writes is ``synthetic`` and sold by a bank named "Synthetic Bank N"; no real
sale is touched. Idempotent: with synthetic deals already there it does nothing, unless
``--reset`` (which deletes the synthetic deals first, and only them).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.utils import timezone

from market.codes import AuditAction
from market.models import Deal
from market.synthetic import synthetic_history, synthetic_sellers
from market.versions import deals_changed
from marketplace.audit.services import record
from marketplace.common.locks import advisory_xact_lock


class Command(BaseCommand):
    help = "Create a labelled synthetic history of past sales (idempotent; --reset to redo)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--deals", type=int, default=360, help="how many (default 360)")
        parser.add_argument("--sellers", type=int, default=6, help="synthetic banks (default 6)")
        parser.add_argument("--seed", type=int, default=13)
        parser.add_argument("--reset", action="store_true", help="replace the synthetic deals")

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            advisory_xact_lock("market:seed_market_history")  # two seeds never interleave
            synthetic = Deal.objects.filter(synthetic=True)
            if options["reset"]:
                synthetic.delete()
                deals_changed()
            elif synthetic.exists():
                self.stdout.write(f"synthetic market history present: {synthetic.count()} deals")
                return
            sellers = synthetic_sellers(options["sellers"])
            deals = synthetic_history(
                count=options["deals"], sellers=sellers, seed=options["seed"], now=timezone.now()
            )
            Deal.objects.bulk_create(deals, batch_size=1000)
            record(
                action=AuditAction.HISTORY_SEEDED,
                object_type="market",
                object_id="synthetic",
                data={"deals": len(deals), "sellers": len(sellers), "reset": options["reset"]},
            )
        self.stdout.write(
            f"synthetic market history: {len(deals)} deals of {len(sellers)} synthetic banks"
        )

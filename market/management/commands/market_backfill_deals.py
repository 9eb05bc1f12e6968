"""Record the deal facts of completed settlements that have none (sales completed before the
market app existed), and the risk signals of packages imported before the import computed
them. Idempotent: each settlement is locked and recorded at most once; a package's signals are
computed only while it has none."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from listings.models import Package
from listings.tape.risk import package_compute_risk
from market.deals import deal_record
from market.models import Deal
from settlement.models import Settlement, SettlementStatus


class Command(BaseCommand):
    help = "Record a deal for every completed settlement that has none."

    def handle(self, *args: Any, **options: Any) -> None:
        recorded = 0
        done = Deal.objects.filter(settlement__isnull=False).values("settlement_id")
        pending = (
            Settlement.objects.filter(status=SettlementStatus.COMPLETED)
            .exclude(pk__in=done)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        for settlement_id in list(pending):
            with transaction.atomic():
                settlement = Settlement.objects.select_for_update().get(pk=settlement_id)
                if deal_record(settlement=settlement) is not None:
                    recorded += 1
        self.stdout.write(f"deals recorded: {recorded}")
        self.stdout.write(f"packages given risk signals: {_backfill_risk()}")


def _backfill_risk() -> int:
    done = 0
    pending = Package.objects.filter(risk={}, current_tape__isnull=False).order_by("pk")
    for package_id in list(pending.values_list("pk", flat=True)):
        with transaction.atomic():
            package = Package.objects.select_for_update().get(pk=package_id)
            if package.risk or package.current_tape is None:
                continue
            package_compute_risk(package=package, tape=package.current_tape)
            package.save(update_fields=["risk"])
            done += 1
    return done

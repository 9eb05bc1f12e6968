"""Double-entry money ledger: accounts per organisation and kind, append-only signed entries.

Every money movement is one transaction (``transaction_id``) of two or more entries whose signed
amounts (debit positive, credit negative) sum to zero. Balances are sums of entries; no row is
ever updated, so postings on different auctions never wait on each other. The migrations install
the database's guarantees: a deferred constraint trigger refuses, at commit, a transaction whose
entries do not sum to zero (or mix currencies), and triggers refuse UPDATE, DELETE and TRUNCATE.
The chart of accounts (which event moves what) is ``marketplace.ledger.movements``.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from marketplace.common.money import money_field


class AccountKind(models.TextChoices):
    PLATFORM_CASH = "platform_cash"  # money the platform holds in its escrow bank account
    DEPOSITS_HELD = "deposits_held"  # a buyer's deposits the platform holds
    SETTLEMENT_PAYABLE = "settlement_payable"  # what a buyer owes for an awarded package
    SELLER_PAYABLE = "seller_payable"  # proceeds owed to a seller
    SELLER_PAID = "seller_paid"  # proceeds paid out (the payout clearing account)
    FORFEITED = "forfeited"  # deposits forfeited to a seller


class EntryKind(models.TextChoices):
    DEPOSIT_HELD = "deposit_held"
    DEPOSIT_RELEASED = "deposit_released"
    DEPOSIT_APPLIED = "deposit_applied"
    DEPOSIT_FORFEITED = "deposit_forfeited"
    SETTLEMENT_DUE = "settlement_due"
    PAYMENT_RECEIVED = "payment_received"
    SELLER_PAYOUT = "seller_payout"


class Account(models.Model):
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.PROTECT, related_name="ledger_accounts"
    )
    kind = models.CharField(max_length=32, choices=AccountKind.choices)
    currency = models.CharField(max_length=3)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["organization_id", "kind", "currency"]
        constraints = [
            # One account per organisation and kind (in the ledger's currency): concurrent first
            # postings race on this index, and the loser reads the winner's row.
            models.UniqueConstraint(
                fields=["organization", "kind", "currency"],
                name="%(app_label)s_%(class)s_one_per_org_kind",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=AccountKind.values),
                name="%(app_label)s_%(class)s_kind_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} of organisation {self.organization_id} ({self.currency})"


class Entry(models.Model):
    transaction_id = models.UUIDField()
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="entries")
    # Copied from the account, so that scoping and filtering by organisation need no join.
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.PROTECT, related_name="ledger_entries"
    )
    amount = money_field(help_text="Signed: debit positive, credit negative.")
    kind = models.CharField(max_length=32, choices=EntryKind.choices)
    # Plain ids, no foreign keys: the core ledger imports no domain app.
    settlement_id = models.BigIntegerField(null=True, blank=True)
    registration_id = models.BigIntegerField(null=True, blank=True)
    currency = models.CharField(max_length=3)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "entries"
        constraints = [
            models.CheckConstraint(
                condition=~Q(amount=0), name="%(app_label)s_%(class)s_amount_not_zero"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=EntryKind.values),
                name="%(app_label)s_%(class)s_kind_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["transaction_id"], name="ledger_entry_txn_idx"),
            models.Index(fields=["account", "id"], name="ledger_entry_account_idx"),
            models.Index(fields=["organization", "id"], name="ledger_entry_org_idx"),
            models.Index(
                fields=["settlement_id"],
                name="ledger_entry_settlement_idx",
                condition=Q(settlement_id__isnull=False),
            ),
            models.Index(
                fields=["registration_id"],
                name="ledger_entry_registration_idx",
                condition=Q(registration_id__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} {self.currency} on account {self.account_id}"

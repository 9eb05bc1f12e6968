"""The version of the deal history, read in one cheap statement, for the caches of the price
index and of the fitted model. Deals are only ever added (a new, higher id) or, by the
synthetic-history tools, deleted, which bump the generation (``deals_changed``)."""

from __future__ import annotations

from django.db import connection

from marketplace.common.atomic import require_atomic


def deals_version() -> tuple[int, int]:
    """(latest deal id, deletion generation): changes whenever the set of deals changes."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COALESCE((SELECT max(id) FROM market_deal), 0),"
            " (SELECT CASE WHEN is_called THEN last_value ELSE 0 END"
            "  FROM market_deal_generation)"
        )
        row = cursor.fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def deals_changed() -> None:
    """Call in the transaction that deletes deals: every cache built before is stale."""
    require_atomic("deals_changed")
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval('market_deal_generation')")

"""Deal rows stay narrow for the index's scans (their JSON shares go out of line), and a
generation counter that tells the caches when deals were deleted (market.versions)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("market", "0001_initial")]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE market_deal SET (toast_tuple_target = 256)",
            "ALTER TABLE market_deal RESET (toast_tuple_target)",
        ),
        migrations.RunSQL(
            "CREATE SEQUENCE market_deal_generation",
            "DROP SEQUENCE market_deal_generation",
        ),
    ]

"""The database's guarantees on the ledger (DESIGN.md invariant 4), so that a bug cannot write
what the services refuse:

- a DEFERRABLE INITIALLY DEFERRED constraint trigger checks, at commit, that the entries of each
  transaction_id inserted sum to zero and share one currency;
- entries are append-only: UPDATE, DELETE and TRUNCATE are refused, as on the audit log.
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION ledger_entry_check_balanced() RETURNS trigger AS $$
DECLARE
    total numeric;
    currencies integer;
BEGIN
    SELECT COALESCE(SUM(amount), 0), COUNT(DISTINCT currency) INTO total, currencies
        FROM ledger_entry WHERE transaction_id = NEW.transaction_id;
    IF total <> 0 THEN
        RAISE EXCEPTION 'ledger transaction % is unbalanced: its entries sum to %',
            NEW.transaction_id, total USING ERRCODE = 'check_violation';
    END IF;
    IF currencies > 1 THEN
        RAISE EXCEPTION 'ledger transaction % mixes currencies', NEW.transaction_id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE CONSTRAINT TRIGGER ledger_entry_balanced
    AFTER INSERT ON ledger_entry
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_entry_check_balanced();

CREATE OR REPLACE FUNCTION ledger_entry_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'ledger_entry is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER ledger_entry_no_update_delete
    BEFORE UPDATE OR DELETE ON ledger_entry
    FOR EACH ROW EXECUTE FUNCTION ledger_entry_refuse_change();

CREATE TRIGGER ledger_entry_no_truncate
    BEFORE TRUNCATE ON ledger_entry
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_entry_refuse_change();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS ledger_entry_no_truncate ON ledger_entry;
DROP TRIGGER IF EXISTS ledger_entry_no_update_delete ON ledger_entry;
DROP FUNCTION IF EXISTS ledger_entry_refuse_change();
DROP TRIGGER IF EXISTS ledger_entry_balanced ON ledger_entry;
DROP FUNCTION IF EXISTS ledger_entry_check_balanced();
"""


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]

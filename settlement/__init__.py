"""Settlements, double-entry ledger, defaults, loan-ownership transfer, transfer registry."""

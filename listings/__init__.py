"""Loan packages, loan tapes (import, validation), summary, stratification, data room."""

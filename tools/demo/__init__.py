"""Drive whole sales through the REST API over HTTP, as their users would, printing each step.

    python -m tools.demo run [--base-url URL] [--rows N]

Run by ``make demo`` against a live stack (``--base-url``, default ``BASE_URL`` or
http://127.0.0.1:8000) seeded by ``manage.py seed_demo``. Uses only HTTP (no project imports),
so it exercises exactly what an API client sees. Safe to run again: every run creates its own
new objects.

The story: a new buyer's onboarding (``onboarding``); a bank's package and its disclosure
(``listing``); an English auction closed by the worker (``auction``); payment, the transfer
of ownership and its registry record with the digest recomputed from the loan schedule
(``settle``); a second sale that defaults and goes to the runner-up (``default``); the ledger
balances of every party and the verification of the audit chains and the ledger.
"""

from tools.demo.cli import main

__all__ = ["main"]

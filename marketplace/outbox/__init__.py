"""Transactional task outbox: a Celery message is a row written in the caller's transaction,
published after commit (at once when the broker is up, else by the relay), so a broker outage
delays effects and never loses them. See ``services.enqueue`` and ``relay``."""

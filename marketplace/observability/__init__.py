"""Observability: JSON logs with a request id that follows a request into its Celery tasks, and
Prometheus metrics at ``/metrics`` (docs/OPERATIONS.md "Observability")."""

"""NPL Marketplace platform: settings, urls, the Celery app and the core every domain uses."""

from marketplace.celery import app as celery_app

__all__ = ("celery_app",)

from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class AccountsConfig(AppConfig):
    name = "marketplace.accounts"
    label = "accounts"


class PlatformAdminConfig(admin_apps.AdminConfig):
    """Django's admin with the platform's site: platform staff only, logins rate-limited
    (``marketplace.accounts.admin_site``). Listed in INSTALLED_APPS instead of
    ``django.contrib.admin``."""

    default = False  # AccountsConfig stays this module's default app config
    default_site = "marketplace.accounts.admin_site.PlatformAdminSite"

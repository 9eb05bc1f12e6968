from django.apps import AppConfig
from django.core import checks


class CommonConfig(AppConfig):
    name = "marketplace.common"
    label = "common"

    def ready(self) -> None:
        from marketplace.common.registry import check_codes

        # Every check run (manage.py check, runserver, migrate, the test runner) builds the code
        # registry, so a code or action declared twice fails at once.
        checks.register(check_codes)

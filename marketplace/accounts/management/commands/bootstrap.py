from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from marketplace.accounts.services import platform_bootstrap
from marketplace.common.errors import DomainError


class Command(BaseCommand):
    help = "Create the platform organisation and its first platform_admin (idempotent)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--username", required=True)
        parser.add_argument("--password", required=True)

    def handle(self, *args: Any, username: str, password: str, **options: Any) -> None:
        try:
            org, user, created = platform_bootstrap(username=username, password=password)
        except DomainError as exc:
            raise CommandError(f"{exc.detail} {exc.errors or ''}") from exc
        if created:
            self.stdout.write(
                f"created platform '{org.name}' (id {org.pk}) and admin '{user.username}'"
            )
        else:
            self.stdout.write(
                f"platform '{org.name}' (id {org.pk}) already bootstrapped with admin "
                f"'{user.username}'; nothing changed"
            )

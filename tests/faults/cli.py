"""What a fault script needs before it starts: the servers, a migrated database, Django."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

from tests.faults.processes import BASE_DIR


def with_db_number(url: str, number: int) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{number}"))


@contextlib.contextmanager
def django_against_embedded(broker_db: int) -> Iterator[tuple[str, str]]:
    """The database and broker URLs (``DATABASE_URL``/``REDIS_URL``, else the embedded servers,
    started if needed and stopped after if this started them), the broker on Redis database
    ``broker_db`` so that no other worker on the machine takes the script's messages; the
    database migrated and Django set up against both."""
    from tools import embedded

    with embedded.servers() as urls:
        database_url = urls["DATABASE_URL"]
        broker_url = with_db_number(urls["REDIS_URL"], broker_db)
        os.environ.update(DATABASE_URL=database_url, REDIS_URL=broker_url, MARKETPLACE_QUIET="1")
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings")
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"],
            cwd=BASE_DIR,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        import django

        django.setup()
        yield database_url, broker_url


def unique_factory_names() -> None:
    """The test factories number organisations and users from 0; in a database that earlier
    runs used, start past anything they made."""
    import time

    from tests.factories import OrganizationFactory, UserFactory

    start = time.time_ns() // 1000 % 10**12
    OrganizationFactory.reset_sequence(start)
    UserFactory.reset_sequence(start)

"""Fan-out: who receives which event for an audited change, and what each recipient sees.

Each audit action users care about has one handler (``@handles(action)``) that turns the audit
event into :class:`Notice` objects, one per (type, recipient organisation), each carrying only
the ids and amounts that organisation may see (API.md, "Visibility"). Handlers read what the
change's own transaction sees, so a recipient is decided at the moment of the change. The
handlers live by domain in this package's modules, imported below so they register.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ObjectDoesNotExist

from marketplace.accounts.models import Organization, OrganizationKind
from marketplace.audit.models import AuditEvent


@dataclass(frozen=True)
class Notice:
    """One event for one organisation: its type and the fields it may see."""

    type: str
    organization_id: int
    data: dict[str, Any] = field(default_factory=dict)
    dedup_key: str | None = None


Handler = Callable[[AuditEvent], Iterable[Notice]]
HANDLERS: dict[str, Handler] = {}


def handles(*actions: str) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of ``actions``."""

    def register(handler: Handler) -> Handler:
        for action in actions:
            if action in HANDLERS:
                raise RuntimeError(f"two fan-out handlers for {action}")
            HANDLERS[str(action)] = handler
        return handler

    return register


def notices_for(event: AuditEvent) -> list[Notice]:
    """Every notice of ``event`` (none for an action nobody is told about), at most one per
    (type, organisation): the first wins."""
    handler = HANDLERS.get(event.action)
    if handler is None:
        return []
    try:
        notices = list(handler(event))
    except ObjectDoesNotExist:
        return []  # an event about no object of the domain (a test's, an operator's note)
    existing = set(
        Organization.objects.filter(pk__in={n.organization_id for n in notices}).values_list(
            "pk", flat=True
        )
    )
    seen: set[tuple[str, int]] = set()
    out: list[Notice] = []
    for notice in notices:
        key = (notice.type, notice.organization_id)
        if key not in seen and notice.organization_id in existing:
            seen.add(key)
            out.append(notice)
    return out


def platform_ids() -> list[int]:
    """The platform (operator) organisations: compliance follows reviews, deposits, settlements."""
    return list(
        Organization.objects.filter(kind=OrganizationKind.PLATFORM).values_list("pk", flat=True)
    )


def to_all(
    type_: str, organization_ids: Iterable[int | None], data: dict[str, Any]
) -> list[Notice]:
    """The same notice for each organisation (``None``s skipped)."""
    return [Notice(type_, org, dict(data)) for org in organization_ids if org is not None]


def pick(data: dict[str, Any], *keys: str, **renamed: str) -> dict[str, Any]:
    """``keys`` of an audit event's data, and ``renamed`` (new name -> data key)."""
    out = {key: data.get(key) for key in keys}
    out.update({new: data.get(old) for new, old in renamed.items()})
    return out


# Register every handler (imported for their side effect).
from notifications.fanout import auctions, settlements, others  # noqa: E402, F401, I001

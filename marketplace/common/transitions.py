"""Applying a state transition from a model's transition table (name -> (allowed from, to))."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from marketplace.common.errors import InvalidState


class HasStatus(Protocol):
    """A model with a ``status`` field."""

    status: str


def transition_apply(
    obj: HasStatus, *, table: Mapping[str, tuple[frozenset[str], str]], name: str, noun: str
) -> str:
    """Move ``obj.status`` along ``table[name]``; return the previous status.

    Raises InvalidState (409 ``invalid_state``, with ``current_status``) when the transition is
    not allowed from the current status. The caller holds the row lock and saves."""
    allowed, target = table[name]
    current = obj.status
    if current not in allowed:
        raise InvalidState(
            f"Cannot {name.replace('_', ' ')} {noun} that is {current}.",
            extra={"current_status": current},
        )
    obj.status = target
    return current

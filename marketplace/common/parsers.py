"""The JSON request parser: DRF's, with a bound on nesting.

Python's JSON decoder recurses once per nested array or object, so a body of a few thousand
``[`` raised ``RecursionError`` (a 500) before any view ran, even on the anonymous login
endpoint. No request of this API nests deeper than a handful of levels; a body deeper than
``MAX_JSON_DEPTH`` is refused as malformed (400 ``validation_error``), whichever endpoint it is
sent to and before anything reads it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError

MAX_JSON_DEPTH = 32


def json_depth_exceeds(value: object, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when ``value`` nests arrays/objects more than ``limit`` deep (iterative: no
    recursion however deep the value)."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children: Any
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


class JSONParser(parsers.JSONParser):
    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        too_deep = f"JSON nested more than {MAX_JSON_DEPTH} levels deep."
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError(too_deep) from exc
        if json_depth_exceeds(data):
            raise ParseError(too_deep)
        return data

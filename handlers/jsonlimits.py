"""JSON from the outside world, read with a bound on nesting.

``json.loads`` raises ``RecursionError`` (not a ``ValueError``) on very deep nesting, and even
a body it can parse may be too deep for the code that walks it later (pydantic, botbuilder's
deserializer, ``json.dumps`` when it is stored). Nothing Slack or the Bot Framework sends nests
anywhere near :data:`MAX_DEPTH`.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 64
"""Deepest nesting of objects and arrays accepted in an inbound payload."""


class UnreadableJson(ValueError):
    """Not JSON, or nested deeper than :data:`MAX_DEPTH`; the message says which."""


def depth(value: Any) -> int:
    """How deeply ``value``'s objects and arrays nest (a scalar is 0), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level + 1)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((child, level + 1) for child in children)
    return deepest


def loads(text: str | bytes) -> Any:
    """``json.loads``, raising :class:`UnreadableJson` for bad or too deeply nested JSON."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise UnreadableJson(f"not JSON: {error.msg}") from None
    except RecursionError:
        raise UnreadableJson(f"JSON nested deeper than {MAX_DEPTH} levels") from None
    except UnicodeDecodeError:
        raise UnreadableJson("not UTF-8 text") from None
    if depth(data) > MAX_DEPTH:
        raise UnreadableJson(f"JSON nested deeper than {MAX_DEPTH} levels")
    return data

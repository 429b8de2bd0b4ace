"""Bounded, in-order submission of work units: what every executor's `map` shares. Pure."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

U = TypeVar("U")
H = TypeVar("H")


def submitted_in_order(units: Iterable[U], submit: Callable[[U], H], cap: int) -> Iterator[tuple[U, H]]:
    """Submit units as the consumer asks for results, with at most `cap` submitted and not yet handed out;
    yield (unit, its handle — a future, a Ray ref) in input order, so memory is bounded by `cap` units."""
    pending: deque[tuple[U, H]] = deque()
    for unit in units:
        pending.append((unit, submit(unit)))
        if len(pending) >= cap:
            yield pending.popleft()
    while pending:
        yield pending.popleft()

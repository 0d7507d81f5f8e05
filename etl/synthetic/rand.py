"""Counter-based randomness as Column expressions: every draw is a hash of (seed, salt, keys).

No state and no Python per row: a row's values depend only on its keys, so the output
is the same for any partitioning, executor count or rerun.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pyspark.sql import Column
from pyspark.sql import functions as F

_TWO_53 = float(2**53)


def uniform(seed: int, salt: str, *keys: Column) -> Column:
    """A draw in [0, 1)."""
    return F.pmod(F.xxhash64(F.lit(seed), F.lit(salt), *keys), F.lit(2**53)).cast("double") / F.lit(_TWO_53)


def int_between(u: Column, low: Column | int, high: Column | int) -> Column:
    """An integer in [low, high] from a draw u."""
    low_c, high_c = F.lit(low) if isinstance(low, int) else low, F.lit(high) if isinstance(high, int) else high
    return (low_c + F.floor(u * (high_c - low_c + 1))).cast("long")


def float_between(u: Column, low: Column | float, high: Column | float) -> Column:
    low_c = low if isinstance(low, Column) else F.lit(float(low))
    high_c = high if isinstance(high, Column) else F.lit(float(high))
    return low_c + u * (high_c - low_c)


def pick(u: Column, weights: Mapping[str, float]) -> Column:
    """A category drawn with the given relative weights."""
    total = float(sum(weights.values()))
    if total <= 0:
        raise ValueError("weights must have a positive sum")
    items = list(weights.items())
    expr, cumulative = None, 0.0
    for value, weight in items[:-1]:
        cumulative += weight / total
        expr = (F.when(u < cumulative, F.lit(value)) if expr is None else expr.when(u < cumulative, F.lit(value)))
    last = F.lit(items[-1][0])
    return last if expr is None else expr.otherwise(last)


def lookup(key: Column, table: Mapping[str, object], default: object = None) -> Column:
    """Map a key column through a small literal table."""
    if not table:
        return F.lit(default)
    pairs = [item for k, v in table.items() for item in (F.lit(k), F.lit(v))]
    return F.coalesce(F.element_at(F.create_map(*pairs), key), F.lit(default))


def choose(u: Column, values: Sequence[str]) -> Column:
    """One of `values`, uniformly."""
    return F.element_at(F.array(*[F.lit(v) for v in values]), (F.floor(u * len(values)) + 1).cast("int"))

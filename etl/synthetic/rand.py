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


def sql_literal(value: object) -> str:
    """A Python value as the Spark SQL literal F.lit would make of it (string, int or bigint, double, boolean, NULL)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)  # an int, or a bigint past 2^31, as F.lit types it
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"no SQL literal for {value!r}")
        return f"{value!r}D"
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    raise TypeError(f"no SQL literal for {type(value).__name__} {value!r}")


# Literal arrays and maps are parsed from SQL text: one JVM call, not one per element.
def _array(values: Sequence[object]) -> Column:
    return F.expr(f"array({', '.join(sql_literal(v) for v in values)})")


def pick(u: Column, weights: Mapping[str, float]) -> Column:
    """A category drawn with the given relative weights: the first whose cumulative share exceeds u."""
    total = float(sum(weights.values()))
    if total <= 0:
        raise ValueError("weights must have a positive sum")
    items = list(weights.items())
    if len(items) == 1:
        return F.lit(items[0][0])
    bounds, cumulative = [], 0.0
    for _, weight in items[:-1]:
        cumulative += weight / total
        bounds.append(cumulative)
    # 1 + how many bounds u has reached: the same category as CASE WHEN u < bound_1 ... ELSE last
    reached = F.size(F.filter(_array(bounds), lambda bound: bound <= u))
    return F.element_at(_array([v for v, _ in items]), (reached + 1).cast("int"))


def lookup(key: Column, table: Mapping[str, object], default: object = None) -> Column:
    """Map a key column through a small literal table."""
    if not table:
        return F.lit(default)
    pairs = ", ".join(f"{sql_literal(k)}, {sql_literal(v)}" for k, v in table.items())
    return F.coalesce(F.element_at(F.expr(f"map({pairs})"), key), F.lit(default))


def choose(u: Column, values: Sequence[str]) -> Column:
    """One of `values`, uniformly."""
    return F.element_at(_array(values), (F.floor(u * len(values)) + 1).cast("int"))

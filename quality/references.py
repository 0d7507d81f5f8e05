"""Referential integrity against lakehouse tables (exists_in rules), without collecting keys.

A table like the enterprise master has millions of keys: too many for an in_set list.
Each exists_in rule instead gets a boolean flag column from a left join with the
table's distinct keys; the rule's expectation and its routing condition read the flag.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from quality.checks import found_column
from quality.spec import Rule


class MissingReferenceTable(LookupError):
    """An exists_in rule names a table the job did not provide."""


def with_found_flags(frame: DataFrame, rules: tuple[Rule, ...], tables: dict[str, DataFrame]) -> DataFrame:
    """`frame` plus one flag per exists_in rule and column: True/False, NULL where the value is NULL."""
    for rule in rules:
        if rule.check != "exists_in":
            continue
        if rule.args.table not in tables:
            raise MissingReferenceTable(
                f"rule {rule.name}: table {rule.args.table} is not available here (have: "
                f"{', '.join(sorted(tables)) or 'none'})"
            )
        for col in rule.targets:
            flag = found_column(rule, col)
            keys = (
                tables[rule.args.table]
                .select(F.col(rule.args.key or col).alias(flag + "_key"))
                .distinct()
                .withColumn(flag + "_hit", F.lit(True))
            )
            frame = (
                frame.join(keys, on=F.col(col) == F.col(flag + "_key"), how="left")
                .withColumn(flag, F.when(F.col(col).isNotNull(), F.coalesce(F.col(flag + "_hit"), F.lit(False))))
                .drop(flag + "_key", flag + "_hit")
            )
    return frame

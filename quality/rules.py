"""One rule, two forms: a Great Expectations expectation (to report) and a Spark Column (to route).

Both forms come from the same declaration in conf/quality.yaml, and both follow GE's
semantics: a map check ignores NULL values, a pair check ignores rows missing either
value. `broken` is never NULL, so a row is either clean or quarantined, never neither.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import reduce

import great_expectations.expectations as gxe
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from etl import reference
from etl.config import Settings
from quality.expectations import ExpectColumnValuesToBeValidCreditCode, ExpectColumnValuesToBeWholeNumbers, valid_credit_code, whole_number
from quality.spec import Rule

REASON_COLUMN = "reason_code"


@dataclass(frozen=True)
class RuleContext:
    """What rules need from the rest of conf/: the window, the limits and the reference values."""

    window_start_utc: datetime
    window_end_utc: datetime
    limits: dict[str, float]
    reference_values: dict[str, tuple[str, ...]]  # "table.column" -> values

    @classmethod
    def from_settings(cls, settings: Settings) -> "RuleContext":
        w = settings.pipeline.window
        values: dict[str, tuple[str, ...]] = {}
        for table in settings.pipeline.tables.reference:
            rows = reference.rows(settings.reference_dir, table)
            for column in rows[0] if rows else ():
                values[f"{table}.{column}"] = tuple(sorted({r[column] for r in rows}))
        return cls(w.start_utc(), w.end_utc(), settings.pipeline.limits.model_dump(), values)

    def values_of(self, rule: Rule) -> tuple[str, ...]:
        if rule.values is not None:
            return rule.values
        if rule.reference not in self.reference_values:
            raise ValueError(f"rule {rule.name}: reference {rule.reference} is not a reference column (known: {', '.join(sorted(self.reference_values))})")
        return self.reference_values[rule.reference]


def _max(rule: Rule, ctx: RuleContext) -> float | None:
    return ctx.limits[rule.max_from] if rule.max_from is not None else rule.max


def holds(rule: Rule, column: str, ctx: RuleContext) -> Column:
    """The rule's condition on one target column, as GE states it (may be NULL where GE ignores the row)."""
    c = F.col(column)
    check = rule.check
    if check == "not_null":
        return c.isNotNull()
    if check == "is_null":
        return c.isNull()
    if check == "between":
        low, high = rule.min, _max(rule, ctx)
        parts = []
        if low is not None:
            parts.append(c >= F.lit(low))
        if high is not None:
            parts.append(c < F.lit(high) if rule.strict_max else c <= F.lit(high))
        return reduce(lambda a, b: a & b, parts)
    if check == "in_window":
        return (c >= F.lit(ctx.window_start_utc)) & (c < F.lit(ctx.window_end_utc))
    if check == "not_after":
        return c <= F.col(rule.limit_column)
    if check == "in_set":
        return c.isin(list(ctx.values_of(rule)))
    if check == "credit_code":
        return valid_credit_code(c)
    if check == "whole_number":
        return whole_number(c)
    if check == "exists_in":
        return F.col(found_column(rule, column))
    raise ValueError(f"rule {rule.name}: {check} is not a row check")


def found_column(rule: Rule, column: str) -> str:
    """The flag quality.references adds for an exists_in rule: whether `column`'s value is in the table."""
    return f"_{rule.name}__{column}__found"


def _ignored(rule: Rule, column: str) -> Column:
    """Rows GE leaves out of a map check: a NULL value (and, for pair checks, a NULL limit)."""
    if rule.check in ("not_null", "is_null"):
        return F.lit(False)
    missing = F.col(column).isNull()
    if rule.check == "not_after":
        missing = missing | F.col(rule.limit_column).isNull()
    return missing


def broken(rule: Rule, ctx: RuleContext) -> Column:
    """True where the row breaks the rule on any of its columns; never NULL."""
    per_column = [~_ignored(rule, col) & ~F.coalesce(holds(rule, col, ctx), F.lit(False)) for col in rule.targets]
    return reduce(lambda a, b: a | b, per_column)


def detail(rule: Rule, ctx: RuleContext) -> Column:
    """A readable reason detail: the rule's text and the offending values."""
    shown = [F.concat(F.lit(f"{col}="), F.coalesce(F.col(col).cast("string"), F.lit("NULL"))) for col in rule.targets]
    if rule.check == "not_after":
        shown.append(F.concat(F.lit(f"{rule.limit_column}="), F.coalesce(F.col(rule.limit_column).cast("string"), F.lit("NULL"))))
    return F.concat(F.lit(f"{rule.doc} ("), F.concat_ws(", ", *shown), F.lit(")"))


PRESENCE_CHECKS = ("not_null", "is_null")


def key_rows_column(rule: Rule) -> str:
    """The column with_key_counts adds for a unique rule: how many judged rows share the row's key."""
    return f"_{rule.name}__rows"


def _key_judged(rule: Rule) -> Column:
    """Rows a unique rule judges: those with an outcome in `among` (all, without it) whose key is present.

    As GE's uniqueness checks: a single-column key ignores NULLs; a compound key ignores a
    row only when every column of it is NULL (partial NULLs group together, as in a window).
    """
    present = reduce(lambda a, b: a | b, [F.col(c).isNotNull() for c in rule.columns])
    return present & F.col("outcome").isin(list(rule.among)) if rule.among else present


def with_key_counts(frame: DataFrame, rules: tuple[Rule, ...]) -> DataFrame:
    """Add, per unique rule, the number of judged rows sharing each judged row's key (NULL elsewhere).

    Uniqueness then is a plain map check (count <= 1) in the suite's one shared GE
    aggregation, instead of GE's window over the whole batch run once to count and once
    more for the sample. Applied where the frame is already partitioned by the key (ingest's
    deduplication), the window adds no shuffle. A frame that has the column already keeps it.
    """
    for rule in rules:
        name = key_rows_column(rule)
        if rule.check != "unique" or name in frame.columns:
            continue
        judged = _key_judged(rule)
        frame = frame.withColumn(name, F.when(judged, F.count(F.when(judged, F.lit(1))).over(Window.partitionBy(*rule.columns))))
    return frame


def duplicate_key_samples(frame: DataFrame, rule: Rule, n: int) -> tuple[str, ...]:
    """Up to n keys that repeat, as `a|b` text: the unique rule's sample, read only when it failed."""
    key = F.concat_ws("|", *[F.coalesce(F.col(c).cast("string"), F.lit("NULL")) for c in rule.columns])
    rows = frame.filter(F.col(key_rows_column(rule)) > 1).select(key.alias("k")).distinct().limit(n).collect()
    return tuple(sorted(r.k for r in rows))


def _unclaimed(rule: Rule) -> Column:
    """Rows a row rule is judged on once rows are routed: those no earlier quarantine rule took.

    So a record that does not parse counts once, as malformed_record, not again as a
    missing timestamp; and each quarantine rule's unexpected count equals the rows
    quarantined under its name. Warn and fail rules judge the rows that go on.
    """
    free = F.col(REASON_COLUMN).isNull()
    return free | (F.col(REASON_COLUMN) == rule.name) if rule.action == "quarantine" else free


def judged_column(rule: Rule, column: str) -> str:
    """The column a routed rule's expectation reads (see with_judged_columns)."""
    return f"{column}__{rule.name}"


def with_judged_columns(frame: DataFrame, rules: tuple[Rule, ...], ctx: RuleContext) -> DataFrame:
    """Add, per routed row rule and target, its column masked to NULL on rows the rule does not judge.

    GE ignores NULLs in map checks, so this states the precedence without a row_condition
    per rule: all expectations of a suite then share one domain, and GE computes their
    counts in one Spark aggregation instead of one job each. Presence checks (not_null,
    is_null) judge NULLs, so their masked column is the check's outcome instead.
    """
    judged = []
    for rule in rules:
        for col in rule.targets if rule.is_row_rule else ():
            value = holds(rule, col, ctx) if rule.check in PRESENCE_CHECKS or rule.check == "exists_in" else F.col(col)
            judged.append(F.when(_unclaimed(rule), value).alias(judged_column(rule, col)))
    return frame.select("*", *judged)


def expectations(rule: Rule, ctx: RuleContext, routed: bool = False) -> list:
    """The GE expectations of a row or table rule (one per target column); meta names the rule and column.

    `routed`: the frame carries `reason_code` from quality.routing and the columns of
    with_judged_columns; row rules are judged on the rows still unclaimed when their turn comes.
    """
    meta = {"rule": rule.name, "action": rule.action, "doc": rule.doc}
    out: list = []
    for col in rule.targets if rule.is_row_rule else ():
        m = {**meta, "column": col}
        check = rule.check
        target = judged_column(rule, col) if routed else col
        if routed and check in PRESENCE_CHECKS:  # the masked column holds the check's outcome
            e = gxe.ExpectColumnValuesToBeInSet(column=target, value_set=[True], meta={**m, "presence": True})
        elif check == "not_null":
            e = gxe.ExpectColumnValuesToNotBeNull(column=target, meta=m)
        elif check == "is_null":
            e = gxe.ExpectColumnValuesToBeNull(column=target, meta=m)
        elif check == "between":
            e = gxe.ExpectColumnValuesToBeBetween(column=target, min_value=rule.min, max_value=_max(rule, ctx), strict_max=rule.strict_max, meta=m)
        elif check == "in_window":
            e = gxe.ExpectColumnValuesToBeBetween(column=target, min_value=ctx.window_start_utc, max_value=ctx.window_end_utc, strict_max=True, meta=m)
        elif check == "not_after":
            e = gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A=rule.limit_column, column_B=target, or_equal=True, ignore_row_if="either_value_is_missing", meta=m)
        elif check == "in_set":
            e = gxe.ExpectColumnValuesToBeInSet(column=target, value_set=list(ctx.values_of(rule)), meta=m)
        elif check == "credit_code":
            e = ExpectColumnValuesToBeValidCreditCode(column=target, meta=m)
        elif check == "exists_in":  # on the flag quality.references adds: NULL where the value is NULL, as GE ignores those
            e = gxe.ExpectColumnValuesToBeInSet(column=target if routed else found_column(rule, col), value_set=[True], meta=m)
        else:
            e = ExpectColumnValuesToBeWholeNumbers(column=target, meta=m)
        out.append(e)
    if rule.check == "unique":  # on the count with_key_counts adds: NULL on rows the rule does not judge
        column = ",".join(rule.columns)
        out.append(gxe.ExpectColumnValuesToBeBetween(column=key_rows_column(rule), max_value=1, meta={**meta, "column": column, "key_count": True}))
    elif rule.check == "columns":
        out.append(gxe.ExpectTableColumnsToMatchSet(column_set=list(rule.names), exact_match=False, meta=meta))
    elif rule.check == "volume":  # validated on baselines.volume_against_baseline
        out.append(gxe.ExpectColumnValuesToBeBetween(column="ratio", min_value=rule.min_ratio, max_value=rule.max_ratio, meta={**meta, "column": "ratio"}))
    elif rule.check == "province_share":  # validated on baselines.share_change
        out.append(gxe.ExpectColumnValuesToBeBetween(column="change_pp", max_value=rule.max_change_pp, meta={**meta, "column": "change_pp"}))
    return out

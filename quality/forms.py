"""One rule, two forms: a Great Expectations expectation (to report) and a Spark Column (to route).

Both come from the rule's check kind (quality.checks). `broken` is never NULL, so a row
is either clean or quarantined, never neither.
"""

from __future__ import annotations

from functools import reduce

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from quality.checks import PRESENCE_CHECKS, key_rows_column
from quality.context import RuleContext
from quality.spec import Rule

REASON_COLUMN = "reason_code"


def broken(rule: Rule, ctx: RuleContext) -> Column:
    """True where the row breaks the rule on any of its columns; never NULL."""
    kind = rule.kind
    per_column = [
        ~kind.ignored(rule, col) & ~F.coalesce(kind.holds(rule, col, ctx), F.lit(False)) for col in rule.targets
    ]
    return reduce(lambda a, b: a | b, per_column)


def detail(rule: Rule) -> Column:
    """A readable reason detail: the rule's text and the offending values."""
    shown = [*rule.targets, *rule.kind.shown_columns(rule)]
    values = [F.concat(F.lit(f"{col}="), F.coalesce(F.col(col).cast("string"), F.lit("NULL"))) for col in shown]
    return F.concat(F.lit(f"{rule.doc} ("), F.concat_ws(", ", *values), F.lit(")"))


def _key_judged(rule: Rule) -> Column:
    """Rows a unique rule judges: those with an outcome in `among` (all, without it) whose key is present.

    As GE's uniqueness checks: a single-column key ignores NULLs; a compound key ignores a
    row only when every column of it is NULL (partial NULLs group together, as in a window).
    """
    present = reduce(lambda a, b: a | b, [F.col(c).isNotNull() for c in rule.columns])
    return present & F.col("outcome").isin(list(rule.args.among)) if rule.args.among else present


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
        count = F.count(F.when(judged, F.lit(1))).over(Window.partitionBy(*rule.columns))
        frame = frame.withColumn(name, F.when(judged, count))
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
    judged = [
        F.when(_unclaimed(rule), rule.kind.judged_value(rule, col, ctx)).alias(judged_column(rule, col))
        for rule in rules
        if rule.is_row_rule
        for col in rule.targets
    ]
    return frame.select("*", *judged)


def expectations(rule: Rule, ctx: RuleContext, routed: bool = False) -> list:
    """The GE expectations of a row or table rule (one per target column); meta names the rule and column.

    `routed`: the frame carries `reason_code` from quality.routing and the columns of
    with_judged_columns; row rules are judged on the rows still unclaimed when their turn comes.
    """
    import great_expectations.expectations as gxe

    meta = {"rule": rule.name, "action": rule.action, "doc": rule.doc}
    kind = rule.kind
    if not rule.is_row_rule:
        return [kind.table_expectation(rule, ctx, meta)]
    out = []
    for col in rule.targets:
        m = {**meta, "column": col}
        if routed and rule.check in PRESENCE_CHECKS:  # the masked column holds the check's outcome
            e = gxe.ExpectColumnValuesToBeInSet(
                column=judged_column(rule, col), value_set=[True], meta={**m, "presence": True}
            )
        else:
            e = kind.expectation(rule, judged_column(rule, col) if routed else kind.read_column(rule, col), ctx, m)
        out.append(e)
    return out

"""Row routing: each row's reason is the first quarantine rule it breaks, in the suite's order.

The split is one CASE over `broken` conditions that are never NULL, so every row lands
on exactly one side (reason NULL: clean; otherwise quarantined) and no row ids travel
to the driver: routing is a projection, at any scale.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from quality.context import RuleContext
from quality.forms import broken, detail
from quality.spec import Rule


def route(candidates: DataFrame, rules: tuple[Rule, ...], ctx: RuleContext) -> DataFrame:
    """Add `reason_code` and `reason_detail` (both NULL for a clean row)."""
    quarantining = [r for r in rules if r.is_row_rule and r.action == "quarantine"]
    if not quarantining:
        return candidates.select(
            "*", F.lit(None).cast("string").alias("reason_code"), F.lit(None).cast("string").alias("reason_detail")
        )
    code, text = None, None
    for rule in quarantining:
        cond = broken(rule, ctx)
        code = F.when(cond, F.lit(rule.name)) if code is None else code.when(cond, F.lit(rule.name))
        text = F.when(cond, detail(rule)) if text is None else text.when(cond, detail(rule))
    return candidates.select("*", code.alias("reason_code"), text.alias("reason_detail"))

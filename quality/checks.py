"""The check kinds a rule of conf/quality.yaml may use: each one object with its argument schema,
its Spark form (routes rows) and its Great Expectations form (reports them).

Both forms follow GE's semantics: a map check ignores NULL values, a pair check ignores
rows missing either value. Adding a check kind is one class here and one entry in
`CHECKS`; a rule naming a kind not in `CHECKS`, or giving it arguments its schema does
not declare, is refused when conf/quality.yaml is loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import reduce
from typing import TYPE_CHECKING, ClassVar

import great_expectations.expectations as gxe
from pydantic import Field, model_validator
from pyspark.sql import Column
from pyspark.sql import functions as F

from etl.model import Frozen
from quality.expectations import (
    ExpectColumnValuesToBeValidCreditCode,
    ExpectColumnValuesToBeWholeNumbers,
    valid_credit_code,
    whole_number,
)

if TYPE_CHECKING:
    from quality.context import RuleContext
    from quality.spec import Rule

TABLE_COLUMN = r"^[a-z_]+\.[a-z_]+$"  # layer.name or table.column


class NoArguments(Frozen):
    pass


class CheckKind:
    """One kind of check. Row kinds judge each row on each target column; table kinds judge the batch."""

    name: ClassVar[str]
    row: ClassVar[bool]
    Args: ClassVar[type[Frozen]] = NoArguments
    # row kinds take `column` or `columns`; `key` kinds take `columns` (the key); the rest take neither
    targets: ClassVar[str] = "column_or_columns"

    # --- row kinds ---
    def holds(self, rule: Rule, column: str, ctx: RuleContext) -> Column:
        """The rule's condition on one target column, as GE states it (may be NULL where GE ignores the row)."""
        raise NotImplementedError(f"{self.name} is not a row check")

    def ignored(self, rule: Rule, column: str) -> Column:
        """Rows GE leaves out of a map check: a NULL value."""
        return F.col(column).isNull()

    def read_column(self, rule: Rule, column: str) -> str:
        """The column GE reads for a target on a frame that was not routed."""
        return column

    def judged_value(self, rule: Rule, column: str, ctx: RuleContext) -> Column:
        """What a routed frame's masked column holds for this target (see quality.forms.with_judged_columns)."""
        return F.col(column)

    def shown_columns(self, rule: Rule) -> tuple[str, ...]:
        """Columns besides the targets that a quarantined row's reason detail shows."""
        return ()

    def expectation(self, rule: Rule, target: str, ctx: RuleContext, meta: dict):
        """The GE expectation on one target column (`target` is the column GE reads)."""
        raise NotImplementedError(f"{self.name} is not a row check")

    # --- table kinds ---
    def table_expectation(self, rule: Rule, ctx: RuleContext, meta: dict):
        raise NotImplementedError(f"{self.name} is not a table check")


class _Presence(CheckKind):
    row = True

    def ignored(self, rule: Rule, column: str) -> Column:
        return F.lit(False)  # presence checks judge NULLs

    def judged_value(self, rule: Rule, column: str, ctx: RuleContext) -> Column:
        return self.holds(rule, column, ctx)  # the outcome itself: a masked NULL would be judged


class NotNull(_Presence):
    name = "not_null"

    def holds(self, rule, column, ctx):
        return F.col(column).isNotNull()

    def expectation(self, rule, target, ctx, meta):
        return gxe.ExpectColumnValuesToNotBeNull(column=target, meta=meta)


class IsNull(_Presence):
    name = "is_null"

    def holds(self, rule, column, ctx):
        return F.col(column).isNull()

    def expectation(self, rule, target, ctx, meta):
        return gxe.ExpectColumnValuesToBeNull(column=target, meta=meta)


class BetweenArgs(Frozen):
    min: float | None = None
    max: float | None = None
    strict_max: bool = False
    max_from: str | None = None  # a `limits` entry of pipeline.yaml

    @model_validator(mode="after")
    def _a_bound(self) -> BetweenArgs:
        if self.min is None and self.max is None and self.max_from is None:
            raise ValueError("between needs min, max or max_from")
        if self.max is not None and self.max_from is not None:
            raise ValueError("give max or max_from, not both")
        return self


class Between(CheckKind):
    name = "between"
    row = True
    Args = BetweenArgs

    @staticmethod
    def high(rule: Rule, ctx: RuleContext) -> float | None:
        return ctx.limits[rule.args.max_from] if rule.args.max_from is not None else rule.args.max

    def holds(self, rule, column, ctx):
        c, low, high = F.col(column), rule.args.min, self.high(rule, ctx)
        parts = []
        if low is not None:
            parts.append(c >= F.lit(low))
        if high is not None:
            parts.append(c < F.lit(high) if rule.args.strict_max else c <= F.lit(high))
        return reduce(lambda a, b: a & b, parts)

    def expectation(self, rule, target, ctx, meta):
        return gxe.ExpectColumnValuesToBeBetween(
            column=target,
            min_value=rule.args.min,
            max_value=self.high(rule, ctx),
            strict_max=rule.args.strict_max,
            meta=meta,
        )


class InWindow(CheckKind):
    name = "in_window"
    row = True

    def holds(self, rule, column, ctx):
        c = F.col(column)
        return (c >= F.lit(ctx.window_start_utc)) & (c < F.lit(ctx.window_end_utc))

    def expectation(self, rule, target, ctx, meta):
        return gxe.ExpectColumnValuesToBeBetween(
            column=target, min_value=ctx.window_start_utc, max_value=ctx.window_end_utc, strict_max=True, meta=meta
        )


class NotAfterArgs(Frozen):
    limit_column: str


class NotAfter(CheckKind):
    """column <= limit_column: a pair check, so a row missing either value is ignored."""

    name = "not_after"
    row = True
    Args = NotAfterArgs

    def holds(self, rule, column, ctx):
        return F.col(column) <= F.col(rule.args.limit_column)

    def ignored(self, rule, column):
        return F.col(column).isNull() | F.col(rule.args.limit_column).isNull()

    def shown_columns(self, rule):
        return (rule.args.limit_column,)

    def expectation(self, rule, target, ctx, meta):
        return gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A=rule.args.limit_column,
            column_B=target,
            or_equal=True,
            ignore_row_if="either_value_is_missing",
            meta=meta,
        )


class InSetArgs(Frozen):
    values: tuple[str, ...] | None = None
    reference: str | None = Field(default=None, pattern=TABLE_COLUMN)  # a reference table's column

    @model_validator(mode="after")
    def _one_source(self) -> InSetArgs:
        if (self.values is None) == (self.reference is None):
            raise ValueError("in_set needs exactly one of values, reference")
        return self


class InSet(CheckKind):
    name = "in_set"
    row = True
    Args = InSetArgs

    def holds(self, rule, column, ctx):
        return F.col(column).isin(list(ctx.values_of(rule)))

    def expectation(self, rule, target, ctx, meta):
        return gxe.ExpectColumnValuesToBeInSet(column=target, value_set=list(ctx.values_of(rule)), meta=meta)


class CreditCode(CheckKind):
    """GB 32100-2015: both check characters (a custom expectation with the same Spark condition)."""

    name = "credit_code"
    row = True

    def holds(self, rule, column, ctx):
        return valid_credit_code(F.col(column))

    def expectation(self, rule, target, ctx, meta):
        return ExpectColumnValuesToBeValidCreditCode(column=target, meta=meta)


class WholeNumber(CheckKind):
    name = "whole_number"
    row = True

    def holds(self, rule, column, ctx):
        return whole_number(F.col(column))

    def expectation(self, rule, target, ctx, meta):
        return ExpectColumnValuesToBeWholeNumbers(column=target, meta=meta)


class ExistsInArgs(Frozen):
    table: str = Field(pattern=TABLE_COLUMN)  # a lakehouse table, layer.name; the job supplies the snapshot
    key: str | None = None  # its column (default: the same name)


def found_column(rule: Rule, column: str) -> str:
    """The flag quality.references adds for an exists_in rule: whether `column`'s value is in the table."""
    return f"_{rule.name}__{column}__found"


class ExistsIn(CheckKind):
    """Referential integrity via a join (quality.references), never a collected list of keys."""

    name = "exists_in"
    row = True
    Args = ExistsInArgs

    def holds(self, rule, column, ctx):
        return F.col(found_column(rule, column))

    def read_column(self, rule, column):
        return found_column(rule, column)

    def judged_value(self, rule, column, ctx):
        return self.holds(rule, column, ctx)

    def expectation(self, rule, target, ctx, meta):
        # on the flag: NULL where the value is NULL, as GE ignores those
        return gxe.ExpectColumnValuesToBeInSet(column=target, value_set=[True], meta=meta)


def key_rows_column(rule: Rule) -> str:
    """The column quality.forms.with_key_counts adds for a unique rule: how many judged rows share the row's key."""
    return f"_{rule.name}__rows"


class UniqueArgs(Frozen):
    among: tuple[str, ...] | None = None  # judge only rows with these outcomes


class Unique(CheckKind):
    """No repeated key: checked as count <= 1 on a per-row count of the rows sharing the key."""

    name = "unique"
    row = False
    Args = UniqueArgs
    targets = "columns"

    def table_expectation(self, rule, ctx, meta):
        meta = {**meta, "column": ",".join(rule.columns), "key_count": True}
        return gxe.ExpectColumnValuesToBeBetween(column=key_rows_column(rule), max_value=1, meta=meta)


class ColumnsArgs(Frozen):
    names: tuple[str, ...]


class Columns(CheckKind):
    name = "columns"
    row = False
    Args = ColumnsArgs
    targets = "none"

    def table_expectation(self, rule, ctx, meta):
        return gxe.ExpectTableColumnsToMatchSet(column_set=list(rule.args.names), exact_match=False, meta=meta)


class VolumeArgs(Frozen):
    lookback: int = Field(ge=1)
    min_ratio: float = Field(gt=0)
    max_ratio: float = Field(gt=0)


class Volume(CheckKind):
    """Rows per platform and delivery against the median of its earlier deliveries (quality.baselines)."""

    name = "volume"
    row = False
    Args = VolumeArgs
    targets = "none"

    def table_expectation(self, rule, ctx, meta):
        return gxe.ExpectColumnValuesToBeBetween(
            column="ratio",
            min_value=rule.args.min_ratio,
            max_value=rule.args.max_ratio,
            meta={**meta, "column": "ratio"},
        )


class ProvinceShareArgs(Frozen):
    max_change_pp: float = Field(gt=0)


class ProvinceShare(CheckKind):
    """Each province's share of the batch's active enterprises against the previous batch (quality.baselines)."""

    name = "province_share"
    row = False
    Args = ProvinceShareArgs
    targets = "none"

    def table_expectation(self, rule, ctx, meta):
        return gxe.ExpectColumnValuesToBeBetween(
            column="change_pp", max_value=rule.args.max_change_pp, meta={**meta, "column": "change_pp"}
        )


def _registry(*kinds: Callable[[], CheckKind]) -> dict[str, CheckKind]:
    return {k.name: k() for k in kinds}


CHECKS: dict[str, CheckKind] = _registry(
    NotNull,
    IsNull,
    Between,
    InWindow,
    NotAfter,
    InSet,
    CreditCode,
    WholeNumber,
    ExistsIn,
    Unique,
    Columns,
    Volume,
    ProvinceShare,
)
PRESENCE_CHECKS = tuple(name for name, kind in CHECKS.items() if isinstance(kind, _Presence))


def kind_of(name: str) -> CheckKind:
    """The check kind called `name`; a name not in the registry is refused."""
    if name not in CHECKS:
        raise ValueError(f"unknown check {name!r} (known: {', '.join(sorted(CHECKS))})")
    return CHECKS[name]

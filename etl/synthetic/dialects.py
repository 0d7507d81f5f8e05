"""Render canonical rows the way each platform's contract says it writes them.

The inverse of ingestion's conform step: field names, timestamp convention, units,
code vocabularies, and the text-level faults (malformed lines, unparseable values,
renamed or extra columns) that only exist once a row is written down.

The lines are assembled as SQL text and parsed once per feed (`F.expr`): built from
Column functions, the CASE over 34 platforms, their faults and drifts took ~18,000 Py4J
round trips (4-5 s of driver time) for an expression Spark parses in milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from etl.config import Contract, Feeds
from etl.synthetic.faults import TARGET_MEASURE
from etl.synthetic.rand import lookup, sql_literal

INVALID_TIMESTAMP_TEXT = "2020-13-45 25:61:00"
INVALID_NUMBER_TEXT = "N/A"
EXTRA_FIELD, EXTRA_VALUE = "remark", "v2"
RENAMED_SUFFIX = "_v2"
# Canonical field -> the column of the canonical rows it is rendered from.
SOURCE_COLUMN = {"sector": "section_code", "sub_industry": "sub_industry_id"}


def _timestamp(ts: Column, contract: Contract) -> Column:
    if contract.timestamp.convention == "epoch_millis":
        return F.unix_millis(ts)
    return F.date_format(F.from_utc_timestamp(ts, contract.timestamp.timezone), contract.timestamp.format)


def _factor(feeds: Feeds, unit_kind: str, contract: Contract) -> float:
    unit = contract.units.get(unit_kind, feeds.canonical_unit(unit_kind))
    return feeds.units[unit_kind][unit]


class SharedValues:
    """Value expressions that many platforms write alike, computed once per row as hidden columns.

    34 platforms share a handful of conventions (epoch millis or one local format, a few
    units and vocabularies). Rendered per platform, every branch of the line's CASE would
    repeat them; hoisted, a branch only assembles columns, so the projection stays small
    enough for Spark to compile (whole-stage codegen) and cheap to plan.
    """

    def __init__(self) -> None:
        self._values: dict[tuple, tuple[str, Column]] = {}

    def get(self, key: tuple, build: Callable[[], Column]) -> str:
        """The hidden column (its SQL name) that holds the value `build` makes."""
        if key not in self._values:
            self._values[key] = (f"_shared_{len(self._values)}", build())
        return self._values[key][0]

    def add_to(self, rows: DataFrame) -> DataFrame:
        """`rows` with every shared value the renderers asked for so far (ask first, then add)."""
        return rows.select("*", *[expr.alias(name) for name, expr in self._values.values()])


def _identifier(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _named_struct(values: list[str], names: list[str]) -> str:
    return "named_struct(" + ", ".join(f"{sql_literal(n)}, {v}" for v, n in zip(values, names, strict=True)) + ")"


def _case(branches: list[tuple[str, str]], otherwise: str | None = None) -> str:
    whens = " ".join(f"WHEN {cond} THEN {value}" for cond, value in branches)
    return f"CASE {whens}{f' ELSE {otherwise}' if otherwise is not None else ''} END"


class Renderer:
    """Per-platform value expressions (SQL text) for one feed; values shared with other platforms come from `shared`."""

    def __init__(
        self,
        feeds: Feeds,
        contract: Contract,
        feed: str,
        sections_zh: dict[str, str],
        sub_industries_zh: dict[str, str],
        shared: SharedValues | None = None,
    ):
        self.feeds, self.contract, self.feed = feeds, contract, feed
        self.spec = feeds.feeds[feed]
        self.sections_zh, self.sub_industries_zh = sections_zh, sub_industries_zh
        self.shared = shared or SharedValues()
        self._values: list[str] | None = None  # built once: a line's variants reuse them

    def names(self, drift: str | None = None) -> list[str]:
        mapping = self.contract.fields[self.feed]
        names = [mapping[c] for c in self.spec.fields]
        if drift == "rename":
            names[0] += RENAMED_SUFFIX  # the tenant id / first field
        if drift == "extra":
            names.append(EXTRA_FIELD)
        return names

    def typed(self, canonical: str) -> str:
        """The field's value as this platform writes it (before text rendering), as SQL."""
        field = self.spec.fields[canonical]
        name = SOURCE_COLUMN.get(canonical, canonical)
        col = F.col(name)
        share = self.shared.get
        if field.kind == "timestamp":
            ts = self.contract.timestamp
            return share(
                (name, "timestamp", ts.convention, ts.timezone, ts.format), lambda: _timestamp(col, self.contract)
            )
        if canonical == "sector" and self.contract.codes.sector == "name_zh":
            return share((name, "name_zh"), lambda: lookup(col, self.sections_zh))
        if canonical == "sub_industry" and self.contract.codes.sub_industry == "name_zh":
            return share((name, "name_zh"), lambda: lookup(col, self.sub_industries_zh))
        if canonical == "resource_kind":
            codes = self.contract.codes.resource_kind
            return share((name, "codes", tuple(sorted(codes.items()))), lambda: lookup(col, codes))
        if field.kind == "integer":
            return share((name, "long"), lambda: col.cast("long"))
        if field.kind == "measure":
            if field.unit_by:
                factors = {
                    k: _factor(self.feeds, rk.unit_kind, self.contract) for k, rk in self.feeds.resource_kinds.items()
                }
                return share(
                    (name, "per", field.unit_by, tuple(sorted(factors.items()))),
                    lambda: col / lookup(F.col(field.unit_by), factors),
                )
            factor = _factor(self.feeds, field.unit_kind, self.contract)
            return (
                share((name, "long"), lambda: col.cast("long"))
                if factor == 1
                else share((name, "factor", factor), lambda: col / F.lit(factor))
            )
        return _identifier(name)

    def values(self) -> list[str]:
        """The typed value of every field, in the feed's field order."""
        if self._values is None:
            self._values = [self.typed(c) for c in self.spec.fields]
        return self._values

    def strings(self, fault: str | None = None) -> list[str]:
        values = []
        for (canonical, field), value in zip(self.spec.fields.items(), self.values(), strict=True):
            if fault == "invalid_timestamp" and field.kind == "timestamp":
                values.append(sql_literal(INVALID_TIMESTAMP_TEXT))
            elif fault == "invalid_number" and canonical == TARGET_MEASURE.get(self.feed):
                values.append(sql_literal(INVALID_NUMBER_TEXT))
            else:
                values.append(f"CAST({value} AS STRING)")
        return values

    def _typed_struct(self, drift: str | None = None) -> str:
        values = list(self.values())
        if drift == "extra":
            values.append(sql_literal(EXTRA_VALUE))
        return _named_struct(values, self.names(drift))

    def typed_struct(self, drift: str | None = None) -> Column:
        """The row as this platform's typed record (its Parquet files' columns)."""
        return F.expr(self._typed_struct(drift))

    def _csv(self, values: list[str]) -> str:
        return (
            f"to_csv({_named_struct(values, [f'c{i}' for i in range(len(values))])}, map('sep', "
            f"{sql_literal(self.contract.delimiter)}))"
        )

    def line(self, drift_kinds: set[str]) -> str:
        """The delivered line of each row (SQL), with its fault and its delivery's drift applied."""
        if self.contract.format == "jsonl":
            normal = f"to_json({self._typed_struct()})"
            bad_ts = f"to_json({_named_struct(self.strings('invalid_timestamp'), self.names())})"
            bad_num = f"to_json({_named_struct(self.strings('invalid_number'), self.names())})"
            malformed = f"substring({normal}, 1, CAST(length({normal}) * 0.6D AS INT))"
            variants = {d: f"to_json({self._typed_struct(d)})" for d in drift_kinds}
        else:
            values = self.strings()
            normal = self._csv(values)
            bad_ts, bad_num = self._csv(self.strings("invalid_timestamp")), self._csv(self.strings("invalid_number"))
            malformed = f"concat_ws({sql_literal(self.contract.delimiter)}, {', '.join(values[:2])})"  # too few fields
            variants = {"rename": normal, "extra": self._csv([*values, sql_literal(EXTRA_VALUE)])}
            variants = {d: variants[d] for d in drift_kinds}
        faults = [
            (f"`fault` = {sql_literal(f)}", v)
            for f, v in (("malformed_record", malformed), ("invalid_timestamp", bad_ts), ("invalid_number", bad_num))
        ]
        drifts = [(f"`drift` = {sql_literal(kind)}", variant) for kind, variant in variants.items()]
        return _case(faults + drifts, normal)

    def header(self, drift: str | None = None) -> str:
        return self.contract.delimiter.join(self.names(drift))


def render_text(renderers: dict[str, Renderer], drift_platforms: dict[str, set[str]]) -> Column:
    """CASE over platforms: the line each text-format platform writes for a row."""
    if not renderers:
        return F.lit(None).cast("string")
    return F.expr(
        _case(
            [
                (f"`platform_id` = {sql_literal(pid)}", r.line(drift_platforms.get(pid, set())))
                for pid, r in sorted(renderers.items())
            ]
        )
    )

"""Render canonical rows the way each platform's contract says it writes them.

The inverse of ingestion's conform step: field names, timestamp convention, units,
code vocabularies, and the text-level faults (malformed lines, unparseable values,
renamed or extra columns) that only exist once a row is written down.
"""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from etl.config import Contract, Feeds
from etl.synthetic.faults import TARGET_MEASURE
from etl.synthetic.rand import lookup

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

    def get(self, key: tuple, build: Callable[[], Column]) -> Column:
        if key not in self._values:
            self._values[key] = (f"_shared_{len(self._values)}", build())
        return F.col(self._values[key][0])

    def add_to(self, rows: DataFrame) -> DataFrame:
        """`rows` with every shared value the renderers asked for so far (ask first, then add)."""
        return rows.select("*", *[expr.alias(name) for name, expr in self._values.values()])


class Renderer:
    """Per-platform value expressions for one feed; values shared with other platforms come from `shared`."""

    def __init__(self, feeds: Feeds, contract: Contract, feed: str, sections_zh: dict[str, str], sub_industries_zh: dict[str, str], shared: SharedValues | None = None):
        self.feeds, self.contract, self.feed = feeds, contract, feed
        self.spec = feeds.feeds[feed]
        self.sections_zh, self.sub_industries_zh = sections_zh, sub_industries_zh
        self.shared = shared or SharedValues()
        # built once: a line's variants reuse them (every Column function is a JVM round trip)
        self._values: list[Column] | None = None
        self._strings: list[Column] | None = None

    def names(self, drift: str | None = None) -> list[str]:
        mapping = self.contract.fields[self.feed]
        names = [mapping[c] for c in self.spec.fields]
        if drift == "rename":
            names[0] += RENAMED_SUFFIX  # the tenant id / first field
        if drift == "extra":
            names.append(EXTRA_FIELD)
        return names

    def typed(self, canonical: str) -> Column:
        """The field's value as this platform writes it (before text rendering)."""
        field = self.spec.fields[canonical]
        name = SOURCE_COLUMN.get(canonical, canonical)
        col = F.col(name)
        share = self.shared.get
        if field.kind == "timestamp":
            ts = self.contract.timestamp
            return share((name, "timestamp", ts.convention, ts.timezone, ts.format), lambda: _timestamp(col, self.contract))
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
                factors = {k: _factor(self.feeds, rk.unit_kind, self.contract) for k, rk in self.feeds.resource_kinds.items()}
                return share((name, "per", field.unit_by, tuple(sorted(factors.items()))), lambda: col / lookup(F.col(field.unit_by), factors))
            factor = _factor(self.feeds, field.unit_kind, self.contract)
            return share((name, "long"), lambda: col.cast("long")) if factor == 1 else share((name, "factor", factor), lambda: col / F.lit(factor))
        return col

    def values(self) -> list[Column]:
        """The typed value of every field, in the feed's field order."""
        if self._values is None:
            self._values = [self.typed(c) for c in self.spec.fields]
        return self._values

    def strings(self, fault: str | None = None) -> list[Column]:
        if self._strings is None:
            self._strings = [v.cast("string") for v in self.values()]
        values = []
        for (canonical, field), value in zip(self.spec.fields.items(), self._strings, strict=True):
            if fault == "invalid_timestamp" and field.kind == "timestamp":
                value = F.lit(INVALID_TIMESTAMP_TEXT)
            if fault == "invalid_number" and canonical == TARGET_MEASURE.get(self.feed):
                value = F.lit(INVALID_NUMBER_TEXT)
            values.append(value)
        return values

    def typed_struct(self, drift: str | None = None) -> Column:
        values = list(self.values())
        if drift == "extra":
            values.append(F.lit(EXTRA_VALUE))
        return F.struct(*[v.alias(n) for v, n in zip(values, self.names(drift), strict=True)])

    def _csv(self, values: list[Column]) -> Column:
        return F.to_csv(F.struct(*[v.alias(f"c{i}") for i, v in enumerate(values)]), {"sep": self.contract.delimiter})

    def line(self, drift_kinds: set[str]) -> Column:
        """The delivered line of each row, with its fault and its delivery's drift applied."""
        fault = F.col("fault")
        if self.contract.format == "jsonl":
            normal = F.to_json(self.typed_struct())
            bad_ts = F.to_json(F.struct(*[v.alias(n) for v, n in zip(self.strings("invalid_timestamp"), self.names(), strict=True)]))
            bad_num = F.to_json(F.struct(*[v.alias(n) for v, n in zip(self.strings("invalid_number"), self.names(), strict=True)]))
            malformed = F.substring(normal, 1, (F.length(normal) * 0.6).cast("int"))
            variants = {d: F.to_json(self.typed_struct(d)) for d in drift_kinds}
        else:
            values = self.strings()
            normal = self._csv(values)
            bad_ts, bad_num = self._csv(self.strings("invalid_timestamp")), self._csv(self.strings("invalid_number"))
            malformed = F.concat_ws(self.contract.delimiter, *values[:2])  # too few fields
            variants = {"rename": normal, "extra": self._csv([*values, F.lit(EXTRA_VALUE)])}
            variants = {d: variants[d] for d in drift_kinds}
        expr = F.when(fault == "malformed_record", malformed).when(fault == "invalid_timestamp", bad_ts).when(fault == "invalid_number", bad_num)
        for kind, variant in variants.items():
            expr = expr.when(F.col("drift") == kind, variant)
        return expr.otherwise(normal)

    def header(self, drift: str | None = None) -> str:
        return self.contract.delimiter.join(self.names(drift))


def render_text(renderers: dict[str, Renderer], drift_platforms: dict[str, set[str]]) -> Column:
    """CASE over platforms: the line each text-format platform writes for a row."""
    expr = None
    for pid, r in sorted(renderers.items()):
        line = r.line(drift_platforms.get(pid, set()))
        expr = F.when(F.col("platform_id") == pid, line) if expr is None else expr.when(F.col("platform_id") == pid, line)
    return expr



"""Bronze -> silver: typed canonical rows, or a quarantine reason.

`conform_*` are pure transforms: they add typed columns and `reason_code` /
`reason_detail` (NULL when the row is good). Checks run in a fixed order and the
first failure is the reason, so every bad row has exactly one.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from etl import credit_code
from etl.config import Contract, Feeds, Pipeline
from etl.pseudonym import hmac_sha256_hex

KEY_SEPARATOR = "\u001f"


@dataclass(frozen=True)
class ConformContext:
    """What conforming needs besides the rows: contracts, units, limits, vocabularies."""

    pipeline: Pipeline
    feeds: Feeds
    contracts: dict[str, Contract]
    sections: dict[str, str]  # letter -> name_zh
    sub_industries: dict[str, str]  # id -> name_zh


def _by_platform(values: dict[str, object], default: object = None) -> Column:
    if not values:
        return F.lit(default)
    return F.coalesce(F.element_at(F.create_map(*[x for k, v in values.items() for x in (F.lit(k), F.lit(v))]), F.col("platform_id")), F.lit(default))


def parse_timestamp(text: Column, contracts: dict[str, Contract]) -> Column:
    """UTC timestamp from each platform's convention; NULL when the text does not parse."""
    groups: dict[tuple, list[str]] = defaultdict(list)
    for pid, c in contracts.items():
        groups[(c.timestamp.convention, c.timestamp.format, c.timestamp.timezone)].append(pid)
    expr = None
    for (convention, fmt, tz), pids in sorted(groups.items(), key=lambda kv: str(kv[0])):
        if convention == "epoch_millis":
            parsed = F.timestamp_millis(text.try_cast("bigint"))
        else:
            parsed = F.to_utc_timestamp(F.try_to_timestamp(text, F.lit(fmt)), tz)
        cond = F.col("platform_id").isin(pids)
        expr = F.when(cond, parsed) if expr is None else expr.when(cond, parsed)
    return expr


def parse_number(text: Column) -> Column:
    """A finite double, or NULL."""
    value = F.trim(text).try_cast("double")
    return F.when(~F.isnan(value) & (F.abs(value) != F.lit(float("inf"))), value)


def _reason(checks: list[tuple[Column, str, Column | None]]) -> tuple[Column, Column]:
    """The first failing check's code and detail; checks are (failed, code, detail)."""
    code, detail = None, None
    for failed, name, info in checks:
        cond = F.coalesce(failed, F.lit(False))
        code = F.when(cond, F.lit(name)) if code is None else code.when(cond, F.lit(name))
        value = info if info is not None else F.lit(None).cast("string")
        detail = F.when(cond, value) if detail is None else detail.when(cond, value)
    return code, detail


def _common_checks(ctx: ConformContext) -> list[tuple[Column, str, Column | None]]:
    checks = [
        (F.col("parse_error").isNotNull(), "malformed_record", F.lit("record does not parse in the contract's format")),
        (F.size("missing_fields") > 0, "missing_field", F.concat(F.lit("missing: "), F.array_join("missing_fields", ", "))),
    ]
    if ctx.pipeline.ingest.unexpected_fields == "quarantine":
        checks.append((F.size("extra_fields") > 0, "unexpected_field", F.concat(F.lit("not in contract: "), F.array_join(F.map_keys("extra_fields"), ", "))))
    return checks


def _delivery_end_utc(ctx: ConformContext) -> Column:
    """End of the delivery day in the window's time zone, plus the allowed clock skew."""
    end = F.to_utc_timestamp(F.date_add("delivery_date", 1).cast("timestamp"), ctx.pipeline.window.timezone)
    return end + F.make_dt_interval(F.lit(0), F.lit(0), F.lit(0), F.lit(ctx.pipeline.ingest.future_tolerance_hours * 3600.0))


def _event_checks(ctx: ConformContext) -> list[tuple[Column, str, Column | None]]:
    w = ctx.pipeline.window
    ts = F.col("event_ts_parsed")
    return [
        (F.col("credit_code").isNull(), "unknown_tenant", F.concat(F.lit("tenant not in roster: "), F.col("tenant_id"))),
        (ts.isNull(), "invalid_timestamp", F.concat(F.lit("cannot read time: "), F.col("event_ts"))),
        (ts > _delivery_end_utc(ctx), "timestamp_in_future", F.concat(F.lit("after its delivery day: "), ts.cast("string"))),
        ((ts < F.lit(w.start_utc())) | (ts >= F.lit(w.end_utc())), "timestamp_out_of_window", F.concat(F.lit("outside the window: "), ts.cast("string"))),
    ]


def _measure_checks(name: str, value: Column, text: Column, limit: Column) -> list[tuple[Column, str, Column | None]]:
    return [
        (value.isNull(), "invalid_number", F.concat(F.lit(f"{name} is not a number: "), F.coalesce(text, F.lit("NULL")))),
        (value < 0, "negative_value", F.concat(F.lit(f"{name} < 0: "), value.cast("string"))),
        (value > limit, "implausible_value", F.concat(F.lit(f"{name} above its plausible maximum: "), value.cast("string"))),
    ]


def _event_date(ts: Column, ctx: ConformContext) -> Column:
    return F.to_date(F.from_utc_timestamp(ts, ctx.pipeline.window.timezone))


def record_key(*values: Column) -> Column:
    """SHA-256 of the platform and the natural key, as text: equal keys mean the same record."""
    return F.sha2(F.concat_ws(KEY_SEPARATOR, F.col("platform_id"), *[F.coalesce(v.cast("string"), F.lit("")) for v in values]), 256)


def _lineage() -> list[Column]:
    return [F.col("source_file"), F.col("delivery_date"), F.col("batch_id"), F.col("ingested_at"), F.col("raw_record")]


def conform_roster(bronze: DataFrame, ctx: ConformContext) -> DataFrame:
    letter = {pid: c.codes.sector == "letter" for pid, c in ctx.contracts.items()}
    by_id = {pid: c.codes.sub_industry == "id" for pid, c in ctx.contracts.items()}
    section_by_name = {v: k for k, v in ctx.sections.items()}
    sub_by_name = {v: k for k, v in ctx.sub_industries.items()}
    sector = F.trim("sector")
    sub = F.trim("sub_industry")
    section_code = F.when(_by_platform(letter, True), F.when(sector.isin(list(ctx.sections)), sector)).otherwise(
        F.element_at(F.create_map(*[x for k, v in section_by_name.items() for x in (F.lit(k), F.lit(v))]), sector)
    )
    sub_id = F.when(_by_platform(by_id, True), F.when(sub.isin(list(ctx.sub_industries)), sub)).otherwise(
        F.element_at(F.create_map(*[x for k, v in sub_by_name.items() for x in (F.lit(k), F.lit(v))]), sub)
    )
    code = F.upper(F.trim("credit_code"))
    problem = credit_code.problem_col(code)
    typed = bronze.select(
        "*",
        code.alias("credit_code_clean"),
        problem.alias("credit_code_problem"),
        section_code.alias("section_code"),
        sub_id.alias("sub_industry_id"),
        parse_timestamp(F.col("registered_at"), ctx.contracts).alias("registered_at_parsed"),
    )
    reason, detail = _reason(
        [
            *_common_checks(ctx),
            (F.col("credit_code_problem").isNotNull(), "invalid_credit_code", F.concat(F.col("credit_code_problem"), F.lit(": "), F.coalesce("credit_code", F.lit("NULL")))),
            (F.col("registered_at_parsed").isNull(), "invalid_timestamp", F.concat(F.lit("cannot read time: "), F.col("registered_at"))),
            (F.col("registered_at_parsed") > _delivery_end_utc(ctx), "timestamp_in_future", F.col("registered_at_parsed").cast("string")),
            (F.col("section_code").isNull(), "unknown_code", F.concat(F.lit("unknown sector: "), F.coalesce("sector", F.lit("NULL")))),
            (F.col("sub_industry_id").isNull(), "unknown_code", F.concat(F.lit("unknown sub-industry: "), F.coalesce("sub_industry", F.lit("NULL")))),
        ]
    )
    return typed.select(
        "platform_id",
        F.trim("tenant_id").alias("tenant_id"),
        F.col("credit_code_clean").alias("credit_code"),
        F.trim("company_name").alias("company_name"),
        "section_code",
        "sub_industry_id",
        F.col("registered_at_parsed").alias("registered_at"),
        record_key(F.trim("tenant_id")).alias("record_key"),
        F.sha2(F.concat_ws(KEY_SEPARATOR, "credit_code_clean", F.trim("company_name"), "section_code", "sub_industry_id", F.col("registered_at_parsed").cast("string")), 256).alias("content_hash"),
        *_lineage(),
        reason.alias("reason_code"),
        detail.alias("reason_detail"),
    )


def _with_tenant(bronze: DataFrame, roster: DataFrame) -> DataFrame:
    tenants = roster.select("platform_id", "tenant_id", "credit_code")
    return bronze.withColumn("tenant_id", F.trim("tenant_id")).join(tenants, on=["platform_id", "tenant_id"], how="left")


def conform_logins(bronze: DataFrame, roster: DataFrame, ctx: ConformContext, pseudonym_key: bytes) -> DataFrame:
    typed = _with_tenant(bronze, roster).withColumn("event_ts_parsed", parse_timestamp(F.col("event_ts"), ctx.contracts))
    reason, detail = _reason([*_common_checks(ctx), *_event_checks(ctx)])
    user = F.concat_ws(":", F.col("platform_id"), F.trim("user_id"))
    return typed.select(
        "platform_id",
        "tenant_id",
        "credit_code",
        hmac_sha256_hex(user, pseudonym_key).alias("user_key"),
        F.col("event_ts_parsed").alias("event_ts"),
        _event_date(F.col("event_ts_parsed"), ctx).alias("event_date"),
        F.trim("channel").alias("channel"),
        record_key(F.col("tenant_id"), F.trim("user_id"), F.col("event_ts_parsed")).alias("record_key"),
        *_lineage(),
        reason.alias("reason_code"),
        detail.alias("reason_detail"),
    )


def conform_resource_usage(bronze: DataFrame, roster: DataFrame, ctx: ConformContext) -> DataFrame:
    limits = ctx.pipeline.limits.model_dump()
    vocab = {f"{pid}|{v}": k for pid, c in ctx.contracts.items() for k, v in c.codes.resource_kind.items()}
    factor = {
        f"{pid}|{k}": ctx.feeds.units[rk.unit_kind][c.units.get(rk.unit_kind, ctx.feeds.canonical_unit(rk.unit_kind))]
        for pid, c in ctx.contracts.items()
        for k, rk in ctx.feeds.resource_kinds.items()
    }
    kind_limit = {k: float(limits[rk.limit]) for k, rk in ctx.feeds.resource_kinds.items()}
    kind_unit = {k: ctx.feeds.canonical_unit(rk.unit_kind) for k, rk in ctx.feeds.resource_kinds.items()}

    def lookup(table: dict, key: Column) -> Column:
        return F.element_at(F.create_map(*[x for k, v in table.items() for x in (F.lit(k), F.lit(v))]), key)

    kind = lookup(vocab, F.concat_ws("|", "platform_id", F.trim("resource_kind")))
    typed = (
        _with_tenant(bronze, roster)
        .withColumn("event_ts_parsed", parse_timestamp(F.col("event_ts"), ctx.contracts))
        .withColumn("kind", kind)
        .withColumn("quantity_value", parse_number(F.col("quantity")) * lookup(factor, F.concat_ws("|", "platform_id", "kind")))
    )
    reason, detail = _reason(
        [
            *_common_checks(ctx),
            *_event_checks(ctx),
            (F.col("kind").isNull(), "unknown_code", F.concat(F.lit("unknown resource kind: "), F.coalesce("resource_kind", F.lit("NULL")))),
            *_measure_checks("quantity", F.col("quantity_value"), F.col("quantity"), lookup(kind_limit, F.col("kind"))),
        ]
    )
    app = F.nullif(F.trim("app_id"), F.lit(""))
    return typed.select(
        "platform_id",
        "tenant_id",
        "credit_code",
        F.col("event_ts_parsed").alias("event_ts"),
        _event_date(F.col("event_ts_parsed"), ctx).alias("event_date"),
        F.col("kind").alias("resource_kind"),
        app.alias("app_id"),
        F.col("quantity_value").alias("quantity"),
        lookup(kind_unit, F.col("kind")).alias("unit"),
        record_key(F.col("tenant_id"), F.col("event_ts_parsed"), F.col("kind"), app).alias("record_key"),
        *_lineage(),
        reason.alias("reason_code"),
        detail.alias("reason_detail"),
    )


def conform_traffic(bronze: DataFrame, roster: DataFrame, ctx: ConformContext) -> DataFrame:
    limits = ctx.pipeline.limits
    factor = {pid: ctx.feeds.units["bytes"][c.units.get("bytes", "bytes")] for pid, c in ctx.contracts.items()}
    scale = _by_platform(factor, 1.0)
    typed = (
        _with_tenant(bronze, roster)
        .withColumn("event_ts_parsed", parse_timestamp(F.col("event_ts"), ctx.contracts))
        .withColumn("bytes_in_value", F.round(parse_number(F.col("bytes_in")) * scale))
        .withColumn("bytes_out_value", F.round(parse_number(F.col("bytes_out")) * scale))
        .withColumn("requests_value", parse_number(F.col("requests")))
    )
    reason, detail = _reason(
        [
            *_common_checks(ctx),
            *_event_checks(ctx),
            *_measure_checks("bytes_in", F.col("bytes_in_value"), F.col("bytes_in"), F.lit(limits.traffic_bytes)),
            *_measure_checks("bytes_out", F.col("bytes_out_value"), F.col("bytes_out"), F.lit(limits.traffic_bytes)),
            *_measure_checks("requests", F.col("requests_value"), F.col("requests"), F.lit(limits.requests)),
            (F.col("requests_value") != F.floor("requests_value"), "invalid_number", F.concat(F.lit("requests is not a whole number: "), F.col("requests"))),
        ]
    )
    return typed.select(
        "platform_id",
        "tenant_id",
        "credit_code",
        F.col("event_ts_parsed").alias("event_ts"),
        _event_date(F.col("event_ts_parsed"), ctx).alias("event_date"),
        F.col("bytes_in_value").cast("bigint").alias("bytes_in"),
        F.col("bytes_out_value").cast("bigint").alias("bytes_out"),
        F.col("requests_value").cast("bigint").alias("requests"),
        record_key(F.col("tenant_id"), F.col("event_ts_parsed")).alias("record_key"),
        *_lineage(),
        reason.alias("reason_code"),
        detail.alias("reason_detail"),
    )

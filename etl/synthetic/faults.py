"""Known faults injected into the canonical rows, each row labelled with the outcome ingestion must reach.

`outcome` is `silver` for a row that must land in silver, `duplicate` for a copy that
must be removed as a duplicate, or the quarantine reason code. Row faults are
exclusive (at most one per row), so the expected counts are exact.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from etl import credit_code
from etl.config import RowFaults
from etl.synthetic.rand import lookup, uniform

TEXT_ONLY = frozenset({"malformed_record", "invalid_timestamp", "invalid_number"})
APPLICABLE = {
    # A lost roster row would turn its tenant's log rows into unknown_tenant too; rosters get duplicates only.
    "roster": ("duplicate_record",),
    "logins": (
        "duplicate_record",
        "malformed_record",
        "unknown_tenant",
        "invalid_timestamp",
        "timestamp_out_of_window",
        "timestamp_in_future",
    ),
    "resource_usage": tuple(RowFaults.model_fields),
    "traffic": tuple(RowFaults.model_fields),
}
# The numeric field that value faults hit, per feed.
TARGET_MEASURE = {"resource_usage": "quantity", "traffic": "bytes_in"}
RESEND_PART, ORIGINAL_PART = "resend", "00"  # part of the first generation pass
OUT_OF_WINDOW_SHIFT_S = -400 * 86400
FUTURE_SHIFT_S = 3 * 365 * 86400


@dataclass(frozen=True)
class Delivery:
    platform_id: str
    feed: str
    delivery_date: str  # yyyy-MM-dd


@dataclass(frozen=True)
class FileFaults:
    resend: frozenset[Delivery]
    rename: frozenset[Delivery]
    extra: frozenset[Delivery]

    @classmethod
    def none(cls) -> FileFaults:
        return cls(frozenset(), frozenset(), frozenset())

    def drift_kind(self, feed: str) -> Column:
        """'rename', 'extra' or NULL for each row of `feed`, from its platform and delivery date."""
        kinds = {
            f"{d.platform_id}|{d.delivery_date}": kind
            for kind, ds in (("rename", self.rename), ("extra", self.extra))
            for d in ds
            if d.feed == feed
        }
        return (
            lookup(F.concat_ws("|", "platform_id", F.col("delivery_date").cast("string")), kinds)
            if kinds
            else F.lit(None).cast("string")
        )


def choose_file_faults(
    deliveries: list[Delivery], text_platforms: set[str], counts: tuple[int, int, int], seed: int
) -> FileFaults:
    """Pick the redelivered and drifted deliveries deterministically (drift only in text formats)."""
    import hashlib

    def key(d: Delivery) -> str:
        return hashlib.sha256(f"{seed}|{d.platform_id}|{d.feed}|{d.delivery_date}".encode()).hexdigest()

    ordered = sorted(deliveries, key=key)
    n_resend, n_rename, n_extra = counts
    drift_pool = [d for d in ordered if d.platform_id in text_platforms]
    rename = drift_pool[:n_rename]
    extra = drift_pool[n_rename : n_rename + n_extra]
    taken = set(rename) | set(extra)
    resend = [d for d in ordered if d not in taken][:n_resend]
    return FileFaults(frozenset(resend), frozenset(rename), frozenset(extra))


def _fault_case(u: Column, names: tuple[str, ...], rates: RowFaults) -> Column:
    expr, cumulative = None, 0.0
    for name in names:
        cumulative += getattr(rates, name)
        expr = F.when(u < cumulative, F.lit(name)) if expr is None else expr.when(u < cumulative, F.lit(name))
    return F.lit("none") if expr is None else expr.otherwise(F.lit("none"))


def assign(
    rows: DataFrame, feed: str, rates: RowFaults, text_platforms: set[str], files: FileFaults, seed: int
) -> DataFrame:
    """Label every row with a fault (or 'none') and the outcome it must reach; drifted deliveries carry no row
    faults."""
    names = APPLICABLE[feed]
    u = uniform(seed, "fault", F.lit(feed), F.col("rid"))
    is_text = F.col("platform_id").isin(sorted(text_platforms))
    fault = F.when(is_text, _fault_case(u, names, rates)).otherwise(
        _fault_case(u, tuple(n for n in names if n not in TEXT_ONLY), rates)
    )
    drift = files.drift_kind(feed)
    return (
        rows.withColumn("drift", drift)
        .withColumn("fault", F.when(F.col("drift").isNotNull(), F.lit("none")).otherwise(fault))
        .withColumn(
            "outcome",
            F.when(F.col("drift") == "rename", F.lit("missing_field"))
            .when(F.col("drift") == "extra", F.lit("unexpected_field"))
            .when(F.col("fault").isin("none", "duplicate_record"), F.lit("silver"))
            .otherwise(F.col("fault")),
        )
    )


def _shift(ts: Column, seconds: int) -> Column:
    return F.timestamp_seconds(F.unix_seconds(ts) + F.lit(seconds))


def apply_values(rows: DataFrame, feed: str, limits: dict[str, float], resource_limits: dict[str, float]) -> DataFrame:
    """Change canonical values as each fault requires (text-level faults are applied when rendering)."""
    fault = F.col("fault")
    out = rows
    if feed != "roster":
        out = out.withColumn(
            "tenant_id",
            F.when(
                fault == "unknown_tenant",
                F.concat(
                    F.split("tenant_id", "-").getItem(0),
                    F.lit("-zz"),
                    F.lpad(F.pmod("rid", F.lit(10**8)).cast("string"), 8, "0"),
                ),
            ).otherwise(F.col("tenant_id")),
        ).withColumn(
            "event_ts",
            F.when(fault == "timestamp_out_of_window", _shift(F.col("event_ts"), OUT_OF_WINDOW_SHIFT_S))
            .when(fault == "timestamp_in_future", _shift(F.col("event_ts"), FUTURE_SHIFT_S))
            .otherwise(F.col("event_ts")),
        )
    target = TARGET_MEASURE.get(feed)
    if target:
        limit = (
            lookup(F.col("resource_kind"), resource_limits)
            if feed == "resource_usage"
            else F.lit(limits["traffic_bytes"])
        )
        out = out.withColumn(
            target,
            F.when(fault == "negative_value", -F.col(target))
            .when(fault == "implausible_value", limit * 10)
            .otherwise(F.col(target)),
        )
    return out


def part_name(chunk: int) -> str:
    """The part file a generation pass writes of each delivery: 00, 01, ..."""
    return f"{chunk:02d}"


def expand_copies(rows: DataFrame, files: FileFaults, feed: str, part: str = ORIGINAL_PART) -> DataFrame:
    """Add the duplicate copies of duplicate_record rows and the whole redelivered files (as part `resend`).

    A generator, not a union: the render projection above stays one expression (Spark
    pushes a projection into every branch of a union, and this one is large).
    """
    resent = [f"{d.platform_id}|{d.delivery_date}" for d in files.resend if d.feed == feed]
    is_dup = F.col("fault") == "duplicate_record"
    again = (
        F.concat_ws("|", "platform_id", F.col("delivery_date").cast("string")).isin(resent) if resent else F.lit(False)
    )
    resent_outcome = F.when(F.col("outcome") == "silver", F.lit("duplicate")).otherwise(F.col("outcome"))

    def copy(n: int, name: str, outcome: Column) -> Column:
        return F.struct(F.lit(n).alias("copy"), F.lit(name).alias("part"), outcome.alias("outcome"))

    copies = F.array_compact(
        F.array(
            copy(0, part, F.col("outcome")),
            F.when(is_dup, copy(1, part, F.lit("duplicate"))),
            F.when(again, copy(0, RESEND_PART, resent_outcome)),
            F.when(again & is_dup, copy(1, RESEND_PART, F.lit("duplicate"))),
        )
    )
    return (
        rows.select("*", F.explode(copies).alias("_copy"))
        .withColumn("copy", F.col("_copy.copy"))
        .withColumn("part", F.col("_copy.part"))
        .withColumn("outcome", F.col("_copy.outcome"))
        .drop("_copy")
    )


def invalid_code_tenants(roster: DataFrame, rate: float, seed: int) -> DataFrame:
    """Extra roster rows with a mistyped credit code (wrong check character), for tenants with no activity."""
    picked = roster.filter(uniform(seed, "bad_code", F.col("rid")) < rate)
    last = F.substring("credit_code", 18, 1)
    wrong = F.substring(
        F.lit(credit_code.CHARSET),
        F.pmod(F.instr(F.lit(credit_code.CHARSET), last) + F.pmod("rid", F.lit(29)), F.lit(31)) + 1,
        1,
    )
    return (
        picked.select(
            *[c for c in roster.columns if c not in ("tenant_id", "credit_code", "rid")],
            F.concat(F.split("tenant_id", "-").getItem(0), F.lit("-x"), F.split("tenant_id", "-").getItem(1)).alias(
                "tenant_id"
            ),
            F.concat(F.substring("credit_code", 1, 17), wrong).alias("credit_code"),
            F.xxhash64(F.col("rid"), F.lit("bad_code")).alias("rid"),
        )
        .select(*roster.columns)
        .withColumn("drift", F.lit(None).cast("string"))
        .withColumn("fault", F.lit("none"))
        .withColumn("outcome", F.lit("invalid_credit_code"))
    )
